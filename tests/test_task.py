"""The task objects: regression losses against finite differences, metrics against
scikit-learn, targets standardized with the training split and stored, auto task choice."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

from conv1d_cli import nn
from conv1d_cli.config import DataConfig, load_config_dict
from conv1d_cli.data.dataset import RawData
from conv1d_cli.data.prepare import prepare
from conv1d_cli.errors import ConfigError, DataError
from conv1d_cli.task import TASKS, add_tallies, higher_is_better
from conv1d_cli.training.setup import settle_task

LOSSES = {
    "mse": (nn.MeanSquaredError(), lambda e: e**2),
    "mae": (nn.MeanAbsoluteError(), np.abs),
    "huber": (
        nn.HuberLoss(delta=0.7),
        lambda e: np.where(np.abs(e) <= 0.7, 0.5 * e**2, 0.7 * (np.abs(e) - 0.35)),
    ),
}


@pytest.mark.parametrize("name", LOSSES)
def test_regression_loss_value_and_gradient(name):
    loss, direct = LOSSES[name]
    rng = np.random.default_rng(1)
    outputs, targets = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    assert loss.forward(outputs, targets) == pytest.approx(direct(outputs - targets).mean())
    grad = loss.backward()
    numeric = np.zeros_like(outputs)
    h = 1e-6
    for index in np.ndindex(outputs.shape):
        up, down = outputs.copy(), outputs.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (loss.forward(up, targets) - loss.forward(down, targets)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_huber_matches_mse_halved_inside_delta():
    rng = np.random.default_rng(2)
    outputs, targets = rng.normal(size=(5, 2)) * 0.1, np.zeros((5, 2))
    half_mse = nn.MeanSquaredError().forward(outputs, targets) / 2
    assert nn.HuberLoss(delta=1.0).forward(outputs, targets) == pytest.approx(half_mse)


def test_regression_scores_match_scikit_learn_in_original_units():
    rng = np.random.default_rng(3)
    truth = rng.normal(10.0, 3.0, size=(50, 2))
    predicted = truth + rng.normal(0.0, 1.0, size=truth.shape)
    scaling = {"mean": [10.0, 9.0], "std": [3.0, 2.5]}
    task = TASKS["regression"]
    mean, std = np.asarray(scaling["mean"]), np.asarray(scaling["std"])
    standardized = ((predicted - mean) / std, (truth - mean) / std)
    tally: dict = {}
    for part in (slice(0, 17), slice(17, 50)):  # tallies of batches add up
        add_tallies(tally, task.tally(standardized[0][part], standardized[1][part], scaling))
    scores = task.scores(tally, 50, scaling)
    assert scores["rmse"] == pytest.approx(root_mean_squared_error(truth, predicted), rel=1e-10)
    assert scores["mae"] == pytest.approx(mean_absolute_error(truth, predicted), rel=1e-10)
    assert scores["r2"] == pytest.approx(r2_score(truth, predicted), rel=1e-10)


def test_metric_directions():
    assert higher_is_better("val_acc") and higher_is_better("train_r2")
    assert not higher_is_better("val_rmse") and not higher_is_better("test_loss")


def _raw(y, **kw):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(len(y), 1, 16)).astype(np.float32)
    return RawData(x, np.asarray(y), None, None, origin="test.npz", **kw)


def test_float_targets_pick_regression_and_are_standardized_with_the_training_split():
    y = np.linspace(100.0, 200.0, 40) + 0.5
    data = prepare(_raw(y), DataConfig(val_split=0.25, test_split=0.25), 0)
    assert data.task == "regression" and data.n_outputs == 1
    assert data.y_train.shape == (len(data.y_train), 1) and data.y_train.dtype == np.float32
    scaling = data.target_scaling
    back = data.y_train[:, 0].astype(np.float64) * scaling["std"][0] + scaling["mean"][0]
    assert scaling["mean"][0] == pytest.approx(back.mean(), rel=1e-6)
    assert scaling["std"][0] == pytest.approx(back.std(), rel=1e-5)
    assert np.isin(np.round(back, 3), np.round(y, 3)).all()  # the samples' own targets
    assert "1 target (regression)" in data.description
    # evaluation applies the stored scaling, not statistics of its own split
    stored = {"mean": [0.0], "std": [2.0]}
    again = prepare(_raw(y), DataConfig(val_split=0.25, test_split=0.25), 0, task="regression",
                    target_scaling=stored)  # fmt: skip
    assert again.target_scaling == stored
    undone = again.y_test[:, 0].astype(np.float64) * 2.0
    assert np.abs(undone[:, None] - y[None, :]).min(axis=1).max() < 1e-4  # float32 of ~200


def test_whole_number_targets_classify_unless_told():
    y = np.repeat([0, 1, 2], 10)
    assert prepare(_raw(y), DataConfig(val_split=0.2), 0).task == "classification"
    told = prepare(_raw(y.astype(float)), DataConfig(val_split=0.2), 0, task="regression")
    assert told.task == "regression" and told.target_names == ("target",)


def test_several_target_columns_give_several_outputs():
    y = np.random.default_rng(5).normal(size=(30, 2))
    data = prepare(_raw(y), DataConfig(val_split=0.2), 0)
    assert data.task == "regression" and data.n_outputs == 2
    assert data.target_names == ("target_0", "target_1")


def test_a_file_that_says_regression_is_regression():
    data = prepare(_raw(np.arange(30) * 1.0, task_hint="regression"), DataConfig(), 0)
    assert data.task == "regression"


def test_names_are_not_regression_targets():
    with pytest.raises(DataError, match="test.npz: targets must be numbers for task regression"):
        prepare(_raw(np.array(["a", "b"] * 10)), DataConfig(), 0, task="regression")


BASE = {"model": {"layers": [{"type": "globalavgpool1d"}, {"type": "dense"}]}}


def test_auto_settles_to_the_tasks_loss_and_monitor():
    cfg = load_config_dict(BASE, "test")
    settled = settle_task(cfg, "regression", has_validation=True)
    assert (settled.task, settled.loss.type, settled.output.monitor) == (
        "regression",
        "mse",
        "val_rmse",
    )
    assert settle_task(cfg, "classification", False).output.monitor == "train_loss"
    assert settle_task(cfg, "classification", True).loss.type == "cross_entropy"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["loss.type=mse"], "loss.type: mse does not fit task classification"),
        (["output.monitor=val_rmse"], "output.monitor: val_rmse does not fit task classification"),
        (["loss.type=huber", "loss.label_smoothing=0.1"], "loss.label_smoothing: applies to"),
    ],
)
def test_settings_of_the_other_task_are_refused(overrides, message):
    cfg = load_config_dict(BASE, "test", overrides)
    task = "regression" if "huber" in overrides[0] else "classification"
    with pytest.raises(ConfigError, match=message):
        settle_task(cfg, task, True)
