"""``train.cv_folds``: k-fold cross-validation chooses the epochs (training/epochs_cv.py).

The one-standard-error rule on hand-made held-out losses, the regression head starting at the
training mean, the folds, and whole runs: a recorded choice that re-running config.yaml
reproduces, pure noise that keeps the training mean, ``train.epochs: 0``, refused fold counts
and ``--resume``'s settled epochs.
"""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from conv1d_cli.build.class_weights import run_loss
from conv1d_cli.build.objects import build_model, build_network, start_at_mean
from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config, load_config_dict
from conv1d_cli.data import Dataset, load_dataset
from conv1d_cli.rundir.checkpoints import load_checkpoint
from conv1d_cli.task import TASKS
from conv1d_cli.training import epochs_cv
from conv1d_cli.training.epochs_cv import choose_epoch, fold_indices, resume_epochs
from conv1d_cli.training.report import evaluate
from conv1d_cli.training.schedules import CosineLR

runner = CliRunner()
LENGTH = 32


# --------------------------------------------------------------------------- data and runs
def _sines(n: int, rng: np.random.Generator, *, noise_target: bool = False):
    """(x (n, LENGTH) float32, y (n,)): noisy sines of 1-5 cycles; y is the frequency, or
    (noise_target) a uniform draw independent of x."""
    cycles = rng.uniform(1.0, 5.0, n)
    t = np.arange(LENGTH) / LENGTH
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.sin(2 * np.pi * cycles[:, None] * t + phase) + rng.normal(0, 0.2, (n, LENGTH))
    y = rng.uniform(1.0, 5.0, n) if noise_target else cycles
    return x.astype(np.float32), y


def _write_regression(path: Path, *, noise_target=False, n_train=60, n_test=20) -> Path:
    rng = np.random.default_rng(8 if noise_target else 3)
    x, y = _sines(n_train, rng, noise_target=noise_target)
    x_test, y_test = _sines(n_test, rng, noise_target=noise_target)
    np.savez(path, x=x, y=y, x_test=x_test, y_test=y_test)
    return path


def _write_classes(path: Path, n_train: int = 24, n_test: int = 12) -> Path:
    """Two classes: 2 or 4 cycles (integer labels: a classification file)."""
    rng = np.random.default_rng(5)
    t = np.arange(LENGTH) / LENGTH

    def draw(n):
        kind = np.arange(n) % 2
        x = np.sin(2 * np.pi * (2 + 2 * kind)[:, None] * t) + rng.normal(0, 0.3, (n, LENGTH))
        return x.astype(np.float32), kind

    x, y = draw(n_train)
    x_test, y_test = draw(n_test)
    np.savez(path, x=x, y=y, x_test=x_test, y_test=y_test)
    return path


def _config(tmp_path: Path, data: Path, *, epochs: int, lr: float = 0.1, train: str = "") -> Path:
    path = tmp_path / "cv.yaml"
    path.write_text(
        textwrap.dedent(f"""
        seed: 0
        data: {{path: {data}, val_split: 0, normalize: standardize}}
        model:
          layers:
            - {{type: conv1d, channels: 8, kernel: 5, padding: same}}
            - {{type: relu}}
            - {{type: globalavgpool1d}}
            - {{type: dense}}
        optimizer: {{type: adam, lr: {lr}}}
        schedule: {{type: cosine}}
        train: {{epochs: {epochs}, batch_size: 16, workers: 1{train}}}
        output: {{runs_dir: {tmp_path / "runs"}, plots: false}}
        """)
    )
    return path


def _invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _train(config: Path, *sets: str, runs_dir: Path | None = None) -> Path:
    """Train ``config`` with ``--set`` overrides; the run directory."""
    args = ["train", config, "--quiet", "--json"]
    for setting in sets:
        args += ["--set", setting]
    if runs_dir is not None:
        args += ["--runs-dir", runs_dir]
    result = _invoke(*args)
    assert result.exit_code == 0, result.output + result.stderr
    return Path(json.loads(result.stdout)["run_dir"])


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def _saved_config(run: Path) -> dict:
    return yaml.safe_load((run / "config.yaml").read_text())


def _metric_rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _state(run: Path, which: str = "best") -> dict[str, np.ndarray]:
    return load_checkpoint(run / "checkpoints" / f"{which}.safetensors").model_state


def _eval(target: Path) -> dict:
    result = _invoke("eval", target, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


# ------------------------------------------------------------------------ choose_epoch
def test_a_clear_improvement_takes_the_first_epoch_within_one_standard_error():
    losses = np.array(
        [
            [1.00, 1.00, 1.00, 1.00],  # epoch 0, mean 1.00
            [0.80, 0.80, 0.80, 0.80],  # mean 0.80
            [0.70, 0.30, 0.45, 0.35],  # mean 0.45
            [0.30, 0.50, 0.40, 0.40],  # mean 0.40: the best
            [0.45, 0.55, 0.45, 0.35],  # mean 0.45
        ]
    )
    # Paired differences to epoch 3 (standard error = std(ddof=1) / sqrt(4)):
    #   epoch 0: [.7 .5 .6 .6]    mean .60, SE sqrt(.02/3)/2 = .041 -> not within
    #   epoch 1: [.5 .3 .4 .4]    mean .40, SE .041                 -> not within
    #   epoch 2: [.4 -.2 .05 -.05] mean .05, SE sqrt(.195/3)/2 = .127 -> within: chosen
    assert choose_epoch(losses, 0) == (2, 3)


def test_a_clear_improvement_far_below_epoch_0_is_taken():
    # Every series improves by 0.5 +- 0.01 at epoch 3: the paired SE is tiny, the mean diff
    # of epochs 0-2 to epoch 3 is 0.5, 0.3, 0.1: only epoch 3 itself is within.
    base = np.ones(6)
    spread = np.array([0.01, -0.01, 0.0, 0.005, -0.005, 0.0])
    losses = np.stack([base, base - 0.2, base - 0.4 + spread, base - 0.5 + spread])
    assert choose_epoch(losses, 0) == (3, 3)


def test_a_noisy_improvement_keeps_epoch_0():
    losses = np.array(
        [
            [1.00, 1.00, 1.00, 1.00],  # mean 1.00
            [0.50, 1.50, 0.60, 1.20],  # mean 0.95: the best, but noisy
            [1.10, 1.10, 1.10, 1.10],  # mean 1.10
        ]
    )
    # Epoch 0 - epoch 1: [.5 -.5 .4 -.2], mean .05, SE sqrt(.69/3)/2 = .24: within -> 0.
    assert choose_epoch(losses, 0) == (0, 1)


def test_the_standard_error_is_the_sample_standard_deviations():
    # Epoch 0 - epoch 1: [1, 0, 0, -.05], mean .2375; deviations [.7625 -.2375 -.2375 -.2875],
    # squares sum .7769: SE with n - 1 = sqrt(.7769 / 3) / 2 = .2544 >= .2375 -> within;
    # with n it would be sqrt(.7769 / 4) / 2 = .2204 < .2375 (epoch 1 chosen).
    losses = np.array([[1.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.55]])
    assert choose_epoch(losses, 0) == (0, 1)


def test_first_1_never_returns_epoch_0():
    # Epoch 0 is the lowest of all; from epoch 1 on, epoch 2 is the best (mean .5) and epoch 1
    # (mean .9, diffs [.4 .4 .4], SE 0) is not within.
    losses = np.array([[0.1, 0.1, 0.1], [0.9, 0.9, 0.9], [0.5, 0.5, 0.5], [0.7, 0.7, 0.7]])
    assert choose_epoch(losses, 0) == (0, 0)
    assert choose_epoch(losses, 1) == (2, 2)
    # An epoch 0 within one SE of the best is still never taken with first=1.
    noisy = np.array([[0.5, 0.6, 0.4], [0.9, 0.1, 0.5], [0.8, 0.8, 0.8]])
    assert choose_epoch(noisy, 0)[0] == 0
    chosen, best = choose_epoch(noisy, 1)
    assert (chosen, best) == (1, 1)


def test_ties_choose_the_earliest_epoch():
    row = np.array([0.4, 0.6, 0.5])
    losses = np.stack([row + 1.0, row, row, row + 0.3])  # epochs 1 and 2 tie
    assert choose_epoch(losses, 0) == (1, 1)
    # One series: no standard error; the earliest epoch with the lowest loss.
    single = np.array([[2.0], [1.0], [1.0], [3.0]])
    assert choose_epoch(single, 0) == (1, 1)


def _id_dataset(task: str, n: int = 20) -> Dataset:
    """Series whose one value is their row number (a stub can tell which are held out)."""
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1)
    if task == "regression":
        y = np.linspace(-1, 1, n, dtype=np.float32)[:, None]
    else:
        y = np.arange(n) % 2
    return Dataset(
        x_train=x, y_train=y, x_val=x[:0], y_val=y[:0], x_test=x[:2], y_test=y[:2],
        class_names=() if task == "regression" else ("a", "b"),
        normalization={"method": "none"}, description="ids", task=task,
        target_names=("target",) if task == "regression" else (),
    )  # fmt: skip


def _stub_fold_losses(monkeypatch, per_epoch: np.ndarray) -> list:
    """fold_losses returns ``per_epoch[e] + row / 1000`` for each held-out row; the calls."""
    calls = []

    def fake(cfg, fold, deadline=None):
        rows = fold.x_val[:, 0, 0].astype(int)
        calls.append((cfg, rows, len(fold.y_train)))
        return per_epoch[:, None] + rows[None, :] / 1000

    monkeypatch.setattr(epochs_cv, "fold_losses", fake)
    return calls


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_cross_validation_pools_every_held_out_series(monkeypatch, task):
    per_epoch = np.array([0.1, 0.9, 0.5, 0.7])  # epoch 0 lowest
    calls = _stub_fold_losses(monkeypatch, per_epoch)
    cfg = _net_cfg(train={"epochs": 3, "early_stopping": {"patience": 1}})
    data = _id_dataset(task)
    cv = epochs_cv.cross_validate_epochs(cfg, data, 4)
    assert len(calls) == 4
    held = np.sort(np.concatenate([rows for _, rows, _ in calls]))
    assert np.array_equal(held, np.arange(20))  # each series held out once
    assert all(n_train == 15 for _, _, n_train in calls)
    for fold_cfg, _, _ in calls:  # the folds train every epoch, without early stopping
        assert fold_cfg.train.early_stopping is None and fold_cfg.train.cv_folds == 0
        assert fold_cfg.output.monitor == "train_loss" and fold_cfg.train.epochs == 3
    # Pooled: the epoch's loss plus the mean row number / 1000 (9.5 / 1000).
    np.testing.assert_allclose(cv.held_out_loss, per_epoch + 0.0095, rtol=1e-12)
    assert (cv.folds, cv.max_epochs) == (4, 3)
    # Regression may keep the training mean (epoch 0); classification trains at least 1 epoch.
    expected = (0, 0) if task == "regression" else (2, 2)
    assert (cv.chosen, cv.best) == expected
    record = cv.record()
    assert record["chosen_epochs"] == expected[0] and len(record["held_out_loss"]) == 4


# ------------------------------------------------------------------------ start_at_mean
def _net_cfg(head: str = "{type: dense}", train: dict | None = None):
    return load_config_dict(
        {
            "seed": 0,
            "model": {
                "layers": [
                    {"type": "conv1d", "channels": 4, "kernel": 3, "padding": "same"},
                    {"type": "relu"},
                    {"type": "flatten"},
                    yaml.safe_load(head),
                ]
            },
            "train": {"workers": 1, **(train or {})},
        },
        "test",
    )


def _fake_data(task: str, y_train: np.ndarray, n_outputs: int) -> SimpleNamespace:
    names = tuple(f"t{i}" for i in range(n_outputs)) if task == "regression" else ()
    classes = tuple(f"c{i}" for i in range(n_outputs)) if task != "regression" else ()
    return SimpleNamespace(
        task=task,
        y_train=y_train,
        n_outputs=n_outputs,
        target_names=names,
        class_names=classes,
        sample_shape=(2, 16),
    )


def test_a_regression_network_predicts_its_training_mean_before_training():
    rng = np.random.default_rng(1)
    y_train = rng.normal([0.3, -1.2], [1.0, 2.0], size=(25, 2)).astype(np.float32)
    cfg = _net_cfg()
    model = build_network(cfg, _fake_data("regression", y_train, 2), np.random.default_rng(0))
    x = rng.normal(0, 3, (7, 2, 16)).astype(np.float32)
    mean = y_train.astype(np.float64).mean(axis=0)
    for mode in (model.eval, model.train):
        mode()
        out = model.forward(x)
        assert out.shape == (7, 2)
        np.testing.assert_allclose(out, np.broadcast_to(mean, (7, 2)), rtol=1e-6, atol=1e-7)
    # Only the head changed: the layers before it are build_model's for the same seed.
    plain = build_model(cfg.model, (2, 16), 2, np.random.default_rng(0))
    state, built = model.state_dict(), plain.state_dict()
    assert state.keys() == built.keys()
    head = [k for k in state if k.startswith(f"{len(model) - 1}.")]
    assert sorted(head) == ["3.W", "3.b"]
    assert not np.any(state["3.W"]) and np.any(built["3.W"])
    for key in state.keys() - set(head):
        np.testing.assert_array_equal(state[key], built[key])


def test_a_classification_network_is_build_models():
    y_train = np.array([0, 1, 2, 1, 0, 2])
    cfg = _net_cfg()
    model = build_network(cfg, _fake_data("classification", y_train, 3), np.random.default_rng(4))
    plain = build_model(cfg.model, (2, 16), 3, np.random.default_rng(4))
    state, built = model.state_dict(), plain.state_dict()
    assert state.keys() == built.keys()
    for key in state:
        np.testing.assert_array_equal(state[key], built[key])
    assert np.any(state["3.W"])  # the head kept its random init


def test_a_head_without_a_bias_keeps_its_initial_weights():
    cfg = _net_cfg("{type: dense, bias: false}")
    model = build_model(cfg.model, (2, 16), 1, np.random.default_rng(0))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    start_at_mean(model, np.array([[5.0], [7.0]], np.float32))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


# ----------------------------------------------------------------------------- fold_indices
def test_classification_folds_are_stratified():
    y = np.repeat([0, 1, 2], [5, 8, 12])
    data = SimpleNamespace(task="classification", y_train=y)
    folds = fold_indices(data, 5, seed=0)
    assert len(folds) == 5
    held = np.concatenate([h for _, h in folds])
    assert np.array_equal(np.sort(held), np.arange(len(y)))
    for train_rows, held_rows in folds:
        assert set(y[held_rows]) == {0, 1, 2}
        assert not set(train_rows) & set(held_rows)
        # Stratified: a class of 5 has exactly one series in each of 5 folds.
        assert np.count_nonzero(y[held_rows] == 0) == 1


def test_a_class_rarer_than_the_folds_falls_back_to_plain_folds():
    y = np.array([0] * 12 + [1] * 2)  # class 1 cannot be in each of 3 folds
    folds = fold_indices(SimpleNamespace(task="classification", y_train=y), 3, seed=0)
    held = np.concatenate([h for _, h in folds])
    assert np.array_equal(np.sort(held), np.arange(len(y)))


def test_regression_folds_partition_the_rows():
    y = np.linspace(0, 1, 23)[:, None].astype(np.float32)
    data = SimpleNamespace(task="regression", y_train=y)
    folds = fold_indices(data, 5, seed=3)
    assert len(folds) == 5
    counts = np.zeros(len(y), int)
    for train_rows, held_rows in folds:
        counts[held_rows] += 1
        assert np.array_equal(np.sort(np.concatenate([train_rows, held_rows])), np.arange(23))
        assert len(held_rows) in (4, 5)
    assert np.all(counts == 1)
    # Contiguous blocks in the file's order (time order, when the file has one), whatever
    # the seed: the first fold holds rows 0-4, the last the final rows.
    again = fold_indices(data, 5, seed=4)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    assert np.array_equal(folds[0][1], np.arange(5))
    assert np.array_equal(folds[-1][1], np.arange(19, 23))


# ----------------------------------------------------------------------------- whole runs
def test_cross_validation_chooses_the_epochs_and_config_yaml_reproduces_them(tmp_path):
    data = _write_regression(tmp_path / "sig.npz")
    config = _config(tmp_path, data, epochs=20)
    run = _train(config)
    cv = _summary(run)["epochs_cv"]
    chosen = cv["chosen_epochs"]
    assert cv["folds"] == 5 and cv["max_epochs"] == 20
    assert len(cv["held_out_loss"]) == 21
    # Real signal: the network beats the training mean on held-out series.
    assert 1 <= chosen <= 20 and 1 <= cv["best_epoch"] <= 20
    assert cv["held_out_loss"][chosen] < 0.5 * cv["held_out_loss"][0]
    saved = _saved_config(run)
    assert saved["train"]["epochs"] == chosen
    assert saved["train"]["cv_folds"] == 0
    assert saved["schedule"]["epochs"] == 20  # the folds' decay span
    rows = _metric_rows(run)
    assert [int(r["epoch"]) for r in rows] == list(range(1, chosen + 1))
    # The last epoch's rate is the 20-epoch cosine's (4 steps an epoch), not a chosen-epoch one.
    expected_lr = CosineLR(0.1, total_steps=20 * 4).lr_at(chosen * 4 - 1)
    assert float(rows[-1]["lr"]) == pytest.approx(expected_lr, rel=1e-6, abs=1e-12)

    again = _train(run / "config.yaml", runs_dir=tmp_path / "again")
    assert "epochs_cv" not in _summary(again)
    assert _saved_config(again)["train"] == saved["train"]
    first, second = _state(run), _state(again)
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_allclose(second[key], first[key], rtol=1e-6, atol=1e-7)


def test_pure_noise_keeps_the_training_mean(tmp_path):
    # On noise the one-standard-error rule keeps the mean for most draws, not all: a network
    # that barely moves can be better by a hair on every held-out series (with contiguous folds
    # seed 7 chose 3 epochs, seeds 8, 9 and 11 chose 0). This draw tests the mean's path.
    data = _write_regression(tmp_path / "noise.npz", noise_target=True)
    run = _train(_config(tmp_path, data, epochs=10))
    summary = _summary(run)
    assert summary["epochs_cv"]["chosen_epochs"] == 0
    assert summary["best"]["epoch"] == 0 and summary["epochs_completed"] == 0
    assert _saved_config(run)["train"]["epochs"] == 0
    assert _metric_rows(run) == []
    for which in ("best", "last"):
        assert (run / "checkpoints" / f"{which}.safetensors").is_file()
    arrays = np.load(data)
    mean_rmse = np.sqrt(np.mean((arrays["y_test"] - arrays["y"].mean()) ** 2))
    scores = _eval(run)
    assert scores["epoch"] == 0
    assert scores["rmse"] == pytest.approx(mean_rmse, rel=1e-5)
    assert summary["test"]["rmse"] == pytest.approx(mean_rmse, rel=1e-5)
    last = _eval(run / "checkpoints" / "last.safetensors")
    assert last["rmse"] == pytest.approx(mean_rmse, rel=1e-5)


def test_zero_epochs_keeps_the_untrained_classifier(tmp_path):
    data = _write_classes(tmp_path / "two.npz")
    run = _train(_config(tmp_path, data, epochs=0))
    summary = _summary(run)
    assert summary["epochs_completed"] == 0 and summary["best"]["epoch"] == 0
    assert "epochs_cv" not in summary
    assert _metric_rows(run) == []
    best, last = _state(run, "best"), _state(run, "last")
    # The network as the config's seed builds it, not one step of training.
    cfg = load_config(run / "config.yaml")
    dataset = load_dataset(cfg.data, cfg.seed, task=cfg.task)
    model = build_network(cfg, dataset, np.random.default_rng(cfg.seed))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(best[key], value)
        np.testing.assert_array_equal(last[key], value)
    expected = evaluate(
        model, run_loss(cfg, dataset), dataset.x_test, dataset.y_test, 1000,
        TASKS["classification"],
    )  # fmt: skip
    scores = _eval(run)
    assert scores["epoch"] == 0 and scores["n"] == 12
    assert scores["loss"] == pytest.approx(expected.loss, rel=1e-5)
    assert scores["accuracy"] == pytest.approx(expected.scores["acc"])


def _refused(result) -> str:
    assert result.exit_code == 2, result.output + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_too_few_series_for_the_folds_is_refused(tmp_path):
    data = _write_regression(tmp_path / "nine.npz", n_train=9, n_test=5)
    config = _config(tmp_path, data, epochs=2)
    line = _refused(_invoke("train", config, "--quiet", "--set", "train.cv_folds=5"))
    assert "train.cv_folds" in line
    assert "at least 10 training" in line and "has 9" in line  # what is needed, what there is
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    # auto needs two series per fold: 9 series train without cross-validation.
    run = _train(config)
    assert "epochs_cv" not in _summary(run)
    assert _saved_config(run)["train"]["epochs"] == 2


def test_one_fold_is_refused(tmp_path):
    data = _write_regression(tmp_path / "sig.npz")
    config = _config(tmp_path, data, epochs=2)
    line = _refused(_invoke("train", config, "--quiet", "--set", "train.cv_folds=1"))
    assert "train.cv_folds" in line


def test_auto_does_no_cross_validation_on_classes_or_with_a_validation_split(tmp_path):
    classes = _config(tmp_path, _write_classes(tmp_path / "two.npz"), epochs=2)
    run = _train(classes)
    assert "epochs_cv" not in _summary(run)
    assert _saved_config(run)["train"]["cv_folds"] == "auto"
    assert len(_metric_rows(run)) == 2

    regression = _config(tmp_path, _write_regression(tmp_path / "sig.npz"), epochs=2)
    run = _train(regression, "data.val_split=0.2")
    assert "epochs_cv" not in _summary(run)
    assert len(_metric_rows(run)) == 2


def test_asked_folds_on_classes_never_choose_epoch_0(tmp_path):
    classes = _config(tmp_path, _write_classes(tmp_path / "two.npz"), epochs=3)
    run = _train(classes, "train.cv_folds=3")
    cv = _summary(run)["epochs_cv"]
    assert cv["folds"] == 3 and len(cv["held_out_loss"]) == 4
    assert 1 <= cv["chosen_epochs"] <= 3
    assert _saved_config(run)["train"]["epochs"] == cv["chosen_epochs"]


# --------------------------------------------------------------------------------- resume
def _stored_and_given(**given_train) -> tuple:
    layers = [
        {"type": "conv1d", "channels": 2, "kernel": 3},
        {"type": "flatten"},
        {"type": "dense"},
    ]
    base = {"seed": 0, "model": {"layers": layers}, "schedule": {"type": "cosine"}}
    stored = load_config_dict(
        {
            **base,
            "schedule": {"type": "cosine", "epochs": 20},
            "train": {"epochs": 14, "cv_folds": 0, "max_minutes": None},
        },
        "stored",
    )
    given = load_config_dict({**base, "train": {"epochs": 20, **given_train}}, "given")
    return stored, given


def test_resume_with_a_config_still_asking_for_folds_takes_the_settled_epochs():
    stored, given = _stored_and_given(cv_folds="auto")
    resumed = resume_epochs(given, stored)
    assert resumed.train.epochs == 14 and resumed.train.cv_folds == 0
    assert resumed.train.max_minutes is None
    assert resumed.schedule == stored.schedule and resumed.schedule.epochs == 20
    # A budget still asked for: the same.
    stored, given = _stored_and_given(cv_folds=0, max_minutes=5)
    resumed = resume_epochs(given, stored)
    assert (resumed.train.epochs, resumed.train.max_minutes) == (14, None)
    assert resumed.schedule.epochs == 20


def test_resume_with_the_runs_own_settings_changes_nothing():
    stored, given = _stored_and_given(cv_folds=0)
    given = given.model_copy(update={"train": given.train.model_copy(update={"epochs": 30})})
    assert resume_epochs(given, stored) is given  # more epochs asked for: kept
    assert resume_epochs(stored, stored) is stored
