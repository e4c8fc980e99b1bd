"""Array files: the common ``mnist.npz`` and the user's own 1-D signals as ``.npz`` or ``.csv``.

Signals: ``x`` (N, L) or (N, C, L) and ``y`` (N,), optionally ``x_test`` / ``y_test``; a CSV
holds one sample per row with a header and a label column (or several target columns). Labels
may be integers or strings (classes) or float targets (N,) / (N, K) (regression).
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Sequence
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
    """y as (n,) integer or string labels, or float targets (n,) / (n, K) for regression;
    integral floats become integers (the task then decides whether they are classes)."""
    if y.ndim not in (1, 2) or len(y) != n or (y.ndim == 2 and y.dtype.kind not in "fiu"):
        raise DataError(
            f"{path}: {key} must have shape ({n},) or ({n}, K) numbers to match the samples, "
            f"not {y.shape}"
        )
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y)
        if bad.any():
            first = int(np.argwhere(bad.reshape(n, -1).any(axis=1))[0, 0])
            raise DataError(
                f"{path}: {key} holds {int(bad.sum())} NaN or infinite targets (first in row "
                f"{first}); targets must be finite numbers"
            )
        if y.ndim == 1 and np.all(y == np.round(y)):
            return y.astype(np.int64)
        return y.astype(np.float64)
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


def _outputs(y: np.ndarray) -> int:
    """K: the number of targets of y (N,) or (N, K)."""
    return 1 if y.ndim == 1 else int(y.shape[1])


def _matching_targets(
    y: np.ndarray, y_test: np.ndarray, arrays: dict[str, np.ndarray], path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """(y, y_test) with the same number of targets K, both floats when either holds fractions
    (whole float targets in one and fractions in the other are one regression problem)."""
    if (y.ndim == 2 or y_test.ndim == 2) and _outputs(y) != _outputs(y_test):
        raise DataError(
            f"{path}: y_test has {_outputs(y_test)} target columns (shape {y_test.shape}) but "
            f"y has {_outputs(y)} (shape {y.shape}); both need the same K"
        )
    floats = (y.dtype.kind == "f", y_test.dtype.kind == "f")
    came_as_floats = (arrays["y"].dtype.kind == "f", arrays["y_test"].dtype.kind == "f")
    if any(floats) and all(came_as_floats):
        return y.astype(np.float64), y_test.astype(np.float64)
    return y, y_test


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
    if parts[3] is not None:
        parts[1], parts[3] = _matching_targets(parts[1], parts[3], arrays, path)
    if parts[2] is not None:
        source = TestSource("arrays", f"test split from x_test/y_test of {path.name}", str(path))
    else:
        source = TestSource("held out", f"no x_test/y_test in {path.name}", pool="the file")
    return RawData(*parts, origin=str(path), test_source=source)


def read_signals_csv(path: Path, label_column: str | Sequence[str]) -> RawData:
    """One sample per row: a header, the label column(s), and the numeric values in order.

    One ``label_column``: integers or names (classes), or numbers that are not all whole
    (regression targets, (N,)); several columns: K regression targets (N, K), named by their
    columns. An empty or NaN target, or a text among several targets, is ``FILE:LINE`` error.
    """
    columns = (label_column,) if isinstance(label_column, str) else tuple(label_column)
    twice = sorted({name for name in columns if columns.count(name) > 1})
    if twice:
        raise DataError(f"data.label_column: {', '.join(map(repr, twice))} named twice")
    if not path.is_file():
        raise DataError(f"data.path: file not found: {path}")
    try:
        with path.open(newline="") as handle:
            reader = csv.reader(handle)  # line_num: the file line a row ends on (blank lines too)
            rows = [(reader.line_num, row) for row in reader if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc}") from None
    if len(rows) < 2:
        raise DataError(f"{path}: the data set is empty (a header and at least one row needed)")
    header = [name.strip() for name in rows[0][1]]
    absent = [name for name in columns if name not in header]
    if absent:
        raise DataError(
            f"data.label_column: {', '.join(map(repr, absent))} "
            f"{'is not a column' if len(absent) == 1 else 'are not columns'} of {path} "
            f"(columns: {', '.join(header[:8])}{' ...' if len(header) > 8 else ''})"
        )
    label_at = [header.index(name) for name in columns]
    values, cells, lines = [], [], []
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        cells.append([row[i].strip() for i in label_at])
        lines.append(line)
        try:
            values.append([float(v) for i, v in enumerate(row) if i not in label_at])
        except ValueError as exc:
            raise DataError(f"{path}:{line}: {exc}") from None
    y = _csv_targets(cells, columns, lines, path)
    source = TestSource("held out", f"{path.name} is one CSV file (no test split)", pool="it")
    return RawData(
        np.array(values, dtype=np.float32),
        y,
        None,
        None,
        origin=str(path),
        test_source=source,
        target_names=columns,
        train_lines=(str(path), np.array(lines, dtype=np.int64)),
    )


def _csv_targets(
    cells: list[list[str]], columns: tuple[str, ...], lines: list[int], path: Path
) -> np.ndarray:
    """The label cells (N rows of K texts) as labels (N,) or regression targets (N,) / (N, K).

    One column: all integers -> int64 (classes unless ``task: regression``); numbers that are
    not all whole -> float64 (regression under ``task: auto``); else the texts (classes: "1.0"
    stays a name). Several columns are targets: every cell a finite number, as in a column
    with fractions. An empty cell is an error either way.
    """
    for row, line in zip(cells, lines, strict=True):
        for text, name in zip(row, columns, strict=True):
            if not text:
                raise DataError(
                    f"{path}:{line}: no value in column {name!r} (every row needs its label or "
                    "target)"
                )
    texts = np.array(cells, dtype=str)  # (N, K)
    numbers = [_number_or_none(text) for text in texts.reshape(-1)]
    # Several columns are targets, every cell a number. One column of numbers with a NaN or an
    # infinity among them misses a target (not a class called 'nan'); one with fractions among
    # its numbers holds targets, so a text there is a typo, not a class.
    fractions = any(v is not None and np.isfinite(v) and v != round(v) for v in numbers)
    numeric = len(columns) > 1 or fractions or all(value is not None for value in numbers)
    for at, value in enumerate(numbers):
        if numeric and (value is None or not np.isfinite(value)):
            row, col = divmod(at, len(columns))
            raise DataError(
                f"{path}:{lines[row]}: column {columns[col]!r}: target {str(texts[row, col])!r} "
                "is not a finite number"
            )
    if len(columns) > 1:
        return texts.astype(np.float64)
    y = texts[:, 0]
    with contextlib.suppress(ValueError, OverflowError):
        return y.astype(np.int64)  # all-integer labels are numbers (classes unless told)
    if not numeric:
        return y  # names: classes (task regression names the first one that is not a number)
    floats = y.astype(np.float64)
    return y if np.all(floats == np.round(floats)) else floats


def _number_or_none(text: str) -> float | None:
    """float(text) (NaN and infinities included), or None for a text that is not a number."""
    try:
        return float(text)
    except ValueError:
        return None
