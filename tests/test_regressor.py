"""Conv1dRegressor: scikit-learn's estimator checks, cross-validation, pipelines, grid search,
R^2 as its score, K outputs, predictions in the targets' units, and the same network as a run
directory's checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from conv1d_cli import Conv1dClassifier, Conv1dRegressor, load_model
from conv1d_cli.estimator import DEFAULT_CONFIG
from conv1d_cli.task.regression import destandardize

# scikit-learn's checks fit tabular data: check_regressors_train wants R^2 > 0.5 on 10 unordered
# features of which one is informative. A signal network with global pooling cannot tell one
# position from another (0.19 after 10 epochs, measured); a flattening head keeps positions
# (0.81). The checks are about the API, so they get that head; the float64 network is for their
# rtol 1e-7 order and batch invariances (see tests/test_estimator.py).
TABULAR = {
    "data": {"normalize": "standardize", "val_split": 0.0},
    "model": {
        "layers": [
            {"type": "conv1d", "channels": 8, "kernel": 3, "padding": "same"},
            {"type": "relu"},
            {"type": "flatten"},
            {"type": "dense"},
        ]
    },
    "optimizer": {"type": "adam", "lr": 0.01},
    "train": {"batch_size": 32},
    "output": {"monitor": "train_loss", "plots": False},
}
CHECKS = {"train.epochs": 10, "train.dtype": "float64"}

# A small signal network for the rest: convolutions, global average pooling, a dense head.
SMALL = {
    **TABULAR,
    "model": {
        "layers": [
            {"type": "conv1d", "channels": 16, "kernel": 7, "padding": "same"},
            {"type": "relu"},
            {"type": "conv1d", "channels": 16, "kernel": 5, "padding": "same"},
            {"type": "relu"},
            {"type": "globalavgpool1d"},
            {"type": "dense"},
        ]
    },
}
FAST = {"train.epochs": 15}

# All of scikit-learn 1.9's checks apply and pass (check_array_api_input is skipped by
# scikit-learn itself unless SCIPY_ARRAY_API is set; the engine is NumPy only).
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


@parametrize_with_checks(
    [Conv1dRegressor(config=TABULAR, overrides=CHECKS)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def sine_frequency(
    n: int, length: int = 64, seed: int = 0, noise: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, length) noisy sines; their frequency (n,) in cycles per window, 1..6, and their
    amplitude (n,), 0.5..2."""
    rng = np.random.default_rng(seed)
    frequency = rng.uniform(1.0, 6.0, n)
    amplitude = rng.uniform(0.5, 2.0, n)
    t = np.arange(length) / length
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = amplitude[:, None] * np.sin(2 * np.pi * frequency[:, None] * t + phase)
    x += rng.normal(0, noise, x.shape)
    return x.astype(np.float32), frequency, amplitude


@pytest.fixture(scope="module")
def sines():
    return sine_frequency(200, seed=0)


@pytest.fixture(scope="module")
def fitted(sines):
    x, frequency, _ = sines
    return Conv1dRegressor(config=SMALL, overrides=FAST).fit(x, frequency)


def test_it_learns_the_frequency_and_score_is_r2(fitted):
    x_test, frequency, _ = sine_frequency(100, seed=1)
    predicted = fitted.predict(x_test)
    assert predicted.shape == (100,) and predicted.dtype == np.float64
    score = fitted.score(x_test, frequency)
    assert score == pytest.approx(r2_score(frequency, predicted), abs=1e-12)
    assert score > 0.8  # 0.91 measured (15 epochs of a 16-channel network)
    assert set(fitted.history_[-1]) >= {"train_loss", "train_rmse", "train_mae", "train_r2"}
    assert fitted.n_outputs_ == 1 and fitted.model_.task == "regression"


def test_predictions_are_in_the_targets_units(sines, fitted):
    """The network learns standardized targets, so targets 1000 times larger (and shifted)
    give the same network and predictions 1000 times larger (and shifted), up to float32."""
    x, frequency, _ = sines
    scaled = Conv1dRegressor(config=SMALL, overrides=FAST).fit(x, 1000 * frequency + 5)
    np.testing.assert_allclose(scaled.predict(x), 1000 * fitted.predict(x) + 5, rtol=1e-4)
    assert scaled.model_.target_scaling["mean"][0] == pytest.approx(1000 * frequency.mean() + 5)
    assert scaled.score(x, 1000 * frequency + 5) == pytest.approx(fitted.score(x, frequency))


def test_k_outputs(sines):
    """y (n, 2): one network with two outputs, predictions (n, 2), score averaged over them."""
    x, frequency, amplitude = sines
    y = np.column_stack([frequency, 100 * amplitude])  # outputs of different units
    model = Conv1dRegressor(config=SMALL, overrides=FAST).fit(x, y)
    assert model.n_outputs_ == 2
    assert model.model_.model.output_shape((1, 64)) == (2,)  # the dense head gets K units
    x_test, f_test, a_test = sine_frequency(100, seed=1)
    y_test = np.column_stack([f_test, 100 * a_test])
    predicted = model.predict(x_test)
    assert predicted.shape == (100, 2)
    assert model.score(x_test, y_test) == pytest.approx(r2_score(y_test, predicted), abs=1e-12)
    per_output = r2_score(y_test, predicted, multioutput="raw_values")
    assert np.all(per_output > 0.7), per_output  # 0.93 and 0.99 measured
    one_column = Conv1dRegressor(config=SMALL, overrides=FAST).fit(x, y[:, :1])
    assert one_column.predict(x_test).shape == (100, 1)  # y (n, 1) answers (n, 1)


def test_cross_val_score_pipeline_and_grid_search(sines):
    x, frequency, _ = sines
    scores = cross_val_score(
        Conv1dRegressor(config=SMALL, overrides=FAST), x, frequency,
        cv=KFold(3, shuffle=True, random_state=0),
    )  # fmt: skip
    assert scores.shape == (3,) and np.all(scores > 0.6), scores  # R^2 of each fold: 0.89-0.90
    pipeline = make_pipeline(StandardScaler(), Conv1dRegressor(config=SMALL, overrides=FAST))
    assert pipeline.fit(x, frequency).score(x, frequency) > 0.8
    search = GridSearchCV(
        Conv1dRegressor(config=SMALL),
        {"overrides": [{"train.epochs": 4, "optimizer.lr": lr} for lr in (1e-5, 0.01)]},
        cv=2,
    )
    search.fit(x, frequency)
    # lr 1e-5 barely moves the weights in 4 epochs: the search must prefer 0.01
    assert search.best_params_ == {"overrides": {"train.epochs": 4, "optimizer.lr": 0.01}}
    assert search.predict(x).shape == (200,)


def test_clone_and_same_seed_same_network(sines, fitted):
    x, frequency, _ = sines
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params() and not hasattr(twin, "model_")
    np.testing.assert_array_equal(twin.fit(x, frequency).predict(x), fitted.predict(x))
    other = Conv1dRegressor(config=SMALL, overrides=FAST, random_state=7).fit(x, frequency)
    assert not np.array_equal(other.predict(x), fitted.predict(x))


def test_a_run_directory_holds_the_same_network(sines, tmp_path, monkeypatch):
    """With runs_dir the fit is a normal regression run; the estimator predicts with its best
    checkpoint, the one load_model reads (outputs de-standardized with the stored scaling)."""
    monkeypatch.chdir(tmp_path)
    x, frequency, _ = sines
    Conv1dRegressor(config=SMALL, overrides={"train.epochs": 2}).fit(x, frequency)
    assert list(tmp_path.iterdir()) == []  # in memory: nothing written
    model = Conv1dRegressor(config=SMALL, overrides=FAST, runs_dir=tmp_path / "runs")
    model.fit(x, frequency)
    assert (model.run_dir_ / "checkpoints" / "best.safetensors").is_file()
    loaded = load_model(model.run_dir_)
    assert loaded.task == "regression" and loaded.config.loss.type == "mse"
    outputs = np.concatenate([part for _, part in loaded.iter_logits(x)])
    np.testing.assert_allclose(
        destandardize(outputs, loaded.target_scaling)[:, 0], model.predict(x), rtol=1e-6
    )


def test_the_default_is_the_classifiers_and_trains_on_the_mean_squared_error():
    """Both estimators default to the fcn template (DEFAULT_CONFIG, loss.type auto); a fit
    settles its loss to mse, as conv1d train does with a regression file."""
    from conv1d_cli.training.setup import settle_task

    assert Conv1dRegressor.default_config is DEFAULT_CONFIG is Conv1dClassifier.default_config
    cfg = Conv1dRegressor()._resolve_config((1, 100), 3)
    dumped = cfg.model_dump(mode="json")
    assert dumped["task"] == "regression"
    assert dumped["model"]["layers"][-1]["units"] == 3  # y's outputs
    classifier = Conv1dClassifier()._resolve_config((1, 100), 3).model_dump(mode="json")
    for key in ("seed", "data", "model", "loss", "optimizer", "schedule", "train", "output"):
        assert dumped[key] == classifier[key], key
    assert settle_task(cfg, "regression", False).loss.type == "mse"


def test_a_fit_that_learns_nothing_warns_and_finishes(capsys):
    """Targets unrelated to the signals: the stuck warning (train R^2 ~ 0 after epoch 8, the
    first with 50 steps) reaches stderr with verbose=1; in memory there is no train.log."""
    x, _, _ = sine_frequency(200, seed=0)
    noise = np.random.default_rng(5).normal(size=200)
    # No cross-validation: it would choose 0 epochs (the mean) and train nothing to warn about.
    overrides = {"train.epochs": 8, "optimizer.lr": 1e-6, "train.cv_folds": 0}
    model = Conv1dRegressor(config=SMALL, overrides=overrides, verbose=1).fit(x, noise)
    assert len(model.history_) == 8
    assert "warning: training looks stuck: train_r2" in capsys.readouterr().err


def test_bad_input_is_a_value_error(fitted, sines):
    x, frequency, _ = sines
    with pytest.raises(ValueError, match="expecting 64 features"):
        fitted.predict(x[:, :20])
    with pytest.raises(ValueError):
        Conv1dRegressor(config=SMALL).fit(x, np.where(np.arange(200) == 3, np.nan, frequency))
    with pytest.raises(ValueError):
        Conv1dRegressor(config=SMALL).fit(x, np.array(["a"] * 200))


def test_a_classification_loss_is_one_clear_error(sines):
    from conv1d_cli.errors import ConfigError

    x, frequency, _ = sines
    with pytest.raises(ConfigError, match="loss.type: cross_entropy does not fit task regression"):
        Conv1dRegressor(config=SMALL, overrides={"loss.type": "cross_entropy"}).fit(x, frequency)
