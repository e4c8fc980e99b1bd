"""``conv1d runs`` (table and JSON, live/crashed through the lock, sweeps) and ``runs compare``."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.rundir.lock import LOCK_NAME, acquire_run_lock

runner = CliRunner()


def _cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def _edit_summary(run: Path, **changes) -> None:
    summary = json.loads((run / "summary.json").read_text())
    summary.update(changes)
    (run / "summary.json").write_text(json.dumps(summary))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """Two runs trained once for the module: short (2 epochs) and long (3)."""
    from tests.conftest import TINY_CONFIG

    base = tmp_path_factory.mktemp("trained")
    config = base / "tiny.yaml"
    config.write_text(textwrap.dedent(TINY_CONFIG).replace("RUNS", str(base / "runs")))
    with pytest.MonkeyPatch.context() as patch:  # caches stay out of ~/.cache (conftest's rule)
        patch.setenv("CONV1D_DATA_HOME", str(tmp_path_factory.getbasetemp() / "data-home"))
        assert _cli("train", config, "-q", "--name", "short").exit_code == 0
        long = _cli("train", config, "-q", "--name", "long", "--set", "train.epochs=3")
        assert long.exit_code == 0
    return base / "runs"


@pytest.fixture
def runs_dir(trained, tmp_path) -> Path:
    """The two trained runs, a sweep's trial, a crashed run and a live one (a fresh copy)."""
    runs = tmp_path / "runs"
    shutil.copytree(trained, runs)
    _edit_summary(runs / "short", started="2026-01-02T00:00:00Z")
    _edit_summary(runs / "long", started="2026-01-03T00:00:00Z")
    shutil.copytree(runs / "short", runs / "sweep" / "trial-000")
    _edit_summary(runs / "sweep" / "trial-000", started="2026-01-01T00:00:00Z")
    shutil.copytree(runs / "long", runs / "crashed")
    _edit_summary(runs / "crashed", status="running", started="2026-01-04T00:00:00Z")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a PID that is gone
    lock = {"pid": child.pid, "host": socket.gethostname(), "started": "x", "command": "c"}
    (runs / "crashed" / LOCK_NAME).write_text(json.dumps(lock))
    shutil.copytree(runs / "long", runs / "live")
    _edit_summary(runs / "live", status="running", started="2026-01-05T00:00:00Z")
    (runs / "not-a-run").mkdir()
    return runs


def test_runs_json_lists_every_run_oldest_first_with_live_and_crashed(runs_dir):
    with acquire_run_lock(runs_dir / "live", "conv1d train"):
        result = _cli("runs", runs_dir, "--json")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    rows = payload["runs"]
    assert [row["name"] for row in rows] == ["sweep/trial-000", "short", "long", "crashed", "live"]
    by_name = {row["name"]: row for row in rows}
    assert by_name["short"]["status"] == "completed"
    assert (by_name["short"]["epochs_completed"], by_name["short"]["epochs"]) == (2, 2)
    assert (by_name["long"]["epochs_completed"], by_name["long"]["epochs"]) == (3, 3)
    assert by_name["long"]["monitor"] == "val_acc"
    summary = json.loads((runs_dir / "long" / "summary.json").read_text())
    assert by_name["long"]["best"] == summary["best"]["value"]
    assert by_name["long"]["test_accuracy"] == summary["test"]["accuracy"]
    assert by_name["long"]["wall_seconds"] == summary["wall_seconds"]
    assert by_name["crashed"]["status"] == "crashed"  # says running, nobody holds the lock
    assert by_name["live"]["status"] == "running"
    assert by_name["live"]["holder"].startswith("PID ")
    assert by_name["sweep/trial-000"]["status"] == "completed"


def test_runs_table(runs_dir):
    result = runner.invoke(app, ["runs", str(runs_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "6 runs" not in text and "5 runs in" in text
    for word in ("run", "status", "epochs", "monitor", "best", "test acc", "wall", "started"):
        assert word in text
    lines = text.splitlines()
    row = next(line for line in lines if line.split() and line.split()[0] == "long")
    assert "completed" in row and "3/3" in row and "val_acc" in row and "2026-01-03 00:00" in row
    assert any("crashed" in line for line in lines)
    assert text.index("sweep/trial-000") < text.index("short") < text.index("crashed")


def test_runs_of_an_empty_or_missing_folder(tmp_path):
    result = _cli("runs", tmp_path)
    assert result.exit_code == 0 and f"no runs in {tmp_path}" in result.stderr
    missing = _cli("runs", tmp_path / "nope")
    assert missing.exit_code == 2
    assert f"runs folder {tmp_path / 'nope'} does not exist" in missing.stderr


def test_compare_draws_one_png_and_prints_the_side_by_side_table(runs_dir, tmp_path):
    out = tmp_path / "both.png"
    result = runner.invoke(
        app,
        ["runs", "compare", str(runs_dir / "short"), str(runs_dir / "long"), "--out", str(out)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and out.stat().st_size > 5000
    text = result.stdout
    assert "short" in text and "long" in text
    assert "  train.epochs: 2 | 3" in text.splitlines()  # config differences, per key
    assert "seed:" not in text  # only keys that differ
    as_json = _cli("runs", "compare", runs_dir / "short", runs_dir / "long", "--out", out, "--json")
    payload = json.loads(as_json.stdout)
    assert payload["table"]["config train.epochs"] == ["2", "3"]
    assert payload["table"]["epochs"] == ["2/2", "3/3"]
    assert [row["name"] for row in payload["runs"]] == ["short", "long"]


def test_compare_and_runs_refuse_bad_arguments(runs_dir, tmp_path):
    one = _cli("runs", "compare", runs_dir / "short")
    assert one.exit_code == 2 and "at least two run directories" in one.stderr
    not_run = _cli("runs", "compare", runs_dir / "short", runs_dir / "not-a-run")
    assert not_run.exit_code == 2 and "is not a run directory" in not_run.stderr
    stray = _cli("runs", runs_dir, "--out", tmp_path / "x.png")
    assert stray.exit_code == 2 and "--out belongs to" in stray.stderr
    two = _cli("runs", runs_dir, runs_dir)
    assert two.exit_code == 2
    no_folder = _cli("runs", "compare", runs_dir / "short", runs_dir / "long", "--out", "/no/x.png")
    assert no_folder.exit_code == 2 and "does not exist" in no_folder.stderr


def test_readme_run_statuses_table_is_the_runstatus_list(runs_dir):
    from conv1d_cli.rundir.status import MEANING, RunStatus

    page = (Path(__file__).parents[1] / "docs" / "runs.md").read_text()
    section = page.split("## Run statuses", 1)[1].split("\n\n")[2]  # the table
    listed = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
    assert listed == [s.value for s in RunStatus] and set(MEANING) == set(RunStatus)
    # a pruned trial is listed as such (conv1d runs shows what summary.json says)
    _edit_summary(runs_dir / "sweep" / "trial-000", status="pruned")
    result = runner.invoke(app, ["runs", str(runs_dir)], env={"COLUMNS": "200"})
    row = next(line for line in result.stdout.splitlines() if "sweep/trial-000" in line)
    assert "pruned" in row.split()


def test_a_pruned_run_is_marked_under_its_lock_and_resumes(runs_dir):
    from conv1d_cli.sweep.sweepdir import mark_pruned

    run = runs_dir / "sweep" / "trial-000"  # 2 epochs, as a pruned trial's process leaves it
    _edit_summary(run, status="interrupted")
    with acquire_run_lock(run, "conv1d train --resume"):  # resumed meanwhile: left alone
        why = mark_pruned(run)
    assert why is not None and "still says interrupted" in why and "in use by PID" in why
    assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    assert mark_pruned(run) is None
    assert json.loads((run / "summary.json").read_text())["status"] == "pruned"
    assert not (run / LOCK_NAME).exists()
    # conv1d train --resume trains a pruned run on from its checkpoint, like any stopped run
    resumed = _cli("train", "--resume", run, "-q", "--set", "train.epochs=3")
    assert resumed.exit_code == 0, resumed.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 3
    assert mark_pruned(run) is None  # only an interrupted summary is ever relabelled
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
