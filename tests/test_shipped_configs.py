"""Every config in configs/ validates and trains for one short epoch on its own kind of data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from idx_files import write_idx_folder
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.data.synthetic import write_example_signals

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
runner = CliRunner()


def _data_overrides(name: str, tmp_path: Path) -> list[str]:
    """Point configs whose data is not on every machine at small files the test writes."""
    if name == "signals":
        return [f"data.path={write_example_signals(tmp_path / 'signals.npz')}"]
    if name == "mnist-full":  # OpenML needs the internet: the same layout from IDX files
        folder = write_idx_folder(tmp_path / "mnist-idx", n_train=300, n_test=50)
        return ["data.source=idx", f"data.path={folder}"]
    if name == "fashion-mnist":  # data.path comes first in the search chain
        return [f"data.path={write_idx_folder(tmp_path / 'fashion', n_train=300, n_test=50)}"]
    return ["data.limit=600"]


def test_every_dataset_has_a_shipped_config():
    datasets = set()
    for path in CONFIGS.glob("*.yaml"):
        from conv1d_cli.config import load_config

        datasets.add(load_config(path).data.dataset)
    assert {"mnist", "fashion-mnist", "mnist1d", "digits", "npz"} <= datasets


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_config_trains_one_epoch(path, tmp_path):
    args = ["train", str(path), "--runs-dir", str(tmp_path / "runs"), "--quiet", "--json"]
    for override in [*_data_overrides(path.stem, tmp_path), "train.epochs=1"]:
        args += ["--set", override]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed"
    assert 0.0 <= summary["test"]["accuracy"] <= 1.0
