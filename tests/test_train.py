"""The training loop: bit-for-bit resume, interrupts, divergence, early stopping, signals."""

from __future__ import annotations

import json
import random
import signal
import time

import numpy as np
import pytest
from run_helpers import StopAfter, rows, start, wait_while_running, weights

from conv1d_cli.errors import ConfigError, TrainingDiverged, TrainingInterrupted
from conv1d_cli.rundir.checkpoints import load_checkpoint
from conv1d_cli.training.setup import FinishedRun, run_training, setup_training


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
    want, got = weights(ref_run), weights(run)
    assert set(want) == set(got)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert rows(run) == rows(ref_run)


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
        setup_training(tiny_config, ["data.val_split=0", "output.monitor=val_acc"])
    assert not (tiny_config.parent / "runs").exists()  # nothing created for a bad config


def test_monitor_on_training_loss_without_validation(tiny_config):
    result = run_training(
        setup_training(tiny_config, ["data.val_split=0", "output.monitor=train_loss"])
    )
    assert result.summary["best"]["metric"] == "train_loss"
    assert result.summary["final"]["val_acc"] is None


def test_sigint_saves_last_and_prints_the_resume_command(tiny_config):
    proc = start(tiny_config, "--set", "train.epochs=200", "--set", "data.limit=1000")
    run = tiny_config.parent / "runs" / "tiny"
    wait_while_running(proc, lambda: (run / "checkpoints" / "last.safetensors").exists(), 60)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"conv1d train --resume {run}" in err
    assert load_checkpoint(run / "checkpoints" / "last.safetensors").meta["epoch"] >= 1


def test_sigkill_at_random_moments_leaves_a_loadable_checkpoint(tiny_config):
    """Three runs at once (their imports overlap), each killed at a random moment after its
    training started; whatever each left behind loads and resumes to the end."""
    rng = random.Random(1234)
    runs_dir = tiny_config.parent / "runs"
    names = [f"killed{attempt}" for attempt in range(3)]
    delays = {name: rng.uniform(0.0, 0.6) for name in names}
    epochs4 = ("--set", "train.epochs=4")
    pending = {name: start(tiny_config, "--name", name, *epochs4) for name in names}
    started: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while pending:
        now = time.monotonic()
        for name, proc in list(pending.items()):
            if name not in started and (runs_dir / name / "metrics.csv").exists():
                started[name] = now
            if name in started and now >= started[name] + delays[name]:
                proc.kill()
                proc.communicate(timeout=60)
                del pending[name]
            elif proc.poll() is not None and name not in started:
                raise AssertionError(f"{name} ended before training: {proc.communicate()[1]}")
        if now > deadline:
            for proc in pending.values():
                proc.kill()
                proc.communicate(timeout=60)
            raise AssertionError(f"{sorted(pending)} never started training")
        time.sleep(0.01)
    for name in names:
        run = runs_dir / name
        last = run / "checkpoints" / "last.safetensors"
        if not last.exists():  # killed before the first epoch ended: nothing to resume
            continue
        epoch = load_checkpoint(last).meta["epoch"]
        assert 1 <= epoch <= 4
        # a temp file may remain after SIGKILL; it never replaces a checkpoint
        resumed = setup_training(None, resume=run)
        if isinstance(resumed, FinishedRun):
            continue
        assert run_training(resumed).status == "completed"
        assert load_checkpoint(last).meta["epoch"] == 4
