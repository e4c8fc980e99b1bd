"""Sweeps on Dask: an existing scheduler (``address``), a worker killed mid-trial, and SLURM
through dask-jobqueue with fake ``sbatch``/``squeue``/``scancel`` scripts on PATH.

Everything listens on 127.0.0.1 only; every process a test starts is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from tests.sweep_helpers import (
    epochs_done,
    kill_group,
    learned,
    read_trials,
    stop_process,
    wait_for,
    write_sweep,
)

pytest.importorskip("distributed")
runner = CliRunner()


@pytest.fixture(scope="session")
def dask_scheduler():
    """A Dask cluster in this process (scheduler and one 2-thread worker) on 127.0.0.1."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    yield cluster.scheduler_address
    cluster.close()


def test_sweep_on_a_dask_cluster_by_address(tmp_path, dask_scheduler):
    path = write_sweep(
        tmp_path,
        f"""
        name: on-dask
        method: bayes
        run_cap: 2
        metric: {{name: test_acc}}
        parameters:
          optimizer.lr: {{distribution: log_uniform, min: 0.003, max: 0.03}}
        executor: {{type: dask, address: "{dask_scheduler}"}}
        """,
    )
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 at once on dask" in result.stderr
    sweep_dir = tmp_path / "runs" / "on-dask"
    trials = read_trials(sweep_dir)
    assert [(t["status"], t["epochs"]) for t in trials] == [("completed", "2")] * 2
    for trial in trials:  # TPE's choices, within the space; the metric is the test accuracy
        assert 0.003 <= float(trial["optimizer.lr"]) <= 0.03
        summary = json.loads((sweep_dir / trial["trial"] / "summary.json").read_text())
        assert abs(float(trial["test_acc"]) - summary["test"]["accuracy"]) < 1e-6
    assert (sweep_dir / "best.yaml").is_file() and (sweep_dir / "metric.png").is_file()


def test_unreachable_scheduler_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr("conv1d_cli.sweep.cluster.CONNECT_SECONDS", 1)
    path = write_sweep(
        tmp_path,
        """
        parameters: {optimizer.lr: {value: 0.01}}
        executor: {type: dask, address: "tcp://127.0.0.1:9"}
        """,
    )
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: executor.address tcp://127.0.0.1:9: cannot reach a Dask scheduler there "
        "(OSError); start one with: dask scheduler"
    ]


WORKER_ARGS = ("--nthreads", "1", "--no-nanny", "--host", "127.0.0.1", "--dashboard-address")


def _start_worker(address: str, log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                address,
                *WORKER_ARGS,
                "127.0.0.1:0",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_a_worker_killed_mid_trial_resumes_elsewhere_with_equal_results(tmp_path):
    from distributed import LocalCluster

    workers: list[subprocess.Popen] = []
    sweep_dir = tmp_path / "runs" / "killed"
    with LocalCluster(
        n_workers=0,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        path = write_sweep(
            tmp_path,
            f"""
            name: killed
            parameters:
              train.epochs: {{value: 30}}
              train.batch_size: {{value: 2}}
            executor: {{type: dask, address: "{cluster.scheduler_address}", workers: 1}}
            """,
        )

        def kill_then_replace() -> None:
            # once the first worker holds the trial, a second one starts (and waits idle)
            wait_for(lambda: (sweep_dir / "trial-000").is_dir(), 120, "the trial to start")
            workers.append(_start_worker(cluster.scheduler_address, tmp_path / "worker-2.log"))
            wait_for(lambda: epochs_done(sweep_dir / "trial-000") >= 2, 120, "two epochs")
            workers[0].kill()  # SIGKILL: the worker dies mid-trial, its trial saves and exits
            workers[0].wait(timeout=30)

        workers.append(_start_worker(cluster.scheduler_address, tmp_path / "worker-1.log"))
        killer = threading.Thread(target=kill_then_replace)
        killer.start()
        try:
            result = runner.invoke(app, ["sweep", str(path)])
        finally:
            killer.join()
            for worker in workers:
                stop_process(worker)
    assert result.exit_code == 0, result.output
    trial = read_trials(sweep_dir)[0]
    assert (trial["status"], trial["epochs"]) == ("completed", "30")
    log = (sweep_dir / "logs" / "trial-000.log").read_text()
    assert log.count("$ ") == 2 and f"train --resume {sweep_dir / 'trial-000'}" in log
    assert not list(sweep_dir.glob("trial-*-2"))
    # the same trial, never interrupted
    reference = runner.invoke(
        app,
        ["train", str(sweep_dir / "configs" / "trial-000.yaml"), "-q", "--runs-dir", str(tmp_path)],
    )
    assert reference.exit_code == 0, reference.output
    assert learned(sweep_dir / "trial-000") == learned(tmp_path / "trial-000")
    resumed, plain = (
        json.loads((folder / "trial-000" / "summary.json").read_text())
        for folder in (sweep_dir, tmp_path)
    )
    assert resumed["test"] == plain["test"] and resumed["best"] == plain["best"]


FAKE_SBATCH = """#!/bin/bash
# Stands in for SLURM's sbatch: runs the job script in a session of its own, prints a job id.
dir="$FAKE_SLURM_DIR"; mkdir -p "$dir"
id=$(( $(ls "$dir" | grep -c '[.]sh$') + 1001 ))
cp "${@: -1}" "$dir/$id.sh"
setsid bash "$dir/$id.sh" > "$dir/$id.out" 2>&1 < /dev/null &
echo $! > "$dir/$id.pid"
echo "Submitted batch job $id"
"""
FAKE_SCANCEL = """#!/bin/bash
for id in "$@"; do
  if [ -f "$FAKE_SLURM_DIR/$id.pid" ]; then
    kill -TERM -- "-$(cat "$FAKE_SLURM_DIR/$id.pid")" 2>/dev/null
    echo "$id" >> "$FAKE_SLURM_DIR/cancelled"
  fi
done
"""
FAKE_SQUEUE = """#!/bin/bash
echo "JOBID PARTITION NAME USER ST TIME NODES"
for f in "$FAKE_SLURM_DIR"/*.pid; do
  [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && echo "$(basename "$f" .pid) q dask R 0:01 1"
done
"""


def test_slurm_executor_through_fake_sbatch(tmp_path, monkeypatch):
    pytest.importorskip("dask_jobqueue")
    bin_dir, jobs = tmp_path / "bin", tmp_path / "slurm-jobs"
    bin_dir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("scancel", FAKE_SCANCEL), ("squeue", FAKE_SQUEUE)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(jobs))
    path = write_sweep(
        tmp_path,
        """
        name: on-slurm
        parameters:
          optimizer.lr: {values: [0.01]}
        executor: {type: slurm, queue: debug, walltime: "00:10:00", cores: 1, memory: 1GB,
                   jobs: 1, interface: lo, dashboard_address: "127.0.0.1:0"}
        """,
    )
    try:
        result = runner.invoke(app, ["sweep", str(path)])
    finally:
        for pid_file in jobs.glob("*.pid"):
            kill_group(int(pid_file.read_text()))
    assert result.exit_code == 0, result.output
    trials = read_trials(tmp_path / "runs" / "on-slurm")
    assert [(t["status"], t["epochs"]) for t in trials] == [("completed", "2")]
    script = (jobs / "1001.sh").read_text()
    assert "#SBATCH -p debug" in script and "#SBATCH -t 00:10:00" in script
    assert "distributed.cli.dask_worker tcp://127.0.0.1:" in script
    assert "--dashboard-address 127.0.0.1:0" in script
    assert (jobs / "cancelled").read_text().split() == ["1001"]  # the driver's close: scancel


def test_a_task_the_cluster_cannot_run_is_lost_not_failed(tmp_path, dask_scheduler):
    from distributed import Client

    from conv1d_cli.sweep.cluster import DaskExecutor
    from conv1d_cli.sweep.executors import TASK_LOST, TrialJob

    job = TrialJob(
        name="trial-000",
        config=str(tmp_path / "c.yaml"),
        sweep_dir=str(tmp_path),
        cwd=str(tmp_path / "not-on-this-worker"),  # the worker cannot even start the trial
        log=str(tmp_path / "trial-000.log"),
        stop_file=str(tmp_path / ".stop" / "trial-000"),
    )
    executor = DaskExecutor(Client(dask_scheduler), 1)
    try:
        handle = executor.submit(job)
        wait_for(lambda: executor.poll(handle) is not None, 60, "the task to end")
        assert executor.poll(handle) == TASK_LOST
        assert executor.error(handle).startswith("FileNotFoundError")
    finally:
        executor.close()
