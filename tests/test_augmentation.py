"""Signal augmentation: amplitude scaling, per sample and channel, drawn from the trainer's
generator only when it is on, and exact under resume."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from conv1d_cli.cli import app
from conv1d_cli.data import Dataset
from conv1d_cli.data.dataset import window_slices
from conv1d_cli.runs import load_checkpoint

runner = CliRunner()


def _dataset(**augment) -> Dataset:
    empty = np.zeros((0, 2, 50), np.float32)
    labels = np.zeros(0, np.int64)
    return Dataset(empty, labels, empty, labels, empty, labels, ("a",), {}, "", **augment)


def test_off_draws_nothing_and_changes_nothing():
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    x = np.random.default_rng(1).normal(size=(4, 2, 50)).astype(np.float32)
    assert _dataset().augment(x, rng) is x
    assert rng.bit_generator.state == before


def test_amplitude_scales_each_sample_and_channel_by_one_factor():
    x = np.random.default_rng(1).normal(size=(2000, 2, 50)).astype(np.float32)
    out = _dataset(amplitude=0.2).augment(x, np.random.default_rng(0))
    assert out.dtype == np.float32 and out is not x
    factors = out[:, :, :1] / x[:, :, :1]
    np.testing.assert_allclose(out, x * factors, rtol=1e-5, atol=1e-6)  # one factor per row
    expected = np.random.default_rng(0).normal(1.0, 0.2, size=(2000, 2, 1))  # the same draws
    np.testing.assert_allclose(factors, expected, rtol=1e-4)


def window_slices_loops(x: np.ndarray, fraction: float, starts: np.ndarray) -> np.ndarray:
    """The reference: each sample's window resampled to L with np.interp, sample by sample."""
    B, C, L = x.shape
    width = min(L, max(2, round(fraction * L)))
    out = np.empty_like(x)
    for b in range(B):
        where = starts[b] + np.linspace(0.0, width - 1, L)
        for c in range(C):
            out[b, c] = np.interp(where, np.arange(L), x[b, c])
    return out


def test_window_slices_match_interpolation_by_loops():
    x = np.random.default_rng(1).normal(size=(16, 3, 37)).astype(np.float32)
    for fraction in (0.5, 0.9, 1.0):
        got = window_slices(x, fraction, np.random.default_rng(5))
        width = min(37, max(2, round(fraction * 37)))
        starts = np.random.default_rng(5).integers(0, 37 - width + 1, size=16)
        np.testing.assert_allclose(got, window_slices_loops(x, fraction, starts), atol=1e-5)
    np.testing.assert_array_equal(window_slices(x, 1.0, np.random.default_rng(0)), x)


def test_resume_with_amplitude_and_window_is_exact(tiny_config):
    runs = tiny_config.parent / "runs"
    common = ["--quiet", "--set", "data.amplitude=0.1", "--set", "data.noise=0.05"]
    common += ["--set", "data.window=0.8"]
    assert runner.invoke(app, ["train", str(tiny_config), *common, "--name", "a"]).exit_code == 0
    cut = ["--name", "b", "--set", "train.epochs=1"]
    assert runner.invoke(app, ["train", str(tiny_config), *common, *cut]).exit_code == 0
    resumed = runner.invoke(app, ["train", "--resume", str(runs / "b"), "--set", "train.epochs=2"])
    assert resumed.exit_code == 0, resumed.output
    a, b = (load_checkpoint(runs / n / "checkpoints" / "last.safetensors") for n in "ab")
    for key, value in a.model_state.items():
        np.testing.assert_array_equal(b.model_state[key], value)
