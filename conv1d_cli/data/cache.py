"""The data home and its cache files: compact ``.npz`` archives written atomically.

Caches are an optimisation only: a cache that cannot be read is rebuilt, and a data home that
cannot be written is skipped (the data still loads, just without the speed-up next time).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from conv1d_cli.errors import DataError

ENV_HOME = "CONV1D_DATA_HOME"


def data_home() -> Path:
    """``$CONV1D_DATA_HOME``, else ``~/.cache/conv1d`` (not created here)."""
    env = os.environ.get(ENV_HOME)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "conv1d"


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Write ``arrays`` compressed to ``path`` atomically; False when the folder is not writable."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        # A reader sees either no file or the whole file, never a half-written one.
        os.replace(tmp, path)
        return True
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return False


def load_cached(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays ``keys`` of a cache file, or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in keys}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def open_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    """Every array of a user's ``.npz`` file, refusing pickled (object) arrays.

    ``what`` names the config key that pointed at the file, for the error message.
    """
    if not path.is_file():
        raise DataError(f"{what}: file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DataError(f"{path}: not an .npz archive ({what} must name an .npz file)")
            return {key: archive[key] for key in archive.files}
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DataError(
                f"{path}: holds pickled (object) arrays; pickled data is not loaded, "
                "save plain numeric or string arrays"
            ) from None
        raise DataError(f"{path}: cannot read as .npz: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read as .npz: {exc}") from None
