"""Where trials run. Every executor has one small interface: ``submit(job) -> handle``,
``poll(handle) -> exit code or None``, ``stop(handle)`` (ask the trial to save and exit) and
``close()``. A trial is always one ``conv1d train`` process writing an ordinary run directory.

This module holds the job description, the function that runs one trial (locally, or as a Dask
task on a worker), and the local executor. Dask and SLURM are in ``conv1d_cli.sweep.cluster``.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from conv1d_cli.errors import RunInUse

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
TASK_LOST = -1000  # poll: the executor lost the task itself (no exit code is negative this far)


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs to run one trial; plain strings, so it travels to Dask workers."""

    name: str  # trial-003
    config: str  # the trial's full config file (absolute)
    sweep_dir: str  # the runs folder of the trial (absolute): the run dir is sweep_dir/name
    cwd: str  # the driver's working directory (relative data paths in configs)
    log: str  # conv1d train's output goes here (appended)
    stop_file: str  # when this file appears, the trial is asked to stop (Dask, SLURM)

    @property
    def run_dir(self) -> Path:
        return Path(self.sweep_dir) / self.name


class Executor(Protocol):
    slots: int  # trials at once

    def submit(self, job: TrialJob) -> Any: ...
    def poll(self, handle: Any) -> int | None: ...
    def stop(self, handle: Any) -> None: ...
    def close(self) -> None: ...


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_env(threads: int) -> dict[str, str]:
    """The BLAS/OpenMP thread variables for a trial that may use ``threads`` cores."""
    return {name: str(max(1, threads)) for name in THREAD_VARIABLES}


def train_argv(job: TrialJob) -> list[str]:
    """``conv1d train`` arguments: a fresh run, or ``--resume`` when a checkpoint exists.

    A run directory without a checkpoint was stopped before its first epoch ended: it holds no
    result, so it is removed and the trial starts again (``conv1d train`` would otherwise pick
    the name ``trial-003-2``), unless a live process holds its run lock.
    """
    from conv1d_cli.rundir.lock import holder_alive

    run_dir = job.run_dir
    if (run_dir / "checkpoints" / "last.safetensors").is_file():
        return ["train", "--resume", str(run_dir), "--quiet"]
    if run_dir.is_dir() and not any(run_dir.glob("checkpoints/*.safetensors")):
        if holder_alive(run_dir) is not False:  # still starting in another process (or host)
            raise RunInUse(f"{run_dir} is in use by another conv1d train; not starting it twice")
        shutil.rmtree(run_dir)
    return ["train", job.config, "--name", job.name, "--runs-dir", job.sweep_dir, "--quiet"]


def _die_with_parent() -> None:
    """In the child: SIGTERM when the process that started it dies (a killed Dask worker or
    driver), so the trial saves a checkpoint and exits instead of running on as an orphan."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: orphans are possible, but nothing else changes
        pass


def start_trial(job: TrialJob, threads: int) -> subprocess.Popen:
    """Start ``conv1d train`` for the job in its own session (a terminal's Ctrl-C reaches only
    the driver, which then stops each trial itself)."""
    argv = [sys.executable, "-m", "conv1d_cli", *train_argv(job)]
    env = {**os.environ, **thread_env(threads)}
    Path(job.log).parent.mkdir(parents=True, exist_ok=True)
    with open(job.log, "a") as log:
        log.write(f"$ {' '.join(argv[1:])}\n")
        log.flush()
        return subprocess.Popen(
            argv,
            cwd=job.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )


def run_trial_task(job: TrialJob, threads: int | None = None) -> int:
    """Run one trial to its end and return ``conv1d train``'s exit code (a Dask task).

    Rerun after a worker died, it resumes the run from its last checkpoint. The stop file is
    how a driver on another machine asks the trial to stop: it gets SIGTERM, saves, exits 143.
    """
    if threads is None:
        threads = _worker_threads()
    process = start_trial(job, threads)
    stop_file, stopping = Path(job.stop_file), False
    while True:
        try:
            return process.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            if not stopping and stop_file.exists():
                process.send_signal(signal.SIGTERM)
                stopping = True


def _worker_threads() -> int:
    """On a Dask worker: its cores shared among the trials it runs at once (its threads)."""
    try:
        from distributed import get_worker

        return max(1, cores() // max(1, get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return 1


class LocalExecutor:
    """A pool of ``conv1d train`` processes on this machine: workers x BLAS threads <= cores."""

    def __init__(self, workers: int) -> None:
        self.slots = max(1, workers)
        self.threads = max(1, cores() // self.slots)

    def submit(self, job: TrialJob) -> subprocess.Popen:
        return start_trial(job, self.threads)

    def poll(self, handle: subprocess.Popen) -> int | None:
        return handle.poll()

    def stop(self, handle: subprocess.Popen) -> None:
        if handle.poll() is None:
            handle.send_signal(signal.SIGTERM)

    def close(self) -> None:
        pass
