"""End to end through the CLI: train leaves every file, eval reads it back, outsize, summary."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import TINY_CONFIG
from typer.testing import CliRunner

from conv1d_cli import __version__
from conv1d_cli.cli.app import app
from conv1d_cli.rundir.checkpoints import load_checkpoint
from conv1d_cli.rundir.metrics_log import METRIC_COLUMNS

runner = CliRunner()


def _train(config: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["train", str(config), "--quiet", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory) -> Path:
    """`conv1d train` of the tiny config, once for this module; each test gets its own copy."""
    folder = tmp_path_factory.mktemp("trained-once")
    config = folder / "tiny.yaml"
    config.write_text(textwrap.dedent(TINY_CONFIG).replace("RUNS", str(folder / "runs")))
    code, _out, err = _train(config)
    assert code == 0, err
    return folder / "runs" / "tiny"


@pytest.fixture
def trained_run(trained_once, tiny_config) -> Path:
    """A finished run of ``tiny_config`` in its runs folder (a copy of the one trained)."""
    run = tiny_config.parent / "runs" / "tiny"
    shutil.copytree(trained_once, run)
    return run


def test_train_leaves_every_file(trained_run):
    run = trained_run
    for name in ("config.yaml", "metrics.csv", "summary.json", "curves.png", "train.log"):
        assert (run / name).is_file(), name
    for kind in ("last", "best"):
        assert (run / "checkpoints" / f"{kind}.safetensors").is_file()
    with (run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == METRIC_COLUMNS
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert all(float(row["epoch_seconds"]) > 0 for row in rows)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["epochs_completed"] == 2
    assert summary["best"]["metric"] == "val_acc"
    assert summary["best"]["epoch"] in (1, 2)
    assert 0 < summary["test"]["accuracy"] <= 1
    assert summary["versions"]["conv1d"] == __version__
    assert len((run / "train.log").read_text().splitlines()) == 2
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["optimizer"]["betas"] == [0.9, 0.999]  # defaults are written out
    assert resolved["name"] == "tiny"


def test_eval_reads_back_the_same_accuracy(trained_run):
    summary = json.loads((trained_run / "summary.json").read_text())
    result = runner.invoke(app, ["eval", str(trained_run), "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == summary["test"]["n"]
    assert report["accuracy"] == pytest.approx(summary["test"]["accuracy"], abs=1e-12)
    # float32 losses summed in other batches: equal to float32 rounding
    assert report["loss"] == pytest.approx(summary["test"]["loss"], rel=1e-5)
    assert (trained_run / "eval.json").is_file()
    assert (trained_run / "confusion.png").is_file()
    assert sum(map(sum, report["confusion"])) == report["n"]
    assert len(report["per_class"]) == 10


def test_eval_human_output_has_tables(trained_run):
    result = runner.invoke(app, ["eval", str(trained_run / "checkpoints" / "best.safetensors")])
    assert result.exit_code == 0, result.stderr
    assert "accuracy" in result.stdout
    assert "precision" in result.stdout and "confusion matrix" in result.stdout


def test_set_overrides_land_in_config_yaml(tiny_config):
    code, _, err = _train(
        tiny_config, "--set", "optimizer.lr=2e-3", "--set", "train.epochs=1", "--name", "custom"
    )
    assert code == 0, err
    resolved = yaml.safe_load((tiny_config.parent / "runs" / "custom" / "config.yaml").read_text())
    assert resolved["optimizer"]["lr"] == 0.002
    assert resolved["train"]["epochs"] == 1
    assert resolved["name"] == "custom"


def test_runs_are_never_overwritten(tiny_config):
    for _ in range(2):
        assert _train(tiny_config, "--set", "train.epochs=1")[0] == 0
    assert sorted(p.name for p in (tiny_config.parent / "runs").iterdir()) == ["tiny", "tiny-2"]


def test_print_config_prints_and_creates_nothing(tiny_config):
    result = runner.invoke(app, ["train", str(tiny_config), "--print-config"])
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load(result.stdout)["train"]["batch_size"] == 32
    assert not (tiny_config.parent / "runs").exists()


def test_json_output_is_one_object(tiny_config):
    result = runner.invoke(app, ["train", str(tiny_config), "--json"])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["status"] == "completed"
    assert Path(payload["run_dir"]).is_dir()


def test_resume_of_a_finished_run_says_so(trained_run, tiny_config):
    result = runner.invoke(app, ["train", "--resume", str(trained_run)])
    assert result.exit_code == 0, result.stderr
    assert "finished" in result.stderr


def test_resume_continues_with_more_epochs(trained_run, tiny_config):
    result = runner.invoke(
        app, ["train", str(tiny_config), "--resume", str(trained_run), "--set", "train.epochs=3"]
    )
    assert result.exit_code == 0, result.stderr
    with (trained_run / "metrics.csv").open() as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1", "2", "3"]
    assert load_checkpoint(trained_run / "checkpoints" / "last.safetensors").meta["epoch"] == 3
    assert sorted(p.name for p in trained_run.parent.iterdir()) == ["tiny"]  # no new run dir


def test_resume_with_a_different_config_is_refused(trained_run, tiny_config):
    result = runner.invoke(
        app, ["train", str(tiny_config), "--resume", str(trained_run), "--set", "optimizer.lr=0.5"]
    )
    assert result.exit_code == 2
    assert "optimizer.lr" in result.stderr and "only train.epochs" in result.stderr


def test_outsize():
    result = runner.invoke(app, ["outsize", "--n", "784", "--f", "7", "--s", "2", "--p", "3"])
    assert result.exit_code == 0
    assert result.stdout == "392\n"
    same = runner.invoke(app, ["outsize", "--n", "784", "--f", "7", "--s", "2", "--p", "same"])
    assert same.stdout == "392\n"
    valid = runner.invoke(app, ["outsize", "--n", "10", "--f", "3", "--p", "valid", "--d", "2"])
    assert valid.stdout == "6\n"


def test_outsize_explain_shows_the_numbers():
    result = runner.invoke(
        app, ["outsize", "--n", "784", "--f", "7", "--s", "2", "--p", "3", "--explain"]
    )
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[-1] == "392"
    assert "floor((784 + 2*3 - 1*(7-1) - 1) / 2) + 1" in lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["--n", "5", "--f", "7"],
        ["--n", "784", "--f", "7", "--s", "0"],
        ["--n", "784", "--f", "7", "--p", "-1"],
        ["--n", "784", "--f", "7", "--p", "half"],
    ],
)
def test_outsize_impossible_settings_exit_2_in_one_line(args):
    result = runner.invoke(app, ["outsize", *args])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: ")


def test_summary_table_and_totals(tiny_config):
    result = runner.invoke(app, ["summary", str(tiny_config), "--json"])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    # conv 1->4, k3: 4*1*3 + 4 = 16; (4, 32) flattened: 128*10 + 10 = 1290.
    assert payload["total_params"] == 16 + 1290
    assert payload["input_shape"] == [1, 64]
    assert [layer["output_shape"] for layer in payload["layers"]] == [
        [4, 32],
        [4, 32],
        [4, 32],
        [128],
        [10],
    ]
    assert payload["total_macs"] == 32 * 4 * 1 * 3 + 128 * 10
    text = runner.invoke(app, ["summary", str(tiny_config)])
    assert text.exit_code == 0
    assert "1,306" in text.stdout and "conv1d" in text.stdout.lower()


def test_version_and_help():
    assert runner.invoke(app, ["--version"]).stdout.strip() == f"conv1d {__version__}"
    for command in ([], ["train"], ["eval"], ["outsize"], ["summary"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.stdout


def test_real_subprocess_prints_plain_lines(tiny_config):
    """Not a terminal: one plain line per epoch on stderr, results on stdout."""
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "conv1d_cli", "train", str(tiny_config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    epoch_lines = [line for line in proc.stderr.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 2 and "train_loss" in epoch_lines[0]
    assert "\x1b[" not in proc.stderr  # no escape codes: no colour, no redrawn bars
    assert proc.stdout.splitlines()[0].startswith("run: ")
    assert "test: accuracy" in proc.stdout
