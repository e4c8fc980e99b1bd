"""The learning-rate finder (``conv1d lr-find``) and ``optimizer.lr: auto`` (issue 24, item 1)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from run_helpers import StopAfter, weights
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config, resolve_config
from conv1d_cli.data import load_dataset
from conv1d_cli.errors import ConfigError, TrainingInterrupted
from conv1d_cli.estimator import Conv1dClassifier
from conv1d_cli.training.lrauto import with_lr
from conv1d_cli.training.lrfind import find_lr, plot_sweep, smooth, suggest_valley
from conv1d_cli.training.schedules import ExponentialLR
from conv1d_cli.training.setup import run_training, settle_task, setup_training

LINEAR = """
name: linear
seed: 0
data: {path: PATH, val_split: 0.0, test_split: 0.2, normalize: none}
model:
  layers:
    - {type: flatten}
    - {type: dense}
optimizer: {type: sgd, lr: 0.01}
train: {epochs: 1, batch_size: 32, dtype: float64}
"""


def _sweep_of(config, overrides=()):
    cfg = resolve_config(config, list(overrides))
    data = load_dataset(cfg.data, cfg.seed, task=cfg.task)
    cfg = settle_task(cfg, data.task, len(data.y_val) > 0)
    return cfg, data, find_lr(cfg, data)


def test_exponential_schedule_grows_by_one_factor_per_step():
    schedule = ExponentialLR(1e-6, 1.0, 7)
    rates = np.array([schedule.lr_at(s) for s in range(9)])
    np.testing.assert_allclose(rates[:7], 10.0 ** np.arange(-6, 1), rtol=1e-12)
    assert rates[7] == rates[8] == rates[6]  # held after the sweep
    with pytest.raises(ValueError, match="end_lr"):
        ExponentialLR(1.0, 0.1, 5)


def test_suggestion_on_least_squares_lies_below_the_stable_bound(tmp_path):
    """Linear regression by SGD on mean squared error: the loss's Hessian is H = 2 X'X / n
    (X with a column of ones for the bias), and gradient descent diverges above 2 / lambda_max
    of H. The suggestion must be a rate that trains: below that bound, and not so far below
    that it barely moves (within 30x)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 1, 8))
    y = x[:, 0, :] @ rng.normal(size=8) + 0.5 + 0.1 * rng.normal(size=600)
    np.savez(tmp_path / "linear.npz", x=x, y=y)
    config = tmp_path / "linear.yaml"
    config.write_text(LINEAR.replace("PATH", str(tmp_path / "linear.npz")))
    _, data, sweep = _sweep_of(config)
    assert data.task == "regression"
    features = np.hstack(
        [data.x_train.reshape(len(data.x_train), -1), np.ones((len(data.x_train), 1))]
    )
    hessian = 2.0 * features.T @ features / len(features)
    bound = 2.0 / np.linalg.eigvalsh(hessian).max()
    assert sweep.diverged  # the sweep went past the bound and stopped there
    assert sweep.lrs[-1] > bound
    assert bound / 30 <= sweep.suggested_lr <= bound
    # ... and a run at the suggestion learns: the test loss falls far below the targets' variance
    setup = setup_training(config, [f"optimizer.lr={sweep.suggested_lr}"], runs_dir=str(tmp_path))
    assert run_training(setup).summary["test"]["loss"] < 0.05


def test_valley_rule_takes_two_thirds_down_the_longest_descent():
    lrs = 10.0 ** np.linspace(-6, 0, 31)
    loss = np.concatenate(
        [np.full(10, 2.0), np.linspace(2.0, 0.5, 16)[1:], [0.6, 1.0, 3.0, 9.0, 20.0, 50.0]]
    )
    assert len(loss) == len(lrs)
    # the longest descent ends at index 24 (0.5) and is 16 long (from the last 2.0); fastai
    # counts its start as 24 - 16 = 8 and steps 16 // 3 + (16 / 3) // 2 = 5 + 2 further down
    assert suggest_valley(lrs, loss) == lrs[8 + 5 + 2]
    np.testing.assert_allclose(smooth([1.0, 1.0, 1.0]), 1.0, rtol=1e-12)  # bias-corrected


def test_sweep_writes_nothing_and_leaves_no_trace_in_a_run(tiny_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(app, ["lr-find", str(tiny_config), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"suggested_lr"}
    assert 1e-7 < payload["suggested_lr"] < 10
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no runs/ folder, no picture
    again = CliRunner().invoke(app, ["lr-find", str(tiny_config), "--json"])
    assert json.loads(again.stdout) == payload  # seeded: the same sweep every time


def test_picture_renders_with_the_suggestion(tiny_config, tmp_path):
    from matplotlib.image import imread

    out = tmp_path / "lr.png"
    result = CliRunner().invoke(app, ["lr-find", str(tiny_config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "suggested lr:" in result.stdout
    image = imread(out)
    assert image.shape[0] > 200 and image.shape[1] > 300
    _, _, sweep = _sweep_of(tiny_config)
    plot_sweep(sweep, tmp_path / "direct.png")  # the function itself, without the command
    assert (tmp_path / "direct.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_sweep_settings_are_one_line(tiny_config):
    result = CliRunner().invoke(
        app, ["lr-find", str(tiny_config), "--start-lr", "1", "--end-lr", "0.1"]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: lr-find: start rate 1 must be > 0 and < 0.1"
    cfg = resolve_config(tiny_config, [])
    data = load_dataset(cfg.data, cfg.seed)
    with pytest.raises(ConfigError, match="diverged after"):
        find_lr(settle_task(cfg, data.task, True), data, start_lr=1e3, end_lr=1e9)


def test_lr_auto_is_recorded_and_trains_as_if_written_in(tiny_config, tmp_path):
    auto = run_training(setup_training(tiny_config, ["optimizer.lr=auto"], name="auto"))
    run = auto.run_dir
    stored = load_config(run / "config.yaml")
    lr = stored.optimizer.lr
    assert isinstance(lr, float) and lr == float(f"{lr:.3g}")
    _, _, sweep = _sweep_of(tiny_config)
    assert lr == float(f"{sweep.suggested_lr:.3g}")  # the same sweep the command shows
    summary = json.loads((run / "summary.json").read_text())
    assert summary["lr_auto"]["suggested_lr"] == lr
    assert summary["lr_auto"]["batches"] == sweep.batches
    line = f"lr auto: suggested {lr:g} from a sweep of {sweep.batches} batches"
    assert (run / "train.log").read_text().splitlines()[0] == line
    written = run_training(setup_training(tiny_config, [f"optimizer.lr={lr}"], name="written"))
    a, b = weights(run), weights(written.run_dir)
    assert a.keys() == b.keys()
    for key in a:  # the sweep drew nothing from the run's generator: bit for bit the same
        np.testing.assert_array_equal(a[key], b[key])


def test_resume_keeps_the_settled_rate(tiny_config, tmp_path):
    whole = run_training(setup_training(tiny_config, ["optimizer.lr=auto"], name="whole"))
    setup = setup_training(tiny_config, ["optimizer.lr=auto"], name="cut", reporter=StopAfter(3))
    setup.trainer.reporter.trainer = setup.trainer
    with pytest.raises(TrainingInterrupted):
        run_training(setup)
    cut = setup.trainer.run_dir
    # given the config again (it says auto): the run's own number, not a second sweep
    resumed = setup_training(tiny_config, ["optimizer.lr=auto"], resume=cut)
    assert resumed.cfg.optimizer.lr == setup.cfg.optimizer.lr
    run_training(resumed)
    for key, value in weights(whole.run_dir).items():
        np.testing.assert_array_equal(weights(cut)[key], value)
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["lr_auto"]["suggested_lr"] == setup.cfg.optimizer.lr


def test_onecycle_peaks_at_the_settled_rate(tiny_config):
    setup = setup_training(tiny_config, ["optimizer.lr=auto", "schedule.type=onecycle"])
    try:
        assert setup.trainer.schedule.max_lr == setup.cfg.optimizer.lr != "auto"
    finally:
        setup.lock.release()


def test_estimator_settles_auto_like_train(tiny_config):
    _, data, _ = _sweep_of(tiny_config)
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    overrides = {"optimizer.lr": "auto", "train.epochs": 1, "data.val_split": 0.0}
    model = Conv1dClassifier(config=str(tiny_config), overrides=overrides).fit(x, y)
    lr = model.model_.config.optimizer.lr
    assert isinstance(lr, float) and 1e-7 < lr < 10
    fixed = Conv1dClassifier(config=str(tiny_config), overrides={**overrides, "optimizer.lr": lr})
    np.testing.assert_array_equal(fixed.fit(x, y).predict_proba(x), model.predict_proba(x))


def test_with_lr_keeps_everything_else(tiny_config):
    cfg = resolve_config(tiny_config, [])
    changed = with_lr(cfg, 0.5)
    assert changed.optimizer.lr == 0.5 and changed.optimizer.type == cfg.optimizer.type
    assert changed.model_copy(update={"optimizer": cfg.optimizer}) == cfg


def test_config_accepts_auto_and_positive_numbers_only(tiny_config):
    assert resolve_config(tiny_config, ["optimizer.lr=auto"]).optimizer.lr == "auto"
    with pytest.raises(ConfigError, match=r"optimizer.lr.*expected a number > 0 or one of: auto"):
        resolve_config(tiny_config, ["optimizer.lr=fast"])
