"""Atomic, umask-honouring writes of run files, and storage errors as one clear line.

Every write goes to a temporary file in the same folder that is flushed, fsynced and renamed over
the target: a kill at any moment leaves either the old file or the new one, and a full disk
leaves the old one (the temporary file is removed). ENOSPC, EDQUOT, EROFS and EIO become
StorageError naming the file and the cause (exit code 4).
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.errors import StorageError

# What a full or failing disk raises, in words for the one-line error (exit code 4).
STORAGE_ERRORS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error",
}


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a storage OSError while writing ``path`` into StorageError naming file and cause."""
    try:
        yield
    except OSError as exc:
        if exc.errno in STORAGE_ERRORS:
            raise StorageError(f"{STORAGE_ERRORS[exc.errno]} while writing {path}") from exc
        raise


def current_umask() -> int:
    """The process umask, read without changing it (Linux), else by setting it back at once."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ----------------------------------------------------------------------------- atomic files
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file.

    The file gets the mode any program's new file gets (0666 minus the umask: 0644 under 022),
    not mkstemp's private 0600. Storage errors raise StorageError; the old file is untouched.
    """
    path = Path(path)
    with writing(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o666 & ~current_umask())
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(directory: Path) -> None:
    # The rename itself lives in the directory entry; without this it may not survive a crash.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, default=json_default) + "\n")


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
