"""Names that say what ran (issue 22, item 6) and a short model summary off a terminal (item 8).

A run's default name is the config's name plus the data file's stem (``resnet1d-GunPoint``);
``conv1d runs`` shows each run's data; off a terminal ``conv1d train`` shows the model in two
lines and writes the whole table to the run's ``model.txt``.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config import resolve_config
from conv1d_cli.config.loader import run_name_for

ROOT = Path(__file__).parents[1]
runner = CliRunner()


@pytest.mark.parametrize(
    ("config_name", "data_path", "expected"),
    [
        ("resnet1d", "/archive/GunPoint/GunPoint_TRAIN.ts", "resnet1d-GunPoint"),
        ("resnet1d", "Coffee_TRAIN.tsv", "resnet1d-Coffee"),  # UCR 2018's .tsv
        ("fcn", "data/my_signals.npz", "fcn-my_signals"),  # _TRAIN only is dropped
        ("fcn", "two words.csv", "fcn-two-words"),  # a folder name needs no blank
        ("signals", "examples/signals.npz", "signals"),  # the stem says nothing new
        ("mnist", None, "mnist"),  # no file: embedded data
    ],
)
def test_default_run_name_adds_the_data_files_stem(config_name, data_path, expected):
    assert run_name_for(config_name, data_path) == expected


def test_a_folder_adds_nothing(tmp_path):
    assert run_name_for("mnist-full", str(tmp_path)) == "mnist-full"  # IDX files in a folder


def test_resolve_config_names_template_runs_by_their_data_and_keeps_explicit_names():
    template = ROOT / "configs" / "templates" / "resnet1d.yaml"
    gunpoint = ["data.path=/archive/GunPoint/GunPoint_TRAIN.ts"]
    assert resolve_config(template, gunpoint).name == "resnet1d-GunPoint"
    arrow = ["data.path=/archive/ArrowHead/ArrowHead_TRAIN.ts"]
    assert resolve_config(template, arrow).name == "resnet1d-ArrowHead"
    assert resolve_config(template, gunpoint, name="mine").name == "mine"  # --name
    assert resolve_config(template, [*gunpoint, "name=given"]).name == "given"  # --set name=
    assert resolve_config(template).name == "resnet1d"  # no data file: the config's name


def _npz(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    y = np.arange(60) % 2
    x = rng.normal(size=(60, 32)).astype(np.float32) + y[:, None]
    np.savez(path, x=x, y=y)
    return path


TINY = """
seed: 0
data: {val_split: 0.0, test_split: 0.25}
model:
  layers:
    - {type: conv1d, channels: 4, kernel: 3, padding: same}
    - {type: relu}
    - {type: residual, layers: [{type: conv1d, channels: 4, kernel: 3, padding: same}]}
    - {type: flatten}
    - {type: dense}
optimizer: {type: adam, lr: 0.01}
train: {epochs: 1, batch_size: 16}
output: {runs_dir: RUNS, monitor: train_loss}
"""


def test_two_runs_on_different_files_are_named_by_them_and_listed_with_their_data(tmp_path):
    config = tmp_path / "tiny.yaml"  # no name: the file's stem, then the data file's
    runs = tmp_path / "runs"
    config.write_text(textwrap.dedent(TINY).replace("RUNS", str(runs)))
    for stem, seed in (("GunPoint_TRAIN", 0), ("ArrowHead_TRAIN", 1)):
        data = _npz(tmp_path / f"{stem}.npz", seed)
        result = runner.invoke(app, ["train", str(config), "--set", f"data.path={data}"])
        assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in runs.iterdir()) == ["tiny-ArrowHead", "tiny-GunPoint"]
    listed = runner.invoke(app, ["runs", str(runs)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[1].split()[:3] == ["run", "status", "data"]
    row = next(line for line in lines if line.startswith("tiny-GunPoint"))
    assert row.split()[:3] == ["tiny-GunPoint", "completed", "GunPoint_TRAIN.npz"]
    as_json = json.loads(runner.invoke(app, ["runs", str(runs), "--json"]).stdout)
    assert {r["name"]: r["data"] for r in as_json["runs"]} == {
        "tiny-ArrowHead": "ArrowHead_TRAIN.npz",
        "tiny-GunPoint": "GunPoint_TRAIN.npz",
    }


def test_off_a_terminal_train_shows_the_model_in_two_lines_and_writes_the_whole_table(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(textwrap.dedent(TINY).replace("RUNS", str(tmp_path / "runs")))
    data = _npz(tmp_path / "signals.npz", 0)
    result = runner.invoke(app, ["train", str(config), "--set", f"data.path={data}"])
    assert result.exit_code == 0, result.stderr
    run = tmp_path / "runs" / "tiny-signals"
    model_lines = [line for line in result.stderr.splitlines() if "model" in line]
    # CliRunner's stderr is not a terminal: no table, its numbers in one line and where it is
    assert "┃" not in result.stderr and "│" not in result.stderr
    assert model_lines[0].startswith("model: 5 layers (1 inside blocks), input (1, 32), ")
    assert "parameters, " in model_lines[0]
    assert model_lines[0].endswith(" multiply-accumulates per sample")
    assert model_lines[1] == f"  the whole table: {run / 'model.txt'}"
    summary = runner.invoke(app, ["summary", str(config), "--set", f"data.path={data}", "--json"])
    totals = json.loads(summary.stdout)
    assert f"{totals['total_params']:,} parameters" in model_lines[0]
    assert f"{totals['total_macs']:,} multiply-accumulates" in model_lines[0]
    table = (run / "model.txt").read_text()
    assert table.startswith("data: ")
    assert "Conv1d(1, 4" in table and "total" in table and f"{totals['total_params']:,}" in table
    assert "  Conv1d(4, 4" in table  # the layer inside the block, indented
    assert all(line == line.rstrip() for line in table.splitlines())


def test_quiet_and_json_runs_still_write_model_txt(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(textwrap.dedent(TINY).replace("RUNS", str(tmp_path / "runs")))
    data = _npz(tmp_path / "signals.npz", 0)
    result = runner.invoke(app, ["train", str(config), "-q", "--set", f"data.path={data}"])
    assert result.exit_code == 0, result.stderr
    assert "model" not in result.stderr
    assert "total" in (tmp_path / "runs" / "tiny-signals" / "model.txt").read_text()
