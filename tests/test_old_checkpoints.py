"""Checkpoints written by an earlier version load and predict as they did then.

tests/data/checkpoint-a84f575/ holds a run of every-kind.yaml (14 layer kinds, blocks nested)
trained by conv1d at commit a84f575, before the code moved into role packages, with the class
probabilities that version predicted for the first 40 of scikit-learn's digits and its ``conv1d
eval`` result (146 of the 360 held-out digits, loss 1.923856). A later version that renames a
parameter, a layer kind or a metadata key fails here instead of in a user's hands.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from conv1d_cli import load_model
from conv1d_cli.cli.app import app

FIXTURE = Path(__file__).parent / "data" / "checkpoint-a84f575"


def _checkpoint(tmp_path: Path) -> Path:
    # A copy outside any run folder: eval of a lone checkpoint writes nothing beside it.
    path = tmp_path / "every-kind.safetensors"
    shutil.copyfile(FIXTURE / "every-kind.safetensors", path)
    return path


def test_a_checkpoint_of_an_earlier_version_predicts_what_it_predicted_then(tmp_path):
    model = load_model(_checkpoint(tmp_path))
    assert model.input_shape == (1, 64) and model.n_classes == 10
    samples = load_digits().data[:40].astype(np.float32)
    expected = np.load(FIXTURE / "expected_proba.npy")
    # float32 through ~20 layers: another CPU's BLAS rounds differently, by far less than 1e-5
    np.testing.assert_allclose(model.predict_proba(samples), expected, rtol=1e-4, atol=1e-5)


def test_eval_of_an_earlier_versions_checkpoint_gives_its_result(tmp_path):
    result = CliRunner().invoke(app, ["eval", str(_checkpoint(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 360
    # one borderline digit may round the other way on another CPU, never more
    assert abs(report["accuracy"] * 360 - 146) <= 1
    assert abs(report["loss"] - 1.923856) < 1e-4
