"""A folder of ``.npy`` arrays as data: ``x.npy`` and ``y.npy``, optionally ``x_test.npy`` and
``y_test.npy`` (the keys of a signals ``.npz``).

Samples (N, L) or (N, C, L) are memory-mapped (``mmap_mode="r"``) and handed on as
``MappedRows``, so nothing reads them whole; labels (N,) are small and read into memory. Every
problem (a missing or truncated file, a dtype that is not numbers, lengths that disagree) is one
DataError naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conv1d_cli.data.arrays import check_labels
from conv1d_cli.data.dataset import RawData, TestSource
from conv1d_cli.data.mapped import MappedRows
from conv1d_cli.errors import ConfigError, DataError

LAYOUT = "x.npy and y.npy, optionally x_test.npy and y_test.npy"


def is_npy_folder(path: Path) -> bool:
    """Whether ``path`` is a folder holding ``x.npy``."""
    return path.is_dir() and (path / "x.npy").is_file()


def _load(path: Path, mmap: bool) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: no such file (a folder of .npy arrays holds {LAYOUT})")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # truncated, not .npy, or pickled objects
        raise DataError(
            f"{path}: cannot read as .npy (truncated or not an array?): {exc}"
        ) from None


def open_samples(path: Path) -> np.ndarray:
    """The samples of ``path`` (N, L) or (N, C, L) as a read-only memory map."""
    x = _load(path, mmap=True)
    if x.ndim not in (2, 3):
        raise DataError(
            f"{path}: samples must be (N, length) or (N, channels, length), not {x.shape}"
        )
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: dtype {x.dtype}; samples must be integers or floats")
    if not x.flags.c_contiguous:  # a view of a Fortran-ordered map would be copied whole
        raise DataError(
            f"{path}: stored in Fortran order; save it C-ordered (np.ascontiguousarray)"
        )
    return x


def open_labels(path: Path, n: int) -> np.ndarray:
    """The labels of ``path`` (n,), integers or strings, read into memory."""
    return check_labels(_load(path, mmap=False), path, path.stem, n)


def read_npy_folder(folder: Path, missing: str = "error") -> RawData:
    """x.npy / y.npy (and x_test.npy / y_test.npy) of ``folder``; samples stay mapped."""
    if not folder.is_dir():
        raise DataError(
            f"data.path: {folder} is not a folder (a folder of .npy arrays holds {LAYOUT})"
        )
    if missing != "error":  # filling would copy the whole map; NaN stays an error naming it
        raise ConfigError(
            f"data.missing: {missing} is not available for a folder of .npy arrays (they are "
            "memory-mapped, never copied); fill missing values when writing x.npy"
        )
    x = open_samples(folder / "x.npy")
    y = open_labels(folder / "y.npy", len(x))
    has_test = [(folder / f"{name}.npy").is_file() for name in ("x_test", "y_test")]
    if has_test[0] != has_test[1]:
        absent = "y_test.npy" if has_test[0] else "x_test.npy"
        raise DataError(f"{folder / absent}: no such file; x_test.npy and y_test.npy come together")
    x_test = y_test = None
    if has_test[0]:
        x_test = open_samples(folder / "x_test.npy")
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(
                f"{folder / 'x_test.npy'}: samples {x_test.shape[1:]} differ from x.npy's "
                f"{x.shape[1:]}"
            )
        y_test = open_labels(folder / "y_test.npy", len(x_test))
        source = TestSource(
            "arrays", f"test split from x_test.npy/y_test.npy of {folder}", str(folder)
        )
    else:
        source = TestSource("held out", f"no x_test.npy in {folder}", pool="x.npy")
    mapped = x.nbytes + (0 if x_test is None else x_test.nbytes)
    return RawData(
        MappedRows(x),
        y,
        None if x_test is None else MappedRows(x_test),
        y_test,
        origin=str(folder),
        notes=(f"{_size(mapped)} memory-mapped, read batch by batch",),
        test_source=source,
    )


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.1f} MB"
