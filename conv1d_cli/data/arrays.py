"""Array files: the common ``mnist.npz`` and the user's own 1-D signals as ``.npz`` or ``.csv``.

Signals: ``x`` (N, L) or (N, C, L) and ``y`` (N,), optionally ``x_test`` / ``y_test``; a CSV
holds one sample per row with a header and a label column. Labels may be integers or strings.
"""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

import numpy as np

from conv1d_cli.data.cache import open_npz
from conv1d_cli.data.dataset import RawData, TestSource
from conv1d_cli.errors import DataError


def _required(arrays: dict[str, np.ndarray], path: Path, keys: tuple[str, ...]) -> None:
    missing = [key for key in keys if key not in arrays]
    if missing:
        raise DataError(
            f"{path}: missing array {', '.join(missing)} (the file has "
            f"{', '.join(sorted(arrays)) or 'no arrays'}; needed: {', '.join(keys)})"
        )


def check_labels(y: np.ndarray, path: Path, key: str, n: int) -> np.ndarray:
    """y as (n,) integer or string labels; integral floats become integers."""
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{path}: {key} must have shape ({n},) to match the samples, not {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{path}: {key} holds non-integer numbers; labels are classes")
        return y.astype(np.int64)
    if y.dtype.kind not in "biuUS":
        raise DataError(f"{path}: {key} has dtype {y.dtype}; labels must be integers or strings")
    return y.astype(str) if y.dtype.kind == "S" else y


def read_mnist_npz(path: Path, title: str, class_names: tuple[str, ...]) -> RawData:
    """Keras' ``mnist.npz`` layout: x_train (N, 28, 28), y_train, x_test, y_test."""
    arrays = open_npz(path, "data.path")
    _required(arrays, path, ("x_train", "y_train", "x_test", "y_test"))
    parts = []
    for split in ("train", "test"):
        x = arrays[f"x_{split}"]
        if x.ndim != 3:
            raise DataError(f"{path}: x_{split} must be images (N, rows, cols), not {x.shape}")
        y = check_labels(arrays[f"y_{split}"], path, f"y_{split}", len(x))
        parts += [x.reshape(len(x), -1), y]
    height, width = arrays["x_test"].shape[1:]
    return RawData(
        *parts,
        origin=f"{title} ({path})",
        class_names=class_names,
        image_shape=(int(height), int(width)),
        value_range=255.0 if arrays["x_train"].dtype == np.uint8 else None,
        test_source=TestSource(
            "arrays", f"test split from x_test/y_test of {path.name}", str(path)
        ),
    )


def read_signals_npz(path: Path) -> RawData:
    """The user's signals: x (N, L) or (N, C, L), y (N,), optional x_test / y_test."""
    arrays = open_npz(path, "data.path")
    _required(arrays, path, ("x", "y"))
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{path}: x_test and y_test come together; the file has only one")
    parts = []
    for x_key, y_key in (("x", "y"), ("x_test", "y_test")):
        if x_key not in arrays:
            parts += [None, None]
            continue
        x = arrays[x_key]
        if x.ndim not in (2, 3):
            raise DataError(
                f"{path}: {x_key} must be (N, length) or (N, channels, length), not {x.shape}"
            )
        parts += [x, check_labels(arrays[y_key], path, y_key, len(x))]
    if parts[2] is not None and parts[2].shape[1:] != parts[0].shape[1:]:
        raise DataError(
            f"{path}: x_test samples {parts[2].shape[1:]} differ from x {parts[0].shape[1:]}"
        )
    if parts[2] is not None:
        source = TestSource("arrays", f"test split from x_test/y_test of {path.name}", str(path))
    else:
        source = TestSource("held out", f"no x_test/y_test in {path.name}", pool="the file")
    return RawData(*parts, origin=str(path), test_source=source)


def read_signals_csv(path: Path, label_column: str) -> RawData:
    """One sample per row: a header, the ``label_column``, and the numeric values in order."""
    if not path.is_file():
        raise DataError(f"data.path: file not found: {path}")
    try:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc}") from None
    rows = [row for row in rows if row]
    if len(rows) < 2:
        raise DataError(f"{path}: the data set is empty (a header and at least one row needed)")
    header = [name.strip() for name in rows[0]]
    if label_column not in header:
        raise DataError(
            f"data.label_column: {label_column!r} is not a column of {path} "
            f"(columns: {', '.join(header[:8])}{' ...' if len(header) > 8 else ''})"
        )
    label_at = header.index(label_column)
    values, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        labels.append(row[label_at].strip())
        try:
            values.append([float(v) for i, v in enumerate(row) if i != label_at])
        except ValueError as exc:
            raise DataError(f"{path}:{line}: {exc}") from None
    y = np.array(labels)
    with contextlib.suppress(ValueError):
        y = y.astype(np.int64)  # all-integer labels are numbers, else they stay names
    source = TestSource("held out", f"{path.name} is one CSV file (no test split)", pool="it")
    return RawData(
        np.array(values, dtype=np.float32), y, None, None, origin=str(path), test_source=source
    )
