"""Run directories, metrics file and checkpoint files: atomic, never overwritten, safe to open."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import safetensors.numpy

from conv1d_cli.errors import CheckpointError, RunDirError
from conv1d_cli.rundir.atomic import atomic_write_bytes
from conv1d_cli.rundir.checkpoints import (
    CHECKPOINT_VERSION,
    Checkpoint,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from conv1d_cli.rundir.layout import check_runs_dir_writable, create_run_dir
from conv1d_cli.rundir.metrics_log import MetricsLog


def _checkpoint() -> Checkpoint:
    rng = np.random.default_rng(0)
    return Checkpoint(
        model_state={"0.W": rng.standard_normal((4, 1, 3)).astype(np.float32), "0.b": np.zeros(4)},
        optimizer_state={"step": np.array(7, dtype=np.int64), "m.0.W": np.ones((4, 1, 3))},
        meta={"epoch": 3, "config": {"seed": 0}, "rng_state": {"state": {"state": 2**100}}},
        extra={"order": np.arange(10)},
    )


def test_checkpoint_round_trip_is_exact(tmp_path):
    path = tmp_path / "c.safetensors"
    original = _checkpoint()
    save_checkpoint(path, original)
    loaded = load_checkpoint(path)
    for name in ("model_state", "optimizer_state", "extra"):
        got, want = getattr(loaded, name), getattr(original, name)
        assert set(got) == set(want)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
            assert got[key].dtype == want[key].dtype
            assert got[key].shape == want[key].shape  # a 0-d step counter stays 0-d
    assert loaded.meta == original.meta  # including a 128-bit generator state


def test_truncated_checkpoint_is_one_clear_error(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, _checkpoint())
    data = path.read_bytes()
    for cut in (0, 5, 40, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated|not a checkpoint"):
            load_checkpoint(path)


def test_files_that_are_not_checkpoints_are_refused(tmp_path):
    text = tmp_path / "notes.safetensors"
    text.write_text("hello, this is not a checkpoint at all\n" * 3)
    with pytest.raises(CheckpointError, match="not a checkpoint|truncated"):
        load_checkpoint(text)
    foreign = tmp_path / "foreign.safetensors"
    foreign.write_bytes(safetensors.numpy.save({"w": np.ones(3)}, metadata={"x": "y"}))
    with pytest.raises(CheckpointError, match="not a conv1d checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "new.safetensors"
    metadata = {
        "format": "conv1d-checkpoint",
        "format_version": str(CHECKPOINT_VERSION + 1),
        "meta": "{}",
    }
    path.write_bytes(safetensors.numpy.save({"model.0.W": np.ones(3)}, metadata=metadata))
    with pytest.raises(CheckpointError, match="newer than this conv1d"):
        load_checkpoint(path)


def test_atomic_write_keeps_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.safetensors"
    atomic_write_bytes(path, b"old contents")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new contents")
    assert path.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temp file left


def test_run_dirs_are_never_reused(tmp_path):
    first = create_run_dir(tmp_path, "mnist")
    second = create_run_dir(tmp_path, "mnist")
    third = create_run_dir(tmp_path, "mnist")
    assert [first.name, second.name, third.name] == ["mnist", "mnist-2", "mnist-3"]
    assert (first / "checkpoints").is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_runs_dir_is_reported(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(RunDirError, match="not writable"):
        check_runs_dir_writable(locked / "runs")


def test_runs_dir_that_is_a_file_is_reported(tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    with pytest.raises(RunDirError, match="not a directory"):
        check_runs_dir_writable(blocker / "sub")


def test_metrics_log_appends_and_truncates(tmp_path):
    log = MetricsLog(tmp_path)
    for epoch in (1, 2, 3):
        row = {
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "train_acc": 0.5,
            "val_loss": float("nan"),
        }
        log.append(row, f"epoch {epoch}")
    rows = log.truncate_to_epoch(2)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert [int(r["epoch"]) for r in MetricsLog(tmp_path).read_rows()] == [1, 2]
    assert rows[1]["train_loss"] == 0.5
    assert np.isnan(rows[0]["val_loss"])  # a metric the run does not have stays empty
    assert (tmp_path / "train.log").read_text().splitlines() == ["epoch 1", "epoch 2", "epoch 3"]


def test_resolve_checkpoint_prefers_best_in_a_run_dir(tmp_path):
    run = create_run_dir(tmp_path, "r")
    last = run / "checkpoints" / "last.safetensors"
    save_checkpoint(last, _checkpoint())
    assert resolve_checkpoint(run, "best") == last  # falls back to last when no best yet
    best = run / "checkpoints" / "best.safetensors"
    save_checkpoint(best, _checkpoint())
    assert resolve_checkpoint(run, "best") == best
    with pytest.raises(CheckpointError):
        resolve_checkpoint(tmp_path / "nothing-here")
    empty = create_run_dir(tmp_path, "empty")
    with pytest.raises(CheckpointError, match="holds no"):
        resolve_checkpoint(empty)


def test_checkpoint_metadata_is_plain_json(tmp_path):
    """Loading reads JSON and raw tensors only: nothing in the file can run code."""
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, _checkpoint())
    data = path.read_bytes()
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    assert header["__metadata__"]["format"] == "conv1d-checkpoint"
    assert json.loads(header["__metadata__"]["meta"])["epoch"] == 3
