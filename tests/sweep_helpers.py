"""Shared by the sweep tests: a tiny base config, sweep files, and stopping processes by PID."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import yaml

# Two conv channels on 400 digits: an epoch takes a few ms (batch 32) or ~35 ms (batch 2).
BASE = """
seed: 0
data: {dataset: digits, limit: 400, val_split: 0.2, test_split: 0.25}
model:
  layers:
    - {type: conv1d, channels: 4, kernel: 3, stride: 2, padding: same}
    - {type: relu}
    - {type: flatten}
    - {type: dense, units: 10}
optimizer: {type: adam, lr: 0.01}
train: {epochs: 2, batch_size: 32}
output: {runs_dir: RUNS, plots: false}
"""


def write_sweep(folder: Path, body: str, base: str = BASE) -> Path:
    """``folder/base.yaml`` and ``folder/sweep.yaml`` (``config: base.yaml``); runs go to
    ``folder/runs``."""
    (folder / "base.yaml").write_text(textwrap.dedent(base).replace("RUNS", str(folder / "runs")))
    path = folder / "sweep.yaml"
    path.write_text("config: base.yaml\n" + textwrap.dedent(body))
    return path


def read_trials(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "trials.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def metric_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def learned(run_dir: Path) -> list[dict[str, str]]:
    """A run's per-epoch results without the timing columns (those differ run to run)."""
    return [
        {k: v for k, v in row.items() if k not in ("epoch_seconds", "samples_per_s")}
        for row in metric_rows(run_dir)
    ]


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def epochs_done(run_dir: Path) -> int:
    try:
        return len(metric_rows(run_dir))
    except OSError:
        return 0


def stop_process(process: subprocess.Popen, group: bool = False) -> None:
    """Stop a process this test started (its own process group when ``group``), by PID."""
    if process.poll() is None:
        try:
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        except ProcessLookupError:
            pass
    process.wait(timeout=30)


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
