"""The issue's "done when": a user's float npz and a .ts pair train to >= 0.9 test accuracy with a
config that names neither the data kind, the view, the normalization nor the classifier's width."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from signal_files import SINE_CLASSES, make_sines, write_sines
from ts_files import write_ts_pair
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.rundir.checkpoints import load_checkpoint

runner = CliRunner()
MINIMAL = """
data: {{path: {path}}}
model:
  layers:
    - {{type: conv1d, channels: 8, kernel: 9, padding: same}}
    - {{type: relu}}
    - {{type: globalavgpool1d}}
    - {{type: dense}}  # units: the number of classes
optimizer: {{lr: 0.01}}
train: {{epochs: 20}}
output: {{runs_dir: {runs}, plots: false}}
"""


def _train_minimal(tmp_path, data_path) -> dict:
    config = tmp_path / "minimal.yaml"
    config.write_text(textwrap.dedent(MINIMAL.format(path=data_path, runs=tmp_path / "runs")))
    result = runner.invoke(app, ["train", str(config), "--quiet", "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_float_npz_of_noisy_sines_learns(tmp_path):
    summary = _train_minimal(tmp_path, write_sines(tmp_path / "sines.npz"))
    assert summary["test"]["accuracy"] >= 0.9, summary["test"]
    run = tmp_path / "runs" / "minimal-sines"  # the config's name plus the data file's stem
    meta = load_checkpoint(run / "checkpoints" / "best.safetensors").meta
    assert meta["data"]["normalization"]["method"] == "standardize"  # auto, for float signals
    assert meta["config"]["data"]["dataset"] == "npz"
    assert meta["data"]["class_names"] == sorted(SINE_CLASSES)


@pytest.mark.parametrize("channels", [1, 2])
def test_a_ts_pair_learns_from_its_official_split(tmp_path, channels):
    x, y = make_sines(600, seed=1)
    rng = np.random.default_rng(2)
    # unequal lengths (96..128) and, for two channels, a noisier copy of the signal
    series = []
    for row in x:
        n = int(rng.integers(96, 129))
        rows = [row[:n]] + [row[:n] + rng.normal(0, 0.5, n) for _ in range(channels - 1)]
        series.append(np.stack(rows))
    path = write_ts_pair(
        tmp_path,
        "Sines",
        (series[:450], list(y[:450])),
        (series[450:], list(y[450:])),
        SINE_CLASSES,
    )
    summary = _train_minimal(tmp_path, path)
    assert summary["test"]["n"] == 150  # the _TEST file, not a held-out part of _TRAIN
    assert summary["test"]["accuracy"] >= 0.9, summary["test"]
    assert "padded at the end to 128" in summary["data"]
