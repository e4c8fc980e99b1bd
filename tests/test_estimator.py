"""Conv1dClassifier: scikit-learn's estimator checks, clone, cross-validation, pipelines, grid
search, and the same network as `conv1d train` from the same data and config."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks
from trained_runs import signals, train_run

from conv1d_cli import Conv1dClassifier, load_model

# The default network (the fcn template, tests/test_estimator_defaults.py) for 3 epochs instead of
# its 150: each of scikit-learn's checks then fits in about a second on its tiny data.
FAST = {"train.epochs": 3}
# These tests are about the scikit-learn API, so a small network (any length >= 1: 'same' padding
# and global pooling) keeps them fast; the default network has tests/test_estimator_defaults.py.
SMALL = {
    "data": {"normalize": "standardize", "val_split": 0.0},
    "model": {
        "layers": [
            {"type": "conv1d", "channels": 16, "kernel": 5, "padding": "same"},
            {"type": "relu"},
            {"type": "conv1d", "channels": 16, "kernel": 3, "padding": "same"},
            {"type": "relu"},
            {"type": "globalavgpool1d"},
            {"type": "dense"},
        ]
    },
    "optimizer": {"type": "adam", "lr": 0.01},
    "train": {"batch_size": 32},
    "output": {"monitor": "train_loss", "plots": False},
}
# scikit-learn's checks compare predictions of the same samples in another order or in other
# batches with rtol 1e-7 (float64 rounding). In float32 a row's result depends on the BLAS
# kernels' blocking, which differs between CPUs (6e-8 apart on an AMD EPYC), so the checks run
# the network in float64; the float32 network gets the same invariances at float32 tolerance
# below (test_float32_predictions_ignore_sample_order_and_batches).
FAST64 = {**FAST, "train.dtype": "float64"}

# All of scikit-learn 1.9's checks apply and pass: fit accepts any finite float X with at least
# one column (a length-1 sequence is still a sequence for padding 'same' and global pooling),
# labels of any type, and is deterministic for a given random_state (or the config's seed).
# check_array_api_input is skipped by scikit-learn itself unless SCIPY_ARRAY_API is set; the
# engine is NumPy only, so it would not apply.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@parametrize_with_checks(
    [Conv1dClassifier(config=SMALL, overrides=FAST64)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_float32_predictions_ignore_sample_order_and_batches(signal_data):
    """scikit-learn's sample-order and subset invariance for the float32 network, with what
    float32 allows: another order or batch may change a row's sums by a few ulps, never more."""
    x, y = signal_data
    model = Conv1dClassifier(config=SMALL, overrides=FAST).fit(x, y)
    proba = model.predict_proba(x)
    assert proba.dtype == np.float32
    order = np.random.default_rng(0).permutation(len(x))
    np.testing.assert_allclose(model.predict_proba(x[order]), proba[order], rtol=1e-5, atol=1e-6)
    by_batch = np.concatenate([model.predict_proba(part) for part in np.array_split(x, 7)])
    np.testing.assert_allclose(by_batch, proba, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def signal_data():
    x, y = signals(150, 2, 32, seed=0)
    return x, y


def test_clone_keeps_parameters_and_drops_the_fit(signal_data):
    x, y = signal_data
    model = Conv1dClassifier(config={"model": {"layers": [{"type": "flatten"}, {"type": "dense",
                             "units": 3}]}}, overrides=FAST, random_state=3).fit(x, y)  # fmt: skip
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert not hasattr(twin, "model_")
    np.testing.assert_array_equal(twin.fit(x, y).predict_proba(x), model.predict_proba(x))


def test_cross_val_score_pipeline_and_grid_search(signal_data):
    x, y = signal_data
    scores = cross_val_score(Conv1dClassifier(config=SMALL, overrides=FAST), x, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.5)  # three classes: chance is 1/3
    flat = x[:, 0, :]  # one channel: X (n, length)
    pipeline = make_pipeline(
        FunctionTransformer(np.abs), Conv1dClassifier(config=SMALL, overrides=FAST)
    )
    assert pipeline.fit(flat, y).score(flat, y) > 0.5
    search = GridSearchCV(
        Conv1dClassifier(config=SMALL),
        {"overrides": [{"train.epochs": 1}, {"train.epochs": 4}], "random_state": [0, 1]},
        cv=2,
    )
    search.fit(x, y)
    assert set(search.best_params_) == {"overrides", "random_state"}
    assert search.predict(x).shape == (150,)


def test_labels_come_back_as_given(signal_data):
    x, y = signal_data
    codes = np.where(y == "low", 10, np.where(y == "mid", 20, 30))
    model = Conv1dClassifier(config=SMALL, overrides=FAST).fit(x, codes)
    assert model.classes_.tolist() == [10, 20, 30]
    assert set(model.predict(x).tolist()) <= {10, 20, 30}
    assert model.predict_proba(x).shape == (150, 3)


def test_fit_writes_nothing_unless_asked(signal_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y = signal_data
    Conv1dClassifier(config=SMALL, overrides=FAST).fit(x, y)
    assert list(tmp_path.iterdir()) == []
    model = Conv1dClassifier(config=SMALL, overrides=FAST, runs_dir=tmp_path / "runs").fit(x, y)
    assert (model.run_dir_ / "checkpoints" / "best.safetensors").is_file()
    reloaded = load_model(model.run_dir_)
    np.testing.assert_allclose(reloaded.predict_proba(x), model.predict_proba(x), atol=1e-7)


def test_the_same_training_as_conv1d_train(tmp_path):
    """Same data, config and seed: the estimator's network is the CLI run's, weight for weight
    (it runs the same Trainer), so their predictions are identical."""
    run_dir, x_test, _ = train_run(tmp_path)
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    train = np.load(tmp_path / "signals.npz")
    model = Conv1dClassifier(config=config).fit(train["x"], train["y"])
    np.testing.assert_array_equal(
        model.predict_proba(x_test), load_model(run_dir).predict_proba(x_test)
    )
    assert len(model.history_) == config["train"]["epochs"]


def test_config_file_and_verbose(tmp_path, capsys, signal_data):
    x, y = signal_data
    path = tmp_path / "net.yaml"
    path.write_text(
        "model:\n  layers:\n    - {type: conv1d, channels: 4, kernel: 3}\n"
        "    - {type: relu}\n    - {type: flatten}\n    - {type: dense, units: 99}\n"
        "data: {val_split: 0.0}\noutput: {monitor: train_loss}\n"
    )
    model = Conv1dClassifier(config=path, overrides={"train.epochs": 2}, verbose=1).fit(x, y)
    assert "epoch 2/2" in capsys.readouterr().err
    assert model.model_.model.output_shape((2, 32)) == (3,)  # units follow the classes


def test_bad_input_is_a_value_error(signal_data):
    x, y = signal_data
    model = Conv1dClassifier(config=SMALL, overrides=FAST).fit(x, y)
    with pytest.raises(ValueError, match=r"fitted on \(2, 32\)"):
        model.predict(x[:, :, :20])
    with pytest.raises(ValueError):
        Conv1dClassifier().fit(x[:, 0], np.zeros(150))  # one class
