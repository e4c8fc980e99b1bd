"""One writer per run directory: an advisory lock file, ``<run>/run.lock``.

The file holds JSON naming the holder (PID, host, start time, command) for people and for the
stale check; the lock itself is ``fcntl.flock`` on it, which the kernel drops the moment the
holder's process ends, however it ends (kill -9 included). So on one host:

- flock taken: nobody holds the run. Leftover JSON means the last holder died without
  releasing; it is taken over, saying so on stderr.
- flock refused: a live process holds it; the newcomer exits 2 naming that holder.

Across hosts (a runs folder on a network file system) flock may not be seen from the other host
and a PID cannot be checked, so leftover JSON from *another* host is never taken over: the
newcomer refuses and says to delete the file once that run is known to be dead.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conv1d_cli.errors import RunDirError, RunInUse

LOCK_NAME = "run.lock"
RETRY_SECONDS = 0.5  # a `conv1d runs` probe holds a shared lock for microseconds: wait it out


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    started: str  # ISO 8601 UTC
    command: str = ""

    def describe(self) -> str:
        what = f" ({self.command})" if self.command else ""
        return f"PID {self.pid} on host {self.host} since {self.started}{what}"


def read_holder(run_dir: Path) -> LockHolder | None:
    """The holder named in the lock file, or None when there is none (or it is unreadable)."""
    try:
        return _parse((Path(run_dir) / LOCK_NAME).read_bytes())
    except OSError:
        return None


def _parse(data: bytes) -> LockHolder | None:
    try:
        payload = json.loads(data)
        return LockHolder(
            int(payload["pid"]), str(payload["host"]), str(payload["started"]), payload["command"]
        )
    except (ValueError, KeyError, TypeError):
        return None


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class RunLock:
    """A held lock; ``release()``, leaving the ``with`` block or the process ending frees it."""

    def __init__(self, run_dir: Path, fd: int, holder: LockHolder) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.holder = holder
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # Unlink while still holding it: a waiter that opened the old file sees, once it gets
        # the flock, that the path no longer names its file and opens the new one.
        # On a read-only file system the JSON stays; the next taker reads it as stale.
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
        os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit the kernel frees it anyway
            self.release()


def acquire_run_lock(
    run_dir: Path, command: str, warn: Callable[[str], None] | None = None
) -> RunLock:
    """Lock ``run_dir`` for this process, or raise RunInUse naming the live holder."""
    run_dir = Path(run_dir)
    path = run_dir / LOCK_NAME
    warn = warn or _warn_stderr
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise RunDirError(f"cannot lock {run_dir}: {exc.strerror} ({path})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            holder = read_holder(run_dir)
            who = holder.describe() if holder else "another process"
            stop = f" (stop it with: kill {holder.pid})" if holder else ""
            raise RunInUse(
                f"{run_dir} is in use by {who}; one process at a time may write a run: "
                f"wait for it to end{stop}"
            ) from None
        if not _same_file(fd, path):  # released (unlinked) between our open and our flock
            os.close(fd)
            continue
        return _take(run_dir, fd, command, warn)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _take(run_dir: Path, fd: int, command: str, warn: Callable[[str], None]) -> RunLock:
    host = socket.gethostname()
    previous = _parse(_read_fd(fd))
    if previous is not None and previous.host != host:
        os.close(fd)
        raise RunInUse(
            f"{run_dir} is locked by {previous.describe()}; from host {host} conv1d cannot "
            f"tell whether that process is alive: if it is not, delete {run_dir / LOCK_NAME} "
            "and retry"
        )
    if previous is not None and previous.pid != os.getpid():
        warn(f"taking over the lock of {run_dir} from {previous.describe()}: that process is gone")
    holder = LockHolder(os.getpid(), host, _utc_now(), command)
    payload = json.dumps(holder.__dict__, indent=2) + "\n"
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, payload.encode(), 0)
        os.fsync(fd)
    except OSError:
        pass  # disk full: the flock alone still keeps a second writer out
    return RunLock(run_dir, fd, holder)


def _read_fd(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 65536, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def holder_alive(run_dir: Path) -> bool | None:
    """Is a live process holding ``run_dir``'s lock? None: held from another host, unknowable."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False  # no lock file: nobody holds it
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        previous = _parse(_read_fd(fd))
        if previous is not None and previous.host != socket.gethostname():
            return None
        return False
    finally:
        os.close(fd)


def _warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def run_dir_lock(run_dir: Path | None, command: str) -> AbstractContextManager[Any]:
    """The run's lock for a command that writes into it (eval), or nothing outside a run."""
    return nullcontext() if run_dir is None else acquire_run_lock(run_dir, command)
