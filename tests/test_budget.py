"""``train.max_minutes``: the epochs and folds that fit a time budget (training/budget.py).

The plan is checked with hand-made speeds (nothing here depends on how fast this machine is):
the seconds it estimates, the most epochs that fit, folds given up 5 -> 3 -> 2 -> 0, the probe of
one process against several, and a whole run whose config.yaml records what fitted.
"""

from __future__ import annotations

import json
import math
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config, load_config_dict
from conv1d_cli.data import load_dataset
from conv1d_cli.training import budget, setup
from conv1d_cli.training.budget import (
    MIN_CV_EPOCHS,
    Speed,
    fit_budget,
    measure_speed,
    plan_seconds,
    process_seconds,
    settle_budget,
)

runner = CliRunner()
SPEED = Speed(batch=0.01, sample=0.001, start=0.5)
# With SPEED, 100 training, 20 validation and 30 test series and batches of 10 (by hand):
#   one epoch of the run: 10 batches * 0.01 + 20 validated * 0.001           = 0.12 s
#   fixed: (folds + 1) loop starts * 0.5 + 30 tested * 0.001                 = 0.5 (folds+1) + .03
#   each fold's epoch: ceil((100 - 100/k) / 10) batches * 0.01; all k folds add
#   their batches and 100 held-out series * 0.001 = 0.1 s:
#     k=5: 5 * 8 * 0.01 + 0.1 = 0.50 -> 0.62 s an epoch, 3.03 s fixed
#     k=3: 3 * 7 * 0.01 + 0.1 = 0.31 -> 0.43 s an epoch, 2.03 s fixed
#     k=2: 2 * 5 * 0.01 + 0.1 = 0.20 -> 0.32 s an epoch, 1.53 s fixed
PER_EPOCH = {0: 0.12, 2: 0.32, 3: 0.43, 5: 0.62}
FIXED = {0: 0.53, 2: 1.53, 3: 2.03, 5: 3.03}


def _cfg(epochs: int = 50, **train) -> object:
    return load_config_dict(
        {
            "seed": 0,
            "model": {
                "layers": [
                    {"type": "conv1d", "channels": 4, "kernel": 3, "padding": "same"},
                    {"type": "relu"},
                    {"type": "globalavgpool1d"},
                    {"type": "dense"},
                ]
            },
            "train": {"epochs": epochs, "batch_size": 10, **train},
        },
        "test",
    )


DATA = SimpleNamespace(y_train=np.zeros(100), y_val=np.zeros(20), y_test=np.zeros(30))


# --------------------------------------------------------------------------- plan_seconds
@pytest.mark.parametrize("folds", [0, 2, 3, 5])
@pytest.mark.parametrize("epochs", [0, 1, 7])
def test_plan_seconds_by_hand(folds, epochs):
    expected = FIXED[folds] + epochs * PER_EPOCH[folds]
    assert plan_seconds(_cfg(), DATA, SPEED, folds, epochs) == pytest.approx(expected, rel=1e-12)


def test_plan_seconds_without_validation_or_test_series():
    data = SimpleNamespace(y_train=np.zeros(25), y_val=np.zeros(0), y_test=np.zeros(0))
    # 3 batches of 10 (the last one short) at 0.01 s; one loop start.
    assert plan_seconds(_cfg(), data, SPEED, 0, 4) == pytest.approx(0.5 + 4 * 0.03)


# ----------------------------------------------------------------------------- fit_budget
def test_the_most_epochs_that_fit_with_every_fold():
    # 5 folds: (15.53 - 3.03) / 0.62 = 20.16 -> 20 epochs.
    assert fit_budget(_cfg(), DATA, SPEED, 5, 15.53) == (5, 20)
    # A plan that fits exactly: the epochs it plans fit the seconds given.
    folds, epochs = fit_budget(_cfg(), DATA, SPEED, 5, 15.53)
    assert plan_seconds(_cfg(), DATA, SPEED, folds, epochs) <= 15.53
    assert plan_seconds(_cfg(), DATA, SPEED, folds, epochs + 1) > 15.53


def test_folds_are_given_up_5_3_2_0_when_too_few_epochs_would_fit():
    assert MIN_CV_EPOCHS == 10
    # 8.92 s: 5 folds fit (8.92 - 3.03) / 0.62 = 9.5 -> 9 < 10; 3 folds 6.89 / 0.43 = 16.
    assert fit_budget(_cfg(), DATA, SPEED, 5, 8.92) == (3, 16)
    # 5.5 s: 5 folds 3 epochs, 3 folds 3.47 / 0.43 = 8.07 -> 8; 2 folds 3.97 / 0.32 = 12.4.
    assert fit_budget(_cfg(), DATA, SPEED, 5, 5.5) == (2, 12)
    # 3.0 s: 2 folds 1.47 / 0.32 = 4.6 -> 4; no folds: 2.47 / 0.12 = 20.6 -> 20.
    assert fit_budget(_cfg(), DATA, SPEED, 5, 3.0) == (0, 20)
    # Asked for 3 folds: 3 then 2 then none, never 5.
    assert fit_budget(_cfg(), DATA, SPEED, 3, 8.92) == (3, 16)
    assert fit_budget(_cfg(), DATA, SPEED, 3, 5.5) == (2, 12)
    # No folds asked: none planned, whatever the budget.
    assert fit_budget(_cfg(), DATA, SPEED, 0, 1000.0) == (0, 50)


def test_fewer_epochs_asked_than_min_cv_epochs_keep_the_folds():
    # 6 epochs asked: 5 folds that fit all 6 ((7.06 - 3.03) / 0.62 = 6.5) are kept.
    assert fit_budget(_cfg(epochs=6), DATA, SPEED, 5, 7.06) == (5, 6)
    # ... and 5 of 6 are too few: 3 folds fit (6.0 - 2.03) / 0.43 = 9.2 -> min(6, 9) = 6.
    assert fit_budget(_cfg(epochs=6), DATA, SPEED, 5, 6.0) == (3, 6)


def test_never_below_one_epoch_nor_above_train_epochs():
    assert fit_budget(_cfg(), DATA, SPEED, 5, 0.1) == (0, 1)
    assert fit_budget(_cfg(), DATA, SPEED, 5, -30.0) == (0, 1)  # already over budget
    assert fit_budget(_cfg(), DATA, SPEED, 5, 1e6) == (5, 50)
    assert fit_budget(_cfg(epochs=3), DATA, SPEED, 0, 1e6) == (0, 3)


# --------------------------------------------------------------------------- settle_budget
@pytest.fixture
def fixed_clock(monkeypatch):
    """budget.py's clock stands still at 1000 s: no time passes while the plan is made."""
    monkeypatch.setattr(budget, "time", SimpleNamespace(perf_counter=lambda: 1000.0))
    return 1000.0


def _speeds_by_workers(monkeypatch, speeds: dict[int, Speed]) -> list[int]:
    """measure_speed returns ``speeds[cfg.train.workers]``; the workers it was asked with."""
    asked: list[int] = []

    def fake(cfg, data):
        asked.append(cfg.train.workers)
        return speeds[cfg.train.workers]

    monkeypatch.setattr(budget, "measure_speed", fake)
    return asked


def test_settle_budget_plans_the_epochs_and_folds(monkeypatch, fixed_clock):
    asked = _speeds_by_workers(monkeypatch, {1: SPEED})
    cfg = _cfg(max_minutes=0.1, cv_folds=5, workers=1)
    notes: list[str] = []
    # 0.1 min less the 10 % reserve: 5.4 s; 2 folds fit (5.4 - 1.53) / 0.32 = 12.1 -> 12.
    settled, folds, record = settle_budget(cfg, DATA, 5, fixed_clock, notes.append)
    assert asked == [1]
    assert (folds, settled.train.epochs, settled.train.cv_folds) == (2, 12, 2)
    assert settled.train.max_minutes is None and settled.train.workers == 1
    assert settled.model_dump(exclude={"train"}) == cfg.model_dump(exclude={"train"})
    assert record == {
        "max_minutes": 0.1,
        "workers": {"asked": 1, "planned": 1},
        "seconds_per_batch": 0.01,
        "seconds_per_sample_evaluated": 0.001,
        "asked": {"epochs": 50, "cv_folds": 5},
        "planned": {"epochs": 12, "cv_folds": 2},
        "planned_minutes": round((1.53 + 12 * 0.32) / 60, 2),
    }
    assert len(notes) == 1 and "12 of 50 epochs" in notes[0] and "2 of 5" in notes[0]


def test_settle_budget_counts_the_time_already_spent(monkeypatch, fixed_clock):
    _speeds_by_workers(monkeypatch, {1: SPEED})
    cfg = _cfg(max_minutes=1, workers=1)
    # 54 s of the budget, 30.97 already spent at the start: 23.03 s; no folds asked:
    # (23.03 - 0.53) / 0.12 = 187.5 -> the 50 asked.  With 53.5 s spent: 0.5 s -> 1 epoch.
    settled, folds, _ = settle_budget(cfg, DATA, 0, fixed_clock - 30.97)
    assert (folds, settled.train.epochs) == (0, 50)
    settled, folds, record = settle_budget(cfg, DATA, 5, fixed_clock - 53.5)
    assert (folds, settled.train.epochs) == (0, 1)
    assert record["planned"] == {"epochs": 1, "cv_folds": 0}


def test_one_process_replaces_slower_workers(monkeypatch, fixed_clock):
    slow = Speed(batch=0.05, sample=0.001, start=0.5)
    asked = _speeds_by_workers(monkeypatch, {2: slow, 1: SPEED})
    notes: list[str] = []
    cfg = _cfg(max_minutes=0.1, workers=2)
    settled, folds, record = settle_budget(cfg, DATA, 5, fixed_clock, notes.append)
    assert sorted(asked) == [1, 2]
    assert settled.train.workers == 1
    assert record["workers"] == {"asked": 2, "planned": 1}
    assert record["seconds_per_batch"] == 0.01  # the plan uses the faster speed
    assert (folds, settled.train.epochs) == (2, 12)
    assert "1 process" in notes[0]


def test_faster_workers_are_kept(monkeypatch, fixed_clock):
    fast = Speed(batch=0.005, sample=0.001, start=0.5)
    _speeds_by_workers(monkeypatch, {2: fast, 1: SPEED})
    settled, _, record = settle_budget(_cfg(max_minutes=0.1, workers=2), DATA, 5, fixed_clock)
    assert settled.train.workers == 2
    assert record["workers"] == {"asked": 2, "planned": 2}
    assert record["seconds_per_batch"] == 0.005


def test_no_budget_or_no_epochs_leave_the_config_alone(monkeypatch, fixed_clock):
    asked = _speeds_by_workers(monkeypatch, {1: SPEED})
    cfg = _cfg(workers=1)
    assert settle_budget(cfg, DATA, 5, fixed_clock) == (cfg, 5, None)
    zero = _cfg(epochs=0, max_minutes=1, workers=1)
    assert settle_budget(zero, DATA, 0, fixed_clock) == (zero, 0, None)
    assert asked == []  # nothing was measured


# --------------------------------------------------------------------------- measure_speed
def _sines(n: int, seed: int):
    rng = np.random.default_rng(seed)
    cycles = rng.uniform(1.0, 5.0, n)
    t = np.arange(32) / 32
    x = np.sin(2 * np.pi * cycles[:, None] * t) + rng.normal(0, 0.2, (n, 32))
    return x.astype(np.float32), cycles


def _write_data(path: Path) -> Path:
    x, y = _sines(40, 0)
    x_test, y_test = _sines(10, 1)
    np.savez(path, x=x, y=y, x_test=x_test, y_test=y_test)
    return path


def _config(tmp_path: Path, epochs: int = 4) -> Path:
    data = _write_data(tmp_path / "freq.npz")
    path = tmp_path / "budget.yaml"
    path.write_text(
        textwrap.dedent(f"""
        seed: 0
        data: {{path: {data}, val_split: 0, normalize: standardize}}
        model:
          layers:
            - {{type: conv1d, channels: 4, kernel: 5, padding: same}}
            - {{type: relu}}
            - {{type: globalavgpool1d}}
            - {{type: dense}}
        optimizer: {{type: adam, lr: 0.01}}
        train: {{epochs: {epochs}, batch_size: 8, workers: 1}}
        output: {{runs_dir: {tmp_path / "runs"}, plots: false}}
        """)
    )
    return path


def test_measure_speed_times_a_real_network(tmp_path):
    cfg = load_config(_config(tmp_path))
    data = load_dataset(cfg.data, cfg.seed, task="auto")
    cfg = setup.settle_task(cfg, data.task, has_validation=False)
    x_before, y_before = data.x_train.copy(), data.y_train.copy()
    speed = measure_speed(cfg, data)
    assert isinstance(speed, Speed)
    assert math.isfinite(speed.batch) and speed.batch > 0
    assert math.isfinite(speed.sample) and speed.sample > 0
    assert math.isfinite(speed.start) and speed.start >= 0
    # A throwaway copy: the run's data is untouched.
    np.testing.assert_array_equal(data.x_train, x_before)
    np.testing.assert_array_equal(data.y_train, y_before)


# ------------------------------------------------------------------------------ whole runs
def _train(config: Path, *sets: str) -> Path:
    args = ["train", str(config), "--quiet", "--json"]
    for setting in sets:
        args += ["--set", setting]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output + result.stderr
    return Path(json.loads(result.stdout)["run_dir"])


def test_a_budgeted_run_records_what_fitted(tmp_path, monkeypatch):
    run = _train(_config(tmp_path, epochs=4), "train.max_minutes=5")
    summary = json.loads((run / "summary.json").read_text())
    saved = yaml.safe_load((run / "config.yaml").read_text())
    record = summary["time_budget"]
    assert record["max_minutes"] == 5
    assert record["asked"] == {"epochs": 4, "cv_folds": 5}  # auto: regression, no val split
    planned = record["planned"]
    assert saved["train"]["max_minutes"] is None
    epochs = saved["train"]["epochs"]
    assert isinstance(epochs, int) and 0 <= epochs <= planned["epochs"] <= 4
    assert saved["train"]["cv_folds"] == 0  # settled: by the folds, or none planned
    if planned["cv_folds"]:
        assert summary["epochs_cv"]["folds"] == planned["cv_folds"]
        assert summary["epochs_cv"]["chosen_epochs"] == epochs
    else:
        assert "epochs_cv" not in summary and epochs == planned["epochs"]
    assert summary["epochs_completed"] == epochs


def test_a_spent_budget_still_trains_one_epoch_without_folds(tmp_path, monkeypatch):
    # The command started a day ago (by its clock): nothing fits, one epoch is trained anyway.
    monkeypatch.setattr(budget, "COMMAND_STARTED", time.perf_counter() - 86400.0)
    run = _train(_config(tmp_path, epochs=4), "train.max_minutes=1")
    summary = json.loads((run / "summary.json").read_text())
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert summary["time_budget"]["planned"] == {"epochs": 1, "cv_folds": 0}
    assert "epochs_cv" not in summary
    assert saved["train"]["epochs"] == 1 and saved["train"]["cv_folds"] == 0
    assert saved["train"]["max_minutes"] is None
    assert summary["epochs_completed"] == 1


def test_a_run_past_its_deadline_ends_inside_the_epoch(tmp_path):
    """A machine slower than planned: the loop's deadline ends the epoch after the batch that
    crossed it, and the run after that epoch (completed, stopped_by_time_budget recorded)."""
    from conv1d_cli.rundir.checkpoints import load_checkpoint

    prepared = setup.setup_training(_config(tmp_path, epochs=3), ["train.cv_folds=0"])
    prepared.trainer.deadline = time.perf_counter() - 1.0  # already past
    result = setup.run_training(prepared)
    summary = result.summary
    assert summary["status"] == "completed" and summary["epochs_completed"] == 1
    assert summary["stopped_by_time_budget"] == {"epoch": 1, "of": 3}
    last = load_checkpoint(result.run_dir / "checkpoints" / "last.safetensors")
    assert last.meta["state"]["step"] == 1  # one batch of the epoch's several
    assert len(prepared.data.y_train) > prepared.cfg.train.batch_size


# --------------------------------------------------------------------------- process_seconds
def test_process_seconds_is_this_process_age():
    age = process_seconds()
    assert 0 <= age < 1e6
    assert process_seconds() >= age  # the clock does not run backwards
