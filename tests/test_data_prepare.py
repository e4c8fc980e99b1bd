"""From raw arrays to splits: seeded splits, train-only statistics, checks, augmentation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from conv1d_cli.config import DataConfig
from conv1d_cli.data.dataset import RawData, shift_images, shift_sequences
from conv1d_cli.data.prepare import prepare
from conv1d_cli.errors import DataError


def _raw(n=200, channels=2, length=30, seed=0, **kw) -> RawData:
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, size=(n, channels, length)).astype(np.float32)
    y = np.array(["cat", "dog", "eel", "fox"])[np.arange(n) % 4]
    return RawData(x, y, None, None, origin="toy.npz", **kw)


def test_splits_are_deterministic_for_a_seed_and_differ_between_seeds():
    cfg = DataConfig(dataset="npz", val_split=0.2, test_split=0.25)
    a, b, c = prepare(_raw(), cfg, 1), prepare(_raw(), cfg, 1), prepare(_raw(), cfg, 2)
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.y_train, c.y_train) or not np.array_equal(a.x_train, c.x_train)


def test_splits_are_stratified_and_disjoint():
    cfg = DataConfig(dataset="npz", val_split=0.2, test_split=0.25)
    data = prepare(_raw(), cfg, 0)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (120, 30, 50)
    for y in (data.y_train, data.y_val, data.y_test):
        counts = np.bincount(y, minlength=4)
        assert counts.max() - counts.min() <= 1  # 4 balanced classes stay balanced
    rows = [tuple(s.ravel()) for s in (*data.x_train, *data.x_val, *data.x_test)]
    assert len(set(rows)) == 200


def test_standardize_statistics_come_from_the_training_split_only():
    raw = _raw(n=120)
    raw.x_test = np.full((20, 2, 30), 1e6, dtype=np.float32)  # an outlier test split
    raw.y_test = np.array(["cat", "dog", "eel", "fox"] * 5)
    data = prepare(raw, DataConfig(dataset="npz", val_split=0.0, normalize="standardize"), 0)
    # Independent reference: the statistics of the raw training samples, per channel.
    mean = raw.x_train.astype(np.float64).mean(axis=(0, 2))
    std = raw.x_train.astype(np.float64).std(axis=(0, 2))
    np.testing.assert_allclose(data.normalization["shift"], mean, rtol=1e-6)
    np.testing.assert_allclose(data.normalization["scale"], std, rtol=1e-6)
    np.testing.assert_allclose(data.x_train.mean(axis=(0, 2)), 0, atol=1e-5)
    assert data.x_test.min() > 1e4  # the test split was not used for the statistics


def test_stats_exclude_validation_and_held_out_test_samples():
    raw = _raw(n=200)
    cfg = DataConfig(dataset="npz", val_split=0.2, test_split=0.25, normalize="scale")
    data = prepare(raw, cfg, 0)
    lo, hi = np.array(data.normalization["shift"]), np.array(data.normalization["scale"])
    restored = data.x_train * hi[None, :, None] + lo[None, :, None]
    np.testing.assert_allclose(restored.min(axis=(0, 2)), lo, rtol=1e-5)
    np.testing.assert_allclose(restored.max(axis=(0, 2)), lo + hi, rtol=1e-5)


def test_stored_normalization_and_classes_are_reused_for_eval():
    cfg = DataConfig(dataset="npz", val_split=0.0, normalize="standardize")
    trained = prepare(_raw(seed=0), cfg, 0)
    other = prepare(
        _raw(seed=5),
        cfg,
        0,
        purpose="eval",
        normalization=trained.normalization,
        class_names=list(trained.class_names),
    )
    assert other.normalization == trained.normalization
    assert other.class_names == trained.class_names


def test_labels_the_checkpoint_never_saw_are_refused():
    with pytest.raises(DataError, match=r"label 'cat' is not one of the trained classes"):
        prepare(_raw(), DataConfig(dataset="npz"), 0, class_names=["dog", "eel", "fox"])


def test_nan_and_infinite_values_are_refused():
    raw = _raw()
    raw.x_train[17, 1, 3] = np.nan
    raw.x_train[30, 0, 0] = np.inf
    with pytest.raises(DataError, match=r"toy.npz: samples hold 2 NaN or infinite values .*17"):
        prepare(raw, DataConfig(dataset="npz"), 0)


def test_view_must_hold_the_samples_values():
    with pytest.raises(DataError, match=r"data.view: \[7, 7\] holds 49 values .* have 60"):
        prepare(_raw(), DataConfig(dataset="npz", view=(7, 7)), 0)


def test_view_reshapes_samples():
    data = prepare(_raw(), DataConfig(dataset="npz", view=(1, 60)), 0)
    assert data.sample_shape == (1, 60)


def test_empty_data_is_refused():
    raw = RawData(np.zeros((0, 5)), np.zeros(0, dtype=np.int64), None, None, origin="e.npz")
    with pytest.raises(DataError, match="e.npz: the data set is empty"):
        prepare(raw, DataConfig(dataset="npz"), 0)


def test_a_split_that_leaves_a_class_empty_is_refused():
    raw = _raw(n=12)  # 3 samples per class
    with pytest.raises(DataError, match=r"data.test_split: 0.1 of 12 samples .* 4 classes"):
        prepare(raw, DataConfig(dataset="npz", test_split=0.1), 0)
    raw.y_train = raw.y_train.copy()
    raw.y_train[0] = "gnu"  # one sample only: cannot be on both sides of a split
    with pytest.raises(DataError, match="class 'gnu' has one sample"):
        prepare(raw, DataConfig(dataset="npz", test_split=0.5), 0)


def test_fixed_classes_reject_out_of_range_labels():
    raw = RawData(np.zeros((20, 4), np.uint8), np.arange(20) % 11, None, None, "img", ("0",) * 10)
    with pytest.raises(DataError, match="label 10 is out of range"):
        prepare(raw, DataConfig(dataset="npz"), 0)


def _shifted(image: np.ndarray, dy: int, dx: int, fill: float) -> np.ndarray:
    """Direct reference: out[r, c] = image[r - dy, c - dx], fill outside."""
    H, W = image.shape
    out = np.full_like(image, fill)
    for r, c in itertools.product(range(H), range(W)):
        if 0 <= r - dy < H and 0 <= c - dx < W:
            out[r, c] = image[r - dy, c - dx]
    return out


def test_image_shifts_move_whole_pictures_within_the_limit():
    rng = np.random.default_rng(0)
    x = rng.random((6, 1, 36), dtype=np.float32)
    fill = np.array([-0.5], np.float32)
    got = shift_images(x, (6, 6), 2, fill, np.random.default_rng(1))
    for b in range(6):
        candidates = [
            _shifted(x[b, 0].reshape(6, 6), dy, dx, -0.5)
            for dy, dx in itertools.product(range(-2, 3), repeat=2)
        ]
        assert any(np.array_equal(got[b, 0].reshape(6, 6), c) for c in candidates)
    assert not np.array_equal(got, x)  # some sample moved


def test_image_shift_fills_rows_as_channels_with_their_own_zero():
    x = np.ones((4, 5, 5), np.float32)
    fill = np.arange(5, dtype=np.float32) * -1.0  # every row (channel) has its own zero
    got = shift_images(x, (5, 5), 1, fill, np.random.default_rng(3))
    holes = got != 1.0
    rows = np.nonzero(holes)[1]
    np.testing.assert_array_equal(got[holes], fill[rows])


def test_sequence_shifts():
    x = np.arange(2 * 3 * 10, dtype=np.float32).reshape(2, 3, 10)
    got = shift_sequences(x, 3, np.zeros(3, np.float32), np.random.default_rng(0))
    for b in range(2):
        ok = False
        for s in range(-3, 4):
            ref = np.zeros_like(x[b])
            for t in range(10):
                if 0 <= t - s < 10:
                    ref[:, t] = x[b, :, t - s]
            ok |= np.array_equal(got[b], ref)
        assert ok


def test_augment_leaves_the_batch_alone_and_adds_noise_of_the_given_std():
    data = prepare(_raw(n=400), DataConfig(dataset="npz", noise=0.5, shift=0), 0)
    batch = data.x_train[:100].copy()
    noisy = data.augment(batch, np.random.default_rng(0))
    np.testing.assert_array_equal(batch, data.x_train[:100])
    assert noisy.dtype == np.float32
    assert abs(float((noisy - batch).std()) - 0.5) < 0.02


def test_no_augmentation_draws_nothing():
    data = prepare(_raw(), DataConfig(dataset="npz"), 0)
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    assert data.augment(data.x_train[:5], rng) is not None
    assert rng.bit_generator.state == before
