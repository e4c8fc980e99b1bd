"""Faults of the machine, provoked for real, and the state each leaves behind.

Two writers, kill -9, an unexpected exception, a full disk (injected, and a real 600 KB tmpfs),
and the umask: every case checks the exit code, the one-line message, summary.json's status,
that the last checkpoint loads, and that the run resumes afterwards.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from run_helpers import wait_for
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.rundir.checkpoints import load_checkpoint
from conv1d_cli.rundir.lock import LOCK_NAME, acquire_run_lock, read_holder
from conv1d_cli.training.loop import Trainer

runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def _listed(runs_dir: Path) -> dict[str, dict]:
    result = _cli("runs", runs_dir, "--json")
    assert result.exit_code == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)["runs"]}


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def _last_epoch(run: Path) -> int:
    return load_checkpoint(run / "checkpoints" / "last.safetensors").meta["epoch"]


def test_two_writers_kill_9_crashed_and_the_stale_lock_taken_over(tiny_config):
    runs_dir = tiny_config.parent / "runs"
    run = runs_dir / "tiny"
    # no curves.png: the resumed process below then skips importing matplotlib (half a second)
    args = ["--set", "train.epochs=1", "--set", "output.plots=false"]
    assert _cli("train", tiny_config, "-q", *args).exit_code == 0
    command = ["train", "--resume", str(run), "--quiet", "--set", "train.epochs=100000"]
    first = subprocess.Popen(
        [sys.executable, "-m", "conv1d_cli", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        held = wait_for(lambda: (h := read_holder(run)) is not None and h.pid == first.pid, 60)
        assert held, "the first writer never took the lock"
        second = _cli("train", "--resume", run, "-q")
        assert second.exit_code == 2
        line = _one_line(second.stderr)
        assert f"{run} is in use by PID {first.pid} on host" in line and "since" in line
        evaluation = _cli("eval", run)  # eval writes eval.json into the run: refused too
        assert evaluation.exit_code == 2 and f"PID {first.pid}" in evaluation.stderr
        assert not (run / "eval.json").exists()
        listed = _listed(runs_dir)["tiny"]
        assert listed["status"] == "running" and f"PID {first.pid}" in listed["holder"]
    finally:
        first.kill()  # kill -9 by PID: no handler runs, the lock file stays behind
        first.wait(timeout=30)
    assert _summary(run)["status"] == "running"  # what the dead process last wrote
    assert _listed(runs_dir)["tiny"]["status"] == "crashed"
    assert read_holder(run).pid == first.pid
    epoch = _last_epoch(run)  # loadable after kill -9
    resumed = _cli("train", "--resume", run, "-q", "--set", f"train.epochs={epoch + 1}")
    assert resumed.exit_code == 0, resumed.stderr
    takeover = [line for line in resumed.stderr.splitlines() if "taking over" in line]
    assert len(takeover) == 1 and f"PID {first.pid}" in takeover[0] and "gone" in takeover[0]
    assert _summary(run)["status"] == "completed"
    assert not (run / LOCK_NAME).exists()
    assert _listed(runs_dir)["tiny"]["status"] == "completed"


def test_an_unexpected_error_leaves_failed_with_its_message_and_resumes(tiny_config, monkeypatch):
    run = tiny_config.parent / "runs" / "tiny"
    original = Trainer._end_epoch

    def breaks_at_epoch_2(self, row):
        if row["epoch"] == 2:
            raise RuntimeError("boom in epoch 2\nsecond line")
        original(self, row)

    monkeypatch.setattr(Trainer, "_end_epoch", breaks_at_epoch_2)
    result = _cli("train", tiny_config, "-q")
    assert result.exit_code == 1
    assert "unexpected RuntimeError: boom in epoch 2" in _one_line(result.stderr)
    summary = _summary(run)
    assert summary["status"] == "failed"
    assert summary["error"] == "RuntimeError: boom in epoch 2"
    assert not (run / LOCK_NAME).exists()
    listed = _listed(run.parent)["tiny"]
    assert (listed["status"], listed["error"]) == ("failed", "RuntimeError: boom in epoch 2")
    monkeypatch.setattr(Trainer, "_end_epoch", original)
    assert _last_epoch(run) == 1
    resumed = _cli("train", "--resume", run, "-q")
    assert resumed.exit_code == 0, resumed.stderr
    assert _summary(run)["status"] == "completed" and "error" not in _summary(run)


def _fail_fsync_of(name: str, on_call: int, monkeypatch) -> None:
    """os.fsync raises ENOSPC on the ``on_call``-th fsync of a file whose path holds ``name``."""
    real_fsync, calls = os.fsync, []

    def fsync(fd: int) -> None:
        if name in os.readlink(f"/proc/self/fd/{fd}"):
            calls.append(fd)
            if len(calls) == on_call:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_disk_full_on_the_checkpoint_one_line_exit_4_and_resumable(tiny_config, monkeypatch):
    run = tiny_config.parent / "runs" / "tiny"
    _fail_fsync_of("last.safetensors", 2, monkeypatch)  # epoch 2's save of last
    result = _cli("train", tiny_config, "-q")
    assert result.exit_code == 4
    last = run / "checkpoints" / "last.safetensors"
    assert _one_line(result.stderr) == (
        f"error: no space left on device while writing {last}; {last} is intact: "
        f"free space, then resume with: conv1d train --resume {run}"
    )
    assert _last_epoch(run) == 1  # the previous checkpoint, whole
    assert not [p for p in (run / "checkpoints").iterdir() if p.suffix == ".tmp"]
    summary = _summary(run)
    assert summary["status"] == "failed" and "no space left on device" in summary["error"]
    assert not (run / LOCK_NAME).exists()
    monkeypatch.undo()  # space freed
    resumed = _cli("train", "--resume", run, "-q")
    assert resumed.exit_code == 0, resumed.stderr
    assert _summary(run)["status"] == "completed" and _last_epoch(run) == 2
    epochs = [line.split(",")[0] for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert epochs == ["1", "2"]


def test_disk_full_on_metrics_csv_leaves_no_half_row(tiny_config, monkeypatch):
    run = tiny_config.parent / "runs" / "tiny"
    # fsyncs of metrics.csv: the header, the resume-safe rewrite, then epoch 1's row
    _fail_fsync_of("metrics.csv", 3, monkeypatch)
    result = _cli("train", tiny_config, "-q")
    assert result.exit_code == 4
    assert f"no space left on device while writing {run / 'metrics.csv'}" in _one_line(
        result.stderr
    )
    assert (run / "metrics.csv").read_text().count("\n") == 1  # the header only
    assert "no checkpoint was saved yet" in result.stderr


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 600 KB tmpfs (needs root and mount permission; skipped otherwise)."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_real_full_tmpfs_then_resume_after_space_is_freed(tiny_config, small_tmpfs):
    runs_dir = small_tmpfs / "runs"
    run = runs_dir / "tiny"
    # 64 channels -> dense of 64*32 inputs: a checkpoint of about 250 KB (weights + Adam's m, v);
    # the second epoch's save needs a third copy next to best and last: more than 600 KB.
    args = ["--set", "model.layers[0].channels=64", "--runs-dir", runs_dir, "-q"]
    result = _cli("train", tiny_config, *args, "--set", "train.epochs=4")
    assert result.exit_code == 4, result.stderr
    line = _one_line(result.stderr)
    assert line.startswith(f"error: no space left on device while writing {run}/")
    assert f"resume with: conv1d train --resume {run}" in line
    assert _last_epoch(run) >= 1
    assert not [p for p in (run / "checkpoints").iterdir() if p.suffix == ".tmp"]
    assert _summary(run)["status"] == "failed"
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_tmpfs)], check=True)
    resumed = _cli("train", "--resume", run, "-q")
    assert resumed.exit_code == 0, resumed.stderr
    assert _summary(run)["status"] == "completed" and _last_epoch(run) == 4


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_run_files_honour_the_umask(tiny_config, umask, mode):
    run = tiny_config.parent / "runs" / "tiny"
    previous = os.umask(umask)
    try:
        assert _cli("train", tiny_config, "-q").exit_code == 0
        assert _cli("eval", run).exit_code == 0
    finally:
        os.umask(previous)
    files = [
        run / name
        for name in ("config.yaml", "summary.json", "metrics.csv", "train.log", "curves.png")
    ]
    files += [run / "eval.json", run / "confusion.png"]
    files += list((run / "checkpoints").iterdir())
    assert len(files) == 9
    assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {
        f.name: oct(mode) for f in files
    }


def test_resume_names_the_holder_even_before_the_first_checkpoint(tiny_config):
    run = tiny_config.parent / "runs" / "tiny"
    assert _cli("train", tiny_config, "-q").exit_code == 0
    shutil.rmtree(run / "checkpoints")  # as if its first epoch were still running
    with acquire_run_lock(run, "conv1d train"):
        result = _cli("train", "--resume", run, "-q")
    assert result.exit_code == 2
    assert f"is in use by PID {os.getpid()}" in _one_line(result.stderr)
    result = _cli("train", "--resume", run, "-q")  # free: now the missing checkpoint is the news
    assert result.exit_code == 2 and "holds no checkpoints/last.safetensors" in result.stderr
