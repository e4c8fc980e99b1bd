"""The one inference path: loading, normalization, shapes, bounded batches, eval agreement."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from trained_runs import train_run

from conv1d_cli import load_model
from conv1d_cli.config import load_config
from conv1d_cli.data import load_dataset
from conv1d_cli.errors import CheckpointError, DataError
from conv1d_cli.inference.evaluate import evaluate_checkpoint
from conv1d_cli.inference.load import (
    ACTIVATION_BUDGET_BYTES,
    label_indices,
    normalize_samples,
    softmax,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_run(tmp_path_factory.mktemp("inference"))


def test_load_model_from_run_dir_and_checkpoint(run):
    run_dir, x_test, _ = run
    by_dir = load_model(run_dir)
    by_file = load_model(run_dir / "checkpoints" / "best.safetensors")
    assert by_dir.input_shape == (2, 32)
    assert list(by_dir.classes_) == ["high", "low", "mid"]  # sorted label names
    np.testing.assert_array_equal(by_dir.predict_proba(x_test), by_file.predict_proba(x_test))


def test_predict_proba_and_predict(run):
    run_dir, x_test, y_test = run
    model = load_model(run_dir)
    proba = model.predict_proba(x_test)
    assert proba.shape == (60, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(x_test), model.classes_[proba.argmax(axis=1)])
    assert np.mean(model.predict(x_test) == y_test) > 0.6  # it learned something
    # Batch size does not change the numbers beyond float32 rounding (BLAS blocks by batch).
    np.testing.assert_allclose(
        model.predict_proba(x_test, batch_size=7), proba, rtol=1e-5, atol=1e-6
    )


def test_eval_and_predict_agree(run):
    run_dir, x_test, y_test = run
    report = evaluate_checkpoint(run_dir).report
    model = load_model(run_dir)
    predicted = model.predict(x_test)
    assert report["accuracy"] == pytest.approx(np.mean(predicted == y_test), abs=1e-12)
    confusion = np.zeros((3, 3), dtype=int)
    names = list(model.classes_)
    for truth, guess in zip(y_test, predicted, strict=True):
        confusion[names.index(truth), names.index(guess)] += 1
    assert report["confusion"] == confusion.tolist()


@pytest.mark.parametrize("method", ["scale", "standardize", "none"])
def test_normalization_equals_the_data_pipeline(tmp_path, method):
    run_dir, x_test, _ = train_run(tmp_path, normalize=method, epochs=1)
    model = load_model(run_dir)
    cfg = load_config(run_dir / "config.yaml")
    data = load_dataset(cfg.data, cfg.seed, purpose="eval", normalization=model.normalization)
    np.testing.assert_array_equal(model.normalize(x_test), data.x_test)


def test_per_sample_normalization_against_a_loop():
    rng = np.random.default_rng(3)
    x = rng.normal(4, 3, (5, 2, 9)).astype(np.float32)
    x[1, 0] = 7.0  # a constant channel: std 0 is replaced by 1
    got = normalize_samples(x, {"method": "per_sample", "shift": [0, 0], "scale": [1, 1]})
    for n in range(5):
        for c in range(2):
            row = x[n, c].astype(np.float64)
            mean = sum(row) / len(row)
            std = (sum((v - mean) ** 2 for v in row) / len(row)) ** 0.5 or 1.0
            np.testing.assert_allclose(got[n, c], (row - mean) / std, rtol=1e-6, atol=1e-6)
    assert got.dtype == np.float32


def test_softmax_is_stable():
    p = softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 1.0, 1.0]]))
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])


def test_sample_shapes(run):
    run_dir, x_test, _ = run
    model = load_model(run_dir)
    flat = x_test.reshape(len(x_test), -1)  # (N, C*L) is read like data.view reads it
    np.testing.assert_array_equal(model.predict_proba(flat), model.predict_proba(x_test))
    with pytest.raises(DataError, match=r"expects \(channels, length\) = \(2, 32\)"):
        model.predict(x_test[:, :, :30])
    with pytest.raises(DataError, match=r"\(2, 32\)"):
        model.predict(x_test[0, 0])
    bad = x_test.copy()
    bad[4, 1, 3] = np.nan
    with pytest.raises(DataError, match="sample 4 holds NaN"):
        model.predict(bad)


def test_label_indices():
    names = ("cat", "dog")
    assert label_indices(np.array(["dog", "cat"]), names, "f").tolist() == [1, 0]
    assert label_indices(np.array([1, 0, 1]), names, "f").tolist() == [1, 0, 1]
    assert label_indices(np.array([3, 7]), ("3", "7"), "f").tolist() == [0, 1]
    with pytest.raises(DataError, match="'cow' is not one of the network's classes"):
        label_indices(np.array(["cow"]), names, "f")


def test_not_a_checkpoint(tmp_path):
    bogus = tmp_path / "x.safetensors"
    bogus.write_bytes(b"nonsense")
    with pytest.raises(CheckpointError):
        load_model(bogus)
    with pytest.raises(CheckpointError, match="no checkpoint or run directory"):
        load_model(tmp_path / "missing")


def test_long_inputs_get_smaller_batches_and_bounded_memory(tmp_path):
    length = 4096
    layers = [
        {"type": "conv1d", "channels": 16, "kernel": 5, "padding": "same"},
        {"type": "relu"},
        {"type": "globalavgpool1d"},
        {"type": "dense", "units": 3},
    ]
    run_dir, _, _ = train_run(tmp_path, layers, channels=1, length=length, epochs=1, n=60)
    model = load_model(run_dir)
    per_sample = 16 * length * 4  # the conv output of one sample, float32
    assert model.batch_size == ACTIVATION_BUDGET_BYTES // per_sample  # 256, not 1000
    # 6,000 samples memory-mapped (98 MB): the traced peak stays near one batch's worth.
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(6000, 1, length))
    big[:] = np.sin(np.arange(length, dtype=np.float32))
    big.flush()
    del big
    x = np.load(path, mmap_mode="r")
    model.config = model.config.model_copy(
        update={"train": model.config.train.model_copy(update={"eval_batch_size": 100})}
    )

    def traced_peak(samples: np.ndarray) -> int:
        tracemalloc.start()
        try:
            count = sum(len(logits) for _, logits in model.iter_logits(samples))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert count == len(samples)

    small, large = traced_peak(x[:600]), traced_peak(x)
    # Ten times the input, the same order of peak: one batch's activations, never the file. The
    # bound leaves room for when the collector frees the previous batch (seen: +32% on a loaded
    # machine); a peak that grew with the input would be ~10x.
    assert large < 1.5 * small, (small, large)
    assert large < 0.05 * x.nbytes
