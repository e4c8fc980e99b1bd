from conv1d_cli.cli import main

main()
