"""The training loop: bit-for-bit resume, interrupts, divergence, early stopping, signals."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conv1d_cli.errors import ConfigError, TrainingDiverged, TrainingInterrupted
from conv1d_cli.rundir.checkpoints import load_checkpoint
from conv1d_cli.training.progress import SilentReporter
from conv1d_cli.training.setup import FinishedRun, run_training, setup_training

TIMING = ("epoch_seconds", "samples_per_s")


class StopAfter(SilentReporter):
    """Requests a stop (as Ctrl-C would) after a given number of optimizer steps."""

    def __init__(self, steps: int, signal_number: int = signal.SIGINT) -> None:
        self.remaining = steps
        self.signal_number = signal_number
        self.trainer = None

    def step(self, batches_done, loss, accuracy, samples_per_s):
        self.remaining -= 1
        if self.remaining == 0:
            self.trainer.request_stop(self.signal_number)


def _weights(run: Path) -> dict[str, np.ndarray]:
    return load_checkpoint(run / "checkpoints" / "last.safetensors").model_state


def _rows(run: Path) -> list[dict[str, str]]:
    import csv

    with (run / "metrics.csv").open() as handle:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(handle)]


@pytest.mark.parametrize("stop_after_steps", [3, 8, 10])  # mid-epoch, and at an epoch's end
def test_interrupted_run_resumes_bit_for_bit(tiny_config, stop_after_steps):
    overrides = ["train.epochs=3", "data.shift=1", "data.noise=0.05"]
    reference = setup_training(tiny_config, overrides, name="reference")
    run_training(reference)

    reporter = StopAfter(stop_after_steps, signal.SIGTERM)
    setup = setup_training(tiny_config, overrides, name="interrupted", reporter=reporter)
    reporter.trainer = setup.trainer
    with pytest.raises(TrainingInterrupted) as info:
        run_training(setup)
    assert info.value.exit_code == 143
    assert "conv1d train --resume" in str(info.value)
    run = setup.trainer.run_dir
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"

    resumed = setup_training(None, resume=run)
    assert not isinstance(resumed, FinishedRun)
    assert run_training(resumed).status == "completed"

    ref_run = reference.trainer.run_dir
    want, got = _weights(ref_run), _weights(run)
    assert set(want) == set(got)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert _rows(run) == _rows(ref_run)


def test_divergence_stops_with_exit_3_and_keeps_the_last_good_checkpoint(tiny_config):
    setup = setup_training(tiny_config, ["train.epochs=3"])
    trainer = setup.trainer
    real_forward = trainer.loss_fn.forward
    calls = {"n": 0}

    def exploding(logits, labels):
        calls["n"] += 1
        return float("nan") if calls["n"] > 12 else real_forward(logits, labels)

    trainer.loss_fn.forward = exploding
    with pytest.raises(TrainingDiverged) as info:
        run_training(setup)
    assert info.value.exit_code == 3
    assert "optimizer.lr" in str(info.value)
    summary = json.loads((trainer.run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged"
    last = load_checkpoint(trainer.run_dir / "checkpoints" / "last.safetensors")
    assert last.meta["epoch"] == 1  # the epoch before the NaN
    assert all(np.isfinite(a).all() for a in last.model_state.values())


def test_early_stopping_stops_and_records_status(tiny_config):
    overrides = [
        "train.epochs=30",
        "train.early_stopping={patience: 1, min_delta: 1.0}",  # nothing improves by 1.0
    ]
    result = run_training(setup_training(tiny_config, overrides))
    assert result.status == "early_stopped"
    assert result.summary["epochs_completed"] == 2
    again = setup_training(None, resume=result.run_dir)
    assert isinstance(again, FinishedRun)


def test_monitor_must_exist(tiny_config):
    with pytest.raises(ConfigError, match="output.monitor"):
        setup_training(tiny_config, ["data.val_split=0"])
    assert not (tiny_config.parent / "runs").exists()  # nothing created for a bad config


def test_monitor_on_training_loss_without_validation(tiny_config):
    result = run_training(
        setup_training(tiny_config, ["data.val_split=0", "output.monitor=train_loss"])
    )
    assert result.summary["best"]["metric"] == "train_loss"
    assert result.summary["final"]["val_acc"] is None


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _start(config: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "conv1d_cli", "train", str(config), "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_sigint_saves_last_and_prints_the_resume_command(tiny_config):
    proc = _start(tiny_config, "--set", "train.epochs=200", "--set", "data.limit=1000")
    run = tiny_config.parent / "runs" / "tiny"
    assert _wait_for(lambda: (run / "checkpoints" / "last.safetensors").exists(), 60)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"conv1d train --resume {run}" in err
    assert load_checkpoint(run / "checkpoints" / "last.safetensors").meta["epoch"] >= 1


def test_sigkill_at_random_moments_leaves_a_loadable_checkpoint(tiny_config):
    rng = random.Random(1234)
    for attempt in range(3):
        name = f"killed{attempt}"
        proc = _start(tiny_config, "--name", name, "--set", "train.epochs=4")
        run = tiny_config.parent / "runs" / name
        _wait_for(lambda run=run: (run / "metrics.csv").exists(), 60)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.kill()
        proc.communicate(timeout=60)
        last = run / "checkpoints" / "last.safetensors"
        if not last.exists():  # killed before the first epoch ended: nothing to resume
            continue
        epoch = load_checkpoint(last).meta["epoch"]
        assert 1 <= epoch <= 4
        leftovers = [p.name for p in (run / "checkpoints").iterdir() if p.suffix == ".tmp"]
        del leftovers  # a temp file may remain after SIGKILL; it never replaces a checkpoint
        resumed = setup_training(None, resume=run)
        if isinstance(resumed, FinishedRun):
            continue
        assert run_training(resumed).status == "completed"
        assert load_checkpoint(last).meta["epoch"] == 4
