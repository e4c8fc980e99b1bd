"""Trials on a Dask cluster (``executor: {type: dask, address}``) or on SLURM through
dask-jobqueue (``type: slurm``). Each trial is one Dask task that runs one ``conv1d train``
process on a worker, into the runs folder every worker shares with the driver.

A worker that dies mid-trial: the scheduler gives the task to another worker, where it finds
the trial's checkpoint and runs ``conv1d train --resume`` (exact: the final metrics are those
of an uninterrupted run). ``distributed`` and ``dask_jobqueue`` are imported only here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conv1d_cli.errors import Conv1dError
from conv1d_cli.sweep.executors import TASK_LOST, TrialJob, run_trial_task
from conv1d_cli.sweep.spec import DaskExecutorSpec, SlurmExecutorSpec

DASK_MISSING = 'executor type dask needs Dask: pip install "conv1d-cli[dask]"'
SLURM_MISSING = 'executor type slurm needs dask-jobqueue: pip install "conv1d-cli[slurm]"'
CONNECT_SECONDS = 10


@dataclass
class DaskHandle:
    job: TrialJob
    future: Any


class DaskExecutor:
    """Trials as Dask tasks; ``stop`` writes the job's stop file (the task signals its trial)."""

    def __init__(self, client: Any, slots: int, cluster: Any = None) -> None:
        self.client, self.cluster, self.slots = client, cluster, max(1, slots)

    def submit(self, job: TrialJob) -> DaskHandle:
        Path(job.stop_file).unlink(missing_ok=True)
        future = self.client.submit(
            run_trial_task, job, key=f"{job.name}-{uuid.uuid4().hex[:8]}", pure=False
        )
        return DaskHandle(job, future)

    def poll(self, handle: DaskHandle) -> int | None:
        future = handle.future
        if not future.done():
            return None
        if future.status == "finished":
            return int(future.result())
        return TASK_LOST  # the task itself failed (e.g. its workers kept dying: KilledWorker)

    def stop(self, handle: DaskHandle) -> None:
        stop_file = Path(handle.job.stop_file)
        stop_file.parent.mkdir(parents=True, exist_ok=True)
        stop_file.touch()

    def error(self, handle: DaskHandle) -> str | None:
        """Why a task failed (its exception in one line), or None."""
        future = handle.future
        if future.done() and future.status != "finished":
            exc = future.exception()
            return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
        return None

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def dask_executor(spec: DaskExecutorSpec, workers: int | None) -> DaskExecutor:
    """Connect to the scheduler at ``spec.address``: one line naming the address if it fails."""
    try:
        from distributed import Client
    except ImportError:
        raise Conv1dError(DASK_MISSING) from None
    try:
        client = Client(spec.address, timeout=f"{CONNECT_SECONDS}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise Conv1dError(
            f"executor.address {spec.address}: cannot reach a Dask scheduler there "
            f"({type(exc).__name__}); start one with: dask scheduler"
        ) from None
    slots = workers or spec.workers or sum(client.nthreads().values()) or 1
    return DaskExecutor(client, slots)


def slurm_executor(spec: SlurmExecutorSpec, workers: int | None, log_dir: Path) -> DaskExecutor:
    """Start a Dask scheduler here and ``jobs`` SLURM jobs of one worker each (``sbatch``)."""
    try:
        from dask_jobqueue import SLURMCluster
        from distributed import Client
    except ImportError:
        raise Conv1dError(SLURM_MISSING) from None
    options: dict[str, Any] = {}
    if spec.queue:
        options["queue"] = spec.queue
    try:
        cluster = SLURMCluster(
            cores=spec.cores,
            processes=1,
            memory=spec.memory,
            walltime=spec.walltime,
            interface=spec.interface,
            log_directory=str(log_dir),
            scheduler_options={"dashboard_address": spec.dashboard_address},
            # a worker's own status pages stay on its node's loopback
            worker_extra_args=["--dashboard-address", "127.0.0.1:0"],
            **options,
        )
        cluster.scale(jobs=spec.jobs)
    except (OSError, RuntimeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise Conv1dError(f"executor type slurm: cannot start SLURM jobs: {first}") from None
    client = Client(cluster)
    return DaskExecutor(client, workers or spec.workers or spec.jobs * spec.cores, cluster)
