"""``conv1d sweep``: hyperparameter search as a driver plus executors.

``spec`` reads the sweep file, ``plan`` validates every trial config, ``search`` picks trials
(grid, random, Optuna TPE and pruners), ``executors``/``cluster`` run them (local processes,
Dask, SLURM), ``driver`` ties these together, ``sweepdir`` keeps the sweep's folder and state,
``report`` writes what a sweep leaves, and ``commands`` prints a dry run and a sweep's result.
"""
