"""The run lock: one writer per run directory, stale locks taken over, other hosts refused."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from conv1d_cli.errors import RunInUse
from conv1d_cli.rundir.lock import LOCK_NAME, acquire_run_lock, holder_alive, read_holder


def _dead_pid() -> int:
    """The PID of a process that has ended (a short child we waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _write_lock(run_dir, pid: int, host: str) -> None:
    payload = {"pid": pid, "host": host, "started": "2026-01-01T00:00:00Z", "command": "x"}
    (run_dir / LOCK_NAME).write_text(json.dumps(payload))


def test_lock_names_its_holder_and_is_released(tmp_path):
    with acquire_run_lock(tmp_path, "conv1d train") as lock:
        holder = read_holder(tmp_path)
        assert holder is not None
        assert (holder.pid, holder.host) == (os.getpid(), socket.gethostname())
        assert holder.command == "conv1d train" and holder.started.endswith("Z")
        assert holder_alive(tmp_path) is True
        # flock belongs to an open file: a second taker in this very process is refused too.
        with pytest.raises(RunInUse) as info:
            acquire_run_lock(tmp_path, "conv1d eval")
        message = str(info.value)
        assert f"PID {os.getpid()} on host {socket.gethostname()} since" in message
        assert f"kill {os.getpid()}" in message and "\n" not in message
        assert lock.held
    assert not (tmp_path / LOCK_NAME).exists()
    assert holder_alive(tmp_path) is False
    acquire_run_lock(tmp_path, "again").release()  # free again


def test_a_lock_whose_process_is_gone_is_taken_over_saying_so(tmp_path):
    dead = _dead_pid()
    _write_lock(tmp_path, dead, socket.gethostname())
    assert holder_alive(tmp_path) is False  # nobody holds the flock: the JSON is stale
    warnings: list[str] = []
    with acquire_run_lock(tmp_path, "conv1d train --resume", warn=warnings.append):
        assert read_holder(tmp_path).pid == os.getpid()
    assert len(warnings) == 1
    assert f"taking over the lock of {tmp_path} from PID {dead}" in warnings[0]
    assert "gone" in warnings[0]


def test_a_lock_from_another_host_is_never_taken_over(tmp_path):
    _write_lock(tmp_path, 4242, "some-other-host")
    assert holder_alive(tmp_path) is None  # cannot be checked from here
    with pytest.raises(RunInUse) as info:
        acquire_run_lock(tmp_path, "conv1d train --resume")
    message = str(info.value)
    assert "PID 4242 on host some-other-host" in message
    assert f"delete {tmp_path / LOCK_NAME}" in message
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == 4242  # left as it was


def test_lock_held_by_another_process_and_freed_by_its_death(tmp_path):
    code = (
        "import sys, time; from conv1d_cli.rundir.lock import acquire_run_lock; "
        "lock = acquire_run_lock(sys.argv[1], 'holder'); print('locked', flush=True); "
        "time.sleep(60)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "locked"
        assert holder_alive(tmp_path) is True
        with pytest.raises(RunInUse, match=f"PID {child.pid} on host"):
            acquire_run_lock(tmp_path, "second")
    finally:
        child.kill()  # kill -9: no chance to release
        child.wait()
    assert holder_alive(tmp_path) is False  # the kernel dropped the flock with the process
    warnings: list[str] = []
    with acquire_run_lock(tmp_path, "third", warn=warnings.append):
        pass
    assert warnings and f"PID {child.pid}" in warnings[0]
