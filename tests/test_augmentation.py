"""Signal augmentation: amplitude scaling, per sample and channel, drawn from the trainer's
generator only when it is on, and exact under resume."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.data import Dataset
from conv1d_cli.rundir.checkpoints import load_checkpoint

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


def test_resume_with_amplitude_is_exact(tiny_config):
    runs = tiny_config.parent / "runs"
    common = ["--quiet", "--set", "data.amplitude=0.1", "--set", "data.noise=0.05"]
    assert runner.invoke(app, ["train", str(tiny_config), *common, "--name", "a"]).exit_code == 0
    cut = ["--name", "b", "--set", "train.epochs=1"]
    assert runner.invoke(app, ["train", str(tiny_config), *common, *cut]).exit_code == 0
    resumed = runner.invoke(app, ["train", "--resume", str(runs / "b"), "--set", "train.epochs=2"])
    assert resumed.exit_code == 0, resumed.output
    a, b = (load_checkpoint(runs / n / "checkpoints" / "last.safetensors") for n in "ab")
    for key, value in a.model_state.items():
        np.testing.assert_array_equal(b.model_state[key], value)
