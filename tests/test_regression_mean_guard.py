"""A regression run with a validation split starts at the training mean (its head's weights
zero, its bias the mean target) and keeps that network as best until an epoch beats it on
validation: noise targets end with the mean predictor, a learnable target with a trained one."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
from freq_files import make_freq
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.inference.load import load_model

runner = CliRunner()


def _run(tmp_path: Path, y: np.ndarray, lr: float, name: str) -> Path:
    x, _ = make_freq(200, seed=3)
    data = tmp_path / f"{name}.npz"
    np.savez(data, x=x[:160], y=y[:160], x_test=x[160:], y_test=y[160:])
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        textwrap.dedent(f"""
        seed: 0
        data: {{path: {data}, val_split: 0.25}}
        model:
          layers:
            - {{type: conv1d, channels: 8, kernel: 7, padding: same}}
            - {{type: relu}}
            - {{type: globalavgpool1d}}
            - {{type: dense}}
        optimizer: {{lr: {lr}}}
        train: {{epochs: 3, batch_size: 16}}
        output: {{runs_dir: {tmp_path / "runs"}, plots: false}}
        """)
    )
    result = runner.invoke(app, ["train", str(config), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout)["run_dir"])


def test_noise_targets_keep_the_training_mean(tmp_path):
    noise = np.random.default_rng(7).normal(size=200)
    run = _run(tmp_path, noise, lr=0.5, name="noise")  # a rate that only makes it worse
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best"] == {"epoch": 0, "metric": "val_rmse", "value": summary["best"]["value"]}
    assert summary["epochs_completed"] == 3  # it trained; no epoch beat the mean
    model = load_model(run)  # best
    x, _ = make_freq(200, seed=3)
    predictions = model.predict(x)
    mean = model.target_scaling["mean"][0]  # the training split's mean target
    np.testing.assert_allclose(predictions, mean, rtol=1e-6)
    # The test RMSE is the mean predictor's on the 40 test series.
    expected = np.sqrt(np.mean((noise[160:] - mean) ** 2))
    np.testing.assert_allclose(summary["test"]["rmse"], expected, rtol=1e-5)


def test_a_learnable_target_keeps_a_trained_epoch(tmp_path):
    _, cycles = make_freq(200, seed=3)
    run = _run(tmp_path, cycles, lr=0.01, name="freq")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best"]["epoch"] >= 1
    model = load_model(run)
    x, _ = make_freq(200, seed=3)
    assert np.ptp(model.predict(x)) > 0.1  # not a constant
