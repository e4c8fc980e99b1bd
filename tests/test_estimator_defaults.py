"""Conv1dClassifier(): its defaults are the fcn template's network and recipe (measured: 1.00 on
GunPoint's test set, docs/using-a-model.md), they learn a small real dataset, and n_jobs maps
to train.workers the way joblib reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from joblib import cpu_count
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from conv1d_cli import Conv1dClassifier
from conv1d_cli.config import load_config, load_config_dict
from conv1d_cli.estimator import DEFAULT_CONFIG

TEMPLATE = Path(__file__).resolve().parents[1] / "configs" / "templates" / "fcn.yaml"


def test_the_defaults_are_the_fcn_template():
    """Everything that decides the trained network is the template's: seed, data handling,
    layers, init, loss, optimizer, schedule, epochs, batches, monitor. Only where it runs
    (train.workers: one process, see n_jobs) and whether plots are drawn differ."""
    default = load_config_dict(DEFAULT_CONFIG, "default", []).model_dump(mode="json")
    template = load_config(TEMPLATE).model_dump(mode="json")
    assert default["train"].pop("workers") == 1
    assert template["train"].pop("workers") == 2
    # The template's time budget for a command; fit(X, y) is not cut short.
    assert default["train"].pop("max_minutes") is None
    assert template["train"].pop("max_minutes") == 4
    assert default["output"].pop("plots") is False
    template["output"].pop("plots")
    assert default == template


def test_no_arguments_resolve_to_the_defaults():
    cfg = Conv1dClassifier()._resolve_config((1, 150), 2)
    assert cfg.model.model_dump(mode="json")["layers"][-1]["units"] == 2  # y's classes
    expected = load_config_dict(DEFAULT_CONFIG, "default", []).model_dump(mode="json")
    resolved = cfg.model_dump(mode="json")
    for key in ("seed", "loss", "optimizer", "schedule", "train"):
        assert resolved[key] == expected[key], key


def test_the_defaults_learn_digits_within_seconds():
    """sklearn's 8x8 digits as sequences of 64 values: the default network and recipe, its
    cosine decay compressed into 6 epochs so the test takes seconds, well above chance (0.1)
    on 1,497 digits it never saw."""
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, train_size=300, stratify=y, random_state=0
    )
    model = Conv1dClassifier(overrides={"train.epochs": 6}).fit(x_train, y_train)
    assert len(model.history_) == 6
    assert model.score(x_test, y_test) > 0.75  # 0.84 measured


@pytest.mark.parametrize(
    ("n_jobs", "workers"),
    [(None, 1), (1, 1), (2, 2), (-1, cpu_count()), (-cpu_count(), 1), (-cpu_count() - 5, 1)],
)
def test_n_jobs_sets_train_workers(n_jobs, workers):
    assert Conv1dClassifier(n_jobs=n_jobs)._resolve_config((1, 20), 3).train.workers == workers


def test_n_jobs_none_keeps_the_configs_workers_and_a_number_overrides_them():
    config = {**DEFAULT_CONFIG, "train": {**DEFAULT_CONFIG["train"], "workers": 2}}
    assert Conv1dClassifier(config=config)._resolve_config((1, 20), 3).train.workers == 2
    clf = Conv1dClassifier(config=config, overrides={"train.workers": 2}, n_jobs=1)
    assert clf._resolve_config((1, 20), 3).train.workers == 1
    with pytest.raises(ValueError, match="n_jobs=0"):
        Conv1dClassifier(n_jobs=0)._resolve_config((1, 20), 3)


def test_two_processes_fit_the_same_network():
    """n_jobs=2 trains each batch on two processes (8 series each): the same network as one
    process up to float32 rounding of the summed gradients."""
    x, y = load_digits(return_X_y=True)
    x, y = x[:96], y[:96]
    fast = {"train.epochs": 2}
    one = Conv1dClassifier(overrides=fast).fit(x, y).predict_proba(x)
    two = Conv1dClassifier(overrides=fast, n_jobs=2).fit(x, y).predict_proba(x)
    np.testing.assert_allclose(two, one, atol=2e-3)
