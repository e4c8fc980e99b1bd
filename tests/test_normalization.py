"""Normalization: per_sample against a direct loop, the fitted methods, auto, checkpoint safety."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conv1d_cli.config import DataConfig
from conv1d_cli.data import load_dataset
from conv1d_cli.data.normalization import (
    apply_normalization,
    fit_normalization,
    per_sample,
    resolve_method,
)


def per_sample_loops(x: np.ndarray) -> np.ndarray:
    """The module's formula written out with Python loops and the math module (the reference)."""
    out = np.empty(x.shape, dtype=np.float32)
    N, C, L = x.shape
    for n in range(N):
        for c in range(C):
            values = [float(v) for v in x[n, c]]
            mean = math.fsum(values) / L
            std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / L)
            std = std if std > 0 else 1.0
            for i in range(L):
                out[n, c, i] = (values[i] - mean) / std
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_per_sample_matches_the_direct_loop(dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(7, 3, 33))
    if dtype == np.uint8:
        x = rng.integers(0, 256, size=(7, 3, 33))
    x = x.astype(dtype)
    x[2, 1] = x[2, 1, 0]  # a constant series becomes zeros (std 0 -> 1)
    expected = per_sample_loops(x)
    got = apply_normalization(x, fit_normalization("per_sample", x))
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got[2, 1], 0.0)


def test_per_sample_ignores_the_training_split():
    train = np.random.default_rng(1).normal(size=(4, 2, 10))
    stats = fit_normalization("per_sample", train)
    assert stats == {"method": "per_sample", "shift": [0.0, 0.0], "scale": [1.0, 1.0]}
    other = np.random.default_rng(2).normal(100.0, 9.0, size=(3, 2, 10))
    np.testing.assert_array_equal(apply_normalization(other, stats), per_sample(other))


def test_standardize_and_scale_by_hand():
    x = np.array([[[0.0, 2.0, 4.0], [1.0, 1.0, 1.0]], [[6.0, 8.0, 10.0], [1.0, 1.0, 1.0]]])
    stats = fit_normalization("standardize", x)
    assert stats["shift"] == [5.0, 1.0]
    assert stats["scale"][0] == pytest.approx(np.sqrt(35 / 3)) and stats["scale"][1] == 1.0
    scaled = fit_normalization("scale", x)
    assert scaled == {"method": "scale", "shift": [0.0, 1.0], "scale": [10.0, 1.0]}
    np.testing.assert_allclose(apply_normalization(x, scaled)[1, 0], [0.6, 0.8, 1.0])
    assert fit_normalization("scale", x, value_range=255.0)["scale"] == [255.0, 255.0]
    assert json.loads(json.dumps(stats)) == stats  # what the checkpoint stores


def test_auto_is_scale_for_images_and_standardize_otherwise():
    assert resolve_method("auto", 255.0) == "scale"
    assert resolve_method("auto", None) == "standardize"
    assert resolve_method("none", 255.0) == "none"
    x = np.ones((2, 1, 4))
    assert fit_normalization("auto", x)["method"] == "standardize"


def test_auto_resolves_to_scale_for_the_embedded_mnist_digits():
    data = load_dataset(DataConfig(dataset="mnist", limit=300, val_split=0.0), 0)
    assert data.normalization["method"] == "scale"
    assert data.normalization["scale"] == [255.0]
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0


def test_per_sample_through_the_data_pipeline(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(3.0, 2.0, size=(40, 2, 16)).astype(np.float32)
    np.savez(tmp_path / "s.npz", x=x, y=np.arange(40) % 2)
    cfg = DataConfig(path=str(tmp_path / "s.npz"), normalize="per_sample", val_split=0.0)
    data = load_dataset(cfg, 0)
    assert data.normalization["method"] == "per_sample"
    np.testing.assert_allclose(data.x_train.mean(axis=2), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=2), 1.0, atol=1e-4)
    # eval with the stored statistics repeats the same recipe
    again = load_dataset(cfg, 0, purpose="eval", normalization=data.normalization)
    np.testing.assert_array_equal(again.x_test, data.x_test)


@pytest.mark.parametrize("method", ["scale", "standardize", "per_sample", "none"])
def test_the_inference_path_normalizes_like_training(method):
    from conv1d_cli.inference.load import normalize_samples

    rng = np.random.default_rng(4)
    train = rng.normal(2.0, 3.0, size=(20, 3, 40)).astype(np.float32)
    stats = fit_normalization(method, train)
    new = rng.normal(1.0, 2.0, size=(5, 3, 40)).astype(np.float32)
    np.testing.assert_array_equal(normalize_samples(new, stats), apply_normalization(new, stats))
