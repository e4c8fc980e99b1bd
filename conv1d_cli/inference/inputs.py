"""What ``conv1d predict`` reads: any file the data readers take, as batches of raw samples.

An input is a sequence of raw samples (N, ...) with optional labels. A ``.npy`` file is
memory-mapped and a CSV file is parsed a batch at a time, so neither is ever held in memory
whole; ``.npz``, ``.ts``/``.tsv`` and IDX files are read by the data readers.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.errors import DataError

SUFFIXES = ".npy, .npz, .csv, .ts, .tsv, an IDX file, a folder of IDX files or of .npy arrays"


@dataclass
class PredictInput:
    """Raw samples from one file. ``x`` is (N, ...) (maybe memory-mapped) unless ``rows``
    streams a CSV; ``y`` holds the labels (or regression targets, (N,) or (N, K)) when the file
    has them."""

    origin: str
    n: int
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    csv_spec: tuple[tuple[int, ...], int] | None = None  # (label columns, rows to skip)
    csv_labels: np.ndarray | None = None  # a streamed CSV's distinct labels, read up front
    note: str | None = None  # what was done to fit the network (padding), said once on stderr

    def distinct_labels(self) -> np.ndarray | None:
        """The input's distinct labels (sorted), or None when it has none."""
        if self.y is not None:
            return np.unique(np.asarray(self.y))
        return self.csv_labels

    def batches(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """(x (n, ...), labels (n,) / targets (n, K) or None) for consecutive batches of at most
        ``size``."""
        if self.x is not None:
            for start in range(0, self.n, size):
                labels = None if self.y is None else self.y[start : start + size]
                yield self.x[start : start + size], labels
            return
        yield from _csv_batches(Path(self.origin), *self.csv_spec, size)


def read_predict_input(
    path: Path, data_cfg: Any, shape: tuple[int, int], padded: bool = False
) -> PredictInput:
    """The raw samples of ``path``; a DataError naming the file for anything unreadable.

    ``data_cfg`` is the run's data config (its CSV label column, how .ts files fill missing
    values); ``shape`` the network's (channels, length). Shorter .ts/.tsv series are padded to
    it only when ``padded`` (the run was trained on padded unequal-length series).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"INPUT {path}: no such file or folder")
    if path.is_dir():
        return _npy_folder(path) if (path / "x.npy").is_file() else _idx_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _npy(path)
    if suffix == ".npz":
        return _npz(path)
    if suffix == ".csv":
        return _csv(path, data_cfg.label_column)
    if suffix in (".ts", ".tsv"):
        return _archive(path, suffix, data_cfg.missing, shape, padded)
    if _looks_like_idx(path):
        return _idx_file(path)
    raise DataError(f"INPUT {path}: unknown kind of file; conv1d predict reads {SUFFIXES}")


def _npy(path: Path) -> PredictInput:
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot read as .npy: {exc}") from None
    if x.ndim < 2:
        raise DataError(f"{path}: an array of samples (N, ...) is needed, found shape {x.shape}")
    return PredictInput(str(path), len(x), x=x)


def _npy_folder(folder: Path) -> PredictInput:
    """A folder of .npy arrays: x.npy memory-mapped, with y.npy's labels when present."""
    from conv1d_cli.data.npyfolder import open_labels, open_samples

    x = open_samples(folder / "x.npy")
    y = open_labels(folder / "y.npy", len(x)) if (folder / "y.npy").is_file() else None
    return PredictInput(str(folder), len(x), x=x, y=y)


def _npz(path: Path) -> PredictInput:
    from conv1d_cli.data.cache import open_npz

    arrays = open_npz(path, "INPUT")
    for x_key, y_key in (("x", "y"), ("x_test", "y_test")):
        if x_key in arrays:
            x = arrays[x_key]
            y = arrays.get(y_key)
            if y is not None and len(y) != len(x):
                raise DataError(f"{path}: {y_key} has {len(y)} labels for {len(x)} samples")
            return PredictInput(str(path), len(x), x=x, y=y)
    raise DataError(
        f"{path}: no array x (or x_test) of samples; the file has {', '.join(sorted(arrays))}"
    )


def _float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _csv(path: Path, label_column: str | tuple[str, ...]) -> PredictInput:
    """A header is optional; columns named like the config's label column(s) hold labels (or
    regression targets: several columns are K targets, read as (n, K) per batch)."""
    columns = (label_column,) if isinstance(label_column, str) else tuple(label_column)
    try:
        with path.open(newline="") as handle:
            reader = csv.reader(handle)
            first = next(reader, None)
            header = first is not None and not all(_float(value) for value in first)
            names = [name.strip() for name in first] if header else []
            label_at = tuple(names.index(c) for c in columns if c in names)
            if not label_at:
                rows = sum(1 for row in reader if row)
                labels = None
            else:  # the distinct labels, so unknown ones are refused before any output
                seen = {
                    tuple(row[i].strip() for i in label_at)
                    for row in reader
                    if len(row) > max(label_at)
                }
                handle.seek(0)
                rows = sum(1 for row in csv.reader(handle) if row) - 1
                labels = np.array(sorted(seen))
                labels = labels[:, 0] if len(label_at) == 1 and len(labels) else labels
                with contextlib.suppress(ValueError):
                    labels = np.unique(labels.astype(np.int64))  # as _csv_batches reads them
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc}") from None
    if first is None:
        raise DataError(f"{path}: the file is empty")
    if not header:
        rows += 1
    return PredictInput(str(path), rows, csv_spec=(label_at, int(header)), csv_labels=labels)


def _csv_batches(
    path: Path, label_at: tuple[int, ...], skip: int, size: int
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """(values (n, L), labels (n,) for one label column, (n, K) for several, or None)."""
    with path.open(newline="") as handle:
        reader = (row for row in itertools.islice(csv.reader(handle), skip, None) if row)
        line = skip
        while chunk := list(itertools.islice(reader, size)):
            values, labels = [], []
            for row in chunk:
                line += 1
                if label_at:
                    try:
                        labels.append([row[i].strip() for i in label_at])
                    except IndexError:
                        raise DataError(f"{path}:{line}: the row has no label column") from None
                    row = [v for i, v in enumerate(row) if i not in label_at]
                try:
                    values.append([float(v) for v in row])
                except ValueError as exc:
                    raise DataError(f"{path}:{line}: {exc}") from None
            if len({len(v) for v in values}) > 1:
                raise DataError(f"{path}: rows near line {line} have different numbers of values")
            y = None
            if label_at:
                y = np.array(labels)
                y = y[:, 0] if len(label_at) == 1 else y
                with contextlib.suppress(ValueError):
                    y = y.astype(np.int64)
            yield np.array(values, dtype=np.float32), y


def _archive(
    path: Path, suffix: str, missing: str, shape: tuple[int, int], padded: bool
) -> PredictInput:
    """A UEA/UCR .ts or .tsv file (labels optional) whose series fit ``shape`` (channels,
    length). Shorter series are padded at the end by the training reader's own rule
    (``ts.pad_series``) only for a ``padded`` run; anything else that does not fit is a
    DataError naming the file's own shape."""
    from conv1d_cli.data import ts

    series = (ts.parse_tsv if suffix == ".tsv" else ts.parse_ts)(path, missing)
    if not series.x:
        raise DataError(f"{path}: the file holds no series")
    channels, length = shape
    dims = series.x[0].shape[0]
    lengths = [x.shape[1] for x in series.x]
    short, long = min(lengths), max(lengths)
    note = None
    if short == long and dims * long == channels * length:
        x = ts.pad_series(series.x, long)  # all one length: stacked as they are
    elif padded and dims == channels and long <= length:
        x = ts.pad_series(series.x, length)
        note = (
            f"{path.name}: series of length {_span(short, long)} padded at the end to {length}, "
            "as the run's own unequal-length training series were"
        )
    else:
        why = _why(dims, long, shape, padded)
        raise DataError(
            f"{path}: series of shape ({dims}, {_span(short, long)}) do not fit the network, "
            f"which expects (channels, length) = ({channels}, {length}){why}"
        )
    labelled = len(series.labels) == len(series.x) and all(series.labels)
    y = np.array(series.labels) if labelled else None
    return PredictInput(str(path), len(x), x=x, y=y, note=note)


def _span(short: int, long: int) -> str:
    return str(long) if short == long else f"{short}..{long}"


def _why(dims: int, long: int, shape: tuple[int, int], padded: bool) -> str:
    """Why series of ``dims`` channels and at most ``long`` values are not padded to fit."""
    channels, length = shape
    if dims != channels:
        return f"; the run was trained on {channels}-channel series"
    if long > length:
        return f"; series longer than the run's {length} values are not cut"
    if not padded:
        return (
            "; the run was trained on series of one length, so shorter ones are not padded "
            "(it is likely another data set)"
        )
    return ""


def _looks_like_idx(path: Path) -> bool:
    from conv1d_cli.data.idx import GZIP_MAGIC, IDX_TYPES

    with path.open("rb") as handle:
        head = handle.read(4)
    if head[:2] == GZIP_MAGIC:
        return "idx" in path.name
    return len(head) == 4 and head[:2] == b"\0\0" and head[2] in IDX_TYPES


def _idx_file(path: Path) -> PredictInput:
    """An IDX images file; the labels file beside it (images -> labels) is used when present."""
    from conv1d_cli.data.idx import read_idx

    x = read_idx(path)
    y = None
    twin = path.with_name(path.name.replace("images", "labels").replace("idx3", "idx1"))
    if twin != path and twin.is_file():
        y = read_idx(twin)
        if y.shape != (len(x),):
            y = None
    return PredictInput(str(path), len(x), x=x, y=y)


def _idx_folder(folder: Path) -> PredictInput:
    """A folder of IDX files: the t10k pair, else the train pair."""
    from conv1d_cli.data.idx import has_idx_split, read_idx_split

    for split in ("t10k", "train"):
        if has_idx_split(folder, split):
            x, y = read_idx_split(folder, split)
            return PredictInput(f"{folder} ({split} IDX files)", len(x), x=x, y=y)
    raise DataError(f"INPUT {folder}: a folder must hold IDX files (t10k-images-idx3-ubyte, ...)")
