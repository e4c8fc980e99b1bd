"""Shared fixtures: a tiny config on bundled data, and an isolated data home for every test."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

TINY_CONFIG = """
name: tiny
seed: 0
data: {dataset: digits, limit: 400, val_split: 0.2, test_split: 0.25}
model:
  layers:
    - {type: conv1d, channels: 4, kernel: 3, stride: 2, padding: same}
    - {type: relu}
    - {type: dropout, rate: 0.1}
    - {type: flatten}
    - {type: dense, units: 10}
optimizer: {type: adam, lr: 0.01}
train: {epochs: 2, batch_size: 32}
output: {runs_dir: RUNS}
"""


@pytest.fixture(autouse=True)
def isolated_data_home(tmp_path_factory, monkeypatch):
    """Caches go to a per-session temporary folder, never the user's ~/.cache."""
    home = tmp_path_factory.getbasetemp() / "data-home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("CONV1D_DATA_HOME", str(home))
    return home


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    """A config that trains in well under a second: digits, one small conv, two epochs."""
    path = tmp_path / "tiny.yaml"
    runs = tmp_path / "runs"
    path.write_text(textwrap.dedent(TINY_CONFIG).replace("RUNS", str(runs)))
    return path
