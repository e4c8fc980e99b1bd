"""What a run leaves on disk, written so that nothing a user made is overwritten or corrupt.

- ``layout``: run directory names, the writable check, where a checkpoint's run is, versions.
- ``metrics_log``: the per-epoch ``metrics.csv``, appended a row at a time.
- ``checkpoints``: weights, optimizer state and config in one safetensors file, save/load.
- ``atomic``: atomic, umask-honouring writes, and storage errors as one line.
- ``lock``: one writer per run directory (``run.lock``, flock-based, stale-lock takeover).
- ``status``: every status a run can have, and what each means.
- ``listing``: ``conv1d runs`` rows (status, data, epochs, best, test accuracy or RMSE/R²).
- ``compare``: ``conv1d runs compare``: the runs' table, config differences per key, the PNG.
"""
