"""Data-parallel training: every batch split between processes, gradients summed in shared memory.

The engine (``conv1d_cli.nn``) knows nothing of processes; this package uses its extension points
(see ``nn/__init__``): ``BatchNorm1d.allreduce``, ``Dropout.draw_keep`` and in-place parameter
and gradient arrays.

- ``dataparallel``: ``DataParallel``: the worker processes, the step, errors and shutdown.
- ``shared``: parameters and gradients of every process as views of one shared block.
- ``exchange``: batchnorm's per-channel totals summed across processes (semaphores).
- ``wire``: the messages between processes (no pickle) and how a process waits.
- ``alloc``: keep freed memory in the process between steps (glibc ``mallopt``).
"""
