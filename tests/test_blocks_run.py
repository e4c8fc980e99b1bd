"""Blocks end to end: summary tree, exact resume, eval from the checkpoint alone; a last dense
without units in all of them."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
from run_helpers import StopAfter, rows, weights
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.errors import TrainingInterrupted
from conv1d_cli.inference.evaluate import evaluate_checkpoint
from conv1d_cli.training.setup import FinishedRun, run_training, setup_training

runner = CliRunner()

BLOCKS_CONFIG = """
name: blocks
seed: 0
data: {dataset: digits, limit: 400, val_split: 0.2, test_split: 0.25}
model:
  layers:
    - {type: conv1d, channels: 4, kernel: 3, padding: causal}
    - type: residual
      layers:
        - {type: conv1d, channels: 6, kernel: 3, stride: 2, padding: same}
        - {type: batchnorm1d}
        - {type: relu}
        - {type: dropout, rate: 0.2}
        - {type: conv1d, channels: 6, kernel: 3, padding: same}
      shortcut_batchnorm: true
      activation: relu
    - type: parallel
      branches:
        - [{type: conv1d, channels: 3, kernel: 1}]
        - - {type: maxpool1d, kernel: 3, stride: 1, padding: 1}
          - {type: conv1d, channels: 2, kernel: 1}
    - {type: flatten}
    - {type: dense}
optimizer: {type: adam, lr: 0.01}
train: {epochs: 3, batch_size: 32}
output: {runs_dir: RUNS}
"""


@pytest.fixture
def blocks_config(tmp_path):
    path = tmp_path / "blocks.yaml"
    path.write_text(BLOCKS_CONFIG.replace("RUNS", str(tmp_path / "runs")))
    return path


def test_summary_shows_blocks_as_a_tree(blocks_config):
    result = runner.invoke(app, ["summary", str(blocks_config), "--json"])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    layer_rows = payload["layers"]
    assert [(r["path"], r["depth"], r["output_shape"]) for r in layer_rows[:4]] == [
        ("0", 0, [4, 64]),
        ("1", 0, [6, 32]),
        ("1.layers.0", 1, [6, 32]),
        ("1.layers.1", 1, [6, 32]),
    ]
    paths = [r["path"] for r in layer_rows]
    assert paths[6:] == [
        "1.layers.4", "1.shortcut.0", "1.shortcut.1", "1.activation",
        "2", "2.branches.0.0", "2.branches.1.0", "2.branches.1.1", "3", "4",
    ]  # fmt: skip
    # conv 1->4 k3: 16; block: 4->6 k3 (78) + bn (12) + 6->6 k3 (114) + 1x1 4->6 no bias (24)
    # + bn (12); branches: 6->3 (21), 6->2 (14); dense (5*32)->10: 1610.
    assert payload["total_params"] == 16 + (78 + 12 + 114 + 24 + 12) + (21 + 14) + 1610
    assert layer_rows[1]["params"] == 78 + 12 + 114 + 24 + 12
    assert payload["total_macs"] == sum(r["macs"] for r in layer_rows if r["depth"] == 0)
    assert layer_rows[-1]["output_shape"] == [10]
    text = runner.invoke(app, ["summary", str(blocks_config)]).stdout
    assert "1.layers.0" in text and "  Conv1d(4, 6" in text and "Residual(" in text


def test_interrupted_blocks_run_resumes_bit_for_bit_and_evaluates(blocks_config):
    reference = setup_training(blocks_config, name="reference")
    run_training(reference)

    reporter = StopAfter(13, signal.SIGTERM)  # mid-epoch 2
    setup = setup_training(blocks_config, name="interrupted", reporter=reporter)
    reporter.trainer = setup.trainer
    with pytest.raises(TrainingInterrupted):
        run_training(setup)
    run = setup.trainer.run_dir
    resumed = setup_training(None, resume=run)
    assert not isinstance(resumed, FinishedRun)
    run_training(resumed)

    ref_run = reference.trainer.run_dir
    want, got = weights(ref_run), weights(run)
    assert "1.shortcut.1.running_mean" in want and "2.branches.1.1.W" in want
    assert set(want) == set(got)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert rows(run) == rows(ref_run)

    result = evaluate_checkpoint(run)
    summary = json.loads((run / "summary.json").read_text())
    assert result.report["n"] == summary["test"]["n"] == 100
    assert result.report["accuracy"] == pytest.approx(summary["test"]["accuracy"], abs=1e-12)
    assert result.report["accuracy"] > 0.5  # 10 classes: it learned something in 3 epochs
    assert "units: null" in (run / "config.yaml").read_text()  # the classes fill it in again
