"""Shared by the training tests: a run's weights and metric rows, a stop requested after a given
number of steps, and `conv1d train` as a real process (for signals, kill -9 and workers)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from conv1d_cli.rundir.checkpoints import load_checkpoint
from conv1d_cli.training.progress import SilentReporter

TIMING = ("epoch_seconds", "samples_per_s")


class StopAfter(SilentReporter):
    """Requests a stop (as Ctrl-C would) after a given number of optimizer steps; set
    ``trainer`` before training."""

    def __init__(self, steps: int, signal_number: int = signal.SIGINT) -> None:
        self.remaining = steps
        self.signal_number = signal_number
        self.trainer = None

    def step(self, batches_done, loss, score, samples_per_s):
        self.remaining -= 1
        if self.remaining == 0:
            self.trainer.request_stop(self.signal_number)


def weights(run: Path) -> dict[str, np.ndarray]:
    """The model state of a run's last checkpoint, by parameter name."""
    return load_checkpoint(run / "checkpoints" / "last.safetensors").model_state


def rows(run: Path) -> list[dict[str, str]]:
    """A run's metrics.csv rows without the timing columns (those differ run to run)."""
    with (run / "metrics.csv").open() as handle:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(handle)]


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """True as soon as ``predicate()`` is, False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def start(config: Path, *args: str) -> subprocess.Popen:
    """``conv1d train CONFIG --quiet ARGS`` as a real process, stdout and stderr piped; no
    curves.png (no caller looks at it, and importing matplotlib is half a second a process)."""
    command = ["train", str(config), "--quiet", "--set", "output.plots=false", *args]
    return subprocess.Popen(
        [sys.executable, "-m", "conv1d_cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def wait_while_running(proc: subprocess.Popen, predicate: Callable[[], bool], timeout: float):
    """Wait for ``predicate()`` while ``proc`` runs; a process that ends first (or a timeout)
    fails the test at once with the process's stderr, instead of waiting out the timeout."""
    ended = lambda: proc.poll() is not None  # noqa: E731
    if wait_for(lambda: predicate() or ended(), timeout) and predicate():
        return
    if ended():
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"the process ended (exit {proc.returncode}) first:\n{err}")
    proc.kill()
    proc.communicate(timeout=30)
    raise AssertionError(f"timed out after {timeout} s")
