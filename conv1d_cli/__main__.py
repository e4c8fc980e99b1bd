from conv1d_cli.cli.app import main

main()
