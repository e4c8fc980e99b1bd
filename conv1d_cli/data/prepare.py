"""From a source's raw arrays to a Dataset: labels, checks, view, seeded splits, normalization.

The same recipe runs at training and at evaluation time; eval passes the training run's class
names and normalization statistics so a checkpoint sees its data exactly as it was trained on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from sklearn.model_selection import train_test_split

from conv1d_cli.config import DataConfig
from conv1d_cli.data.dataset import Dataset, RawData, TestSource
from conv1d_cli.data.mapped import fit_statistics, nonfinite, normalize_split
from conv1d_cli.data.missing import FILL_HINT, fill_missing
from conv1d_cli.data.normalization import raw_zero
from conv1d_cli.errors import DataError

Purpose = Literal["train", "eval"]


def prepare(
    raw: RawData,
    cfg: DataConfig,
    seed: int,
    *,
    purpose: Purpose = "train",
    normalization: dict[str, Any] | None = None,
    class_names: list[str] | tuple[str, ...] | None = None,
) -> Dataset:
    """Apply the config's recipe to ``raw``; every problem is a DataError naming file or key."""
    x_pool, y_pool = _limited(raw.x_train, cfg.limit), _limited(raw.y_train, cfg.limit)
    x_test = None if raw.x_test is None else _limited(raw.x_test, cfg.limit)
    y_test = None if raw.y_test is None else _limited(raw.y_test, cfg.limit)
    if len(x_pool) == 0 and (x_test is None or len(x_test) == 0):
        raise DataError(f"{raw.origin}: the data set is empty (no samples)")
    if cfg.missing != "error":
        x_pool, x_test = (None if x is None else _filled(x, cfg.missing) for x in (x_pool, x_test))
    for name, x in (("samples", x_pool), ("test samples", x_test)):
        if x is not None:
            _check_finite(x, raw.origin, name)

    names = _class_names(raw, y_pool, class_names)
    y_pool = _label_indices(y_pool, names, raw)
    y_test = None if y_test is None else _label_indices(y_test, names, raw)

    channels, length = cfg.view if cfg.view is not None else raw.sample_shape
    x_pool = _viewed(x_pool, channels, length, raw)
    x_test = None if x_test is None else _viewed(x_test, channels, length, raw)

    origin = raw.test_origin()
    held_out = x_test is None
    if held_out:  # no official test split: hold one out, stratified and seeded
        x_pool, x_test, y_pool, y_test = _split(x_pool, y_pool, cfg.test_split, seed, "test", names)
    test_split, test_text = _test_split(origin, held_out, cfg.test_split, len(y_test))
    x_val, y_val = x_pool[:0], y_pool[:0]
    if cfg.val_split > 0 and len(x_pool):
        x_pool, x_val, y_pool, y_val = _split(x_pool, y_pool, cfg.val_split, seed, "val", names)
    if purpose == "train":
        missing = sorted(set(range(len(names))) - set(np.unique(y_pool).tolist()))
        if missing:
            raise DataError(
                f"{raw.origin}: the training split has no samples of class "
                f"{', '.join(repr(names[i]) for i in missing)}; raise data.limit or lower "
                "data.val_split / data.test_split"
            )

    # Padded series (unequal lengths) are normalized as padded, per_sample included.
    stats = normalization or fit_statistics(
        cfg.normalize, x_pool if len(x_pool) else x_test, raw.value_range
    )
    _check_channels(stats, channels, raw)
    normalized = [normalize_split(x, stats) for x in (x_pool, x_val, x_test)]
    notes = "".join(f"; {note}" for note in (*raw.notes, test_text))
    return Dataset(
        x_train=normalized[0],
        y_train=y_pool,
        x_val=normalized[1],
        y_val=y_val,
        x_test=normalized[2],
        y_test=y_test,
        class_names=tuple(names),
        normalization=stats,
        description=(
            f"{raw.origin}: {len(y_pool)} train / {len(y_val)} val / {len(y_test)} test samples "
            f"of shape ({channels}, {length}), {len(names)} classes, "
            f"normalize {stats['method']}{notes}"
        ),
        image_shape=raw.image_shape,
        shift=cfg.shift,
        noise=cfg.noise,
        amplitude=cfg.amplitude,
        fill=raw_zero(stats),
        test_split=test_split,
        padded=raw.padded_from is not None,
    )


def _test_split(
    origin: TestSource, held_out: bool, fraction: float, n: int
) -> tuple[dict[str, Any], str]:
    """(summary.json's ``test_split``, the data line's words) for a test split of n samples."""
    if not held_out:
        where = {"path": origin.path} if origin.path is not None else {}
        return {"source": origin.source, **where, "n": n}, origin.text
    text = f"{origin.text}: held out {fraction * 100:g}% of {origin.pool} ({n} {origin.unit})"
    split = {"source": "held out", "fraction": fraction, "n": n, "reason": origin.text}
    return split, text


def some(values: Sequence[Any], shown: int = 5) -> str:
    """'a', 'b', 'c' (all of them), or the first ``shown`` and "and N more"."""
    words = ", ".join(repr(v) for v in values[:shown])
    return words + (f" and {len(values) - shown} more" if len(values) > shown else "")


def unknown_labels(y: np.ndarray, names: Sequence[str], fixed: bool) -> list[Any]:
    """The distinct labels of y (sorted) that are not classes ``names``, by the rule training
    applies: with ``fixed`` classes integer labels are indices 0..K-1, else labels are names."""
    values = np.unique(np.asarray(y)).tolist()
    if fixed and np.asarray(y).dtype.kind in "iu":
        return [v for v in values if not 0 <= v < len(names)]
    known = {str(name) for name in names}
    return [v for v in values if str(v) not in known]


def _filled(x: np.ndarray, method: str) -> np.ndarray:
    """x with NaNs filled along each sample's last axis (floats only; integers have none)."""
    if x.dtype.kind != "f" or not np.isnan(x).any():
        return x
    return fill_missing(x.reshape(len(x), -1) if x.ndim == 2 else x, method).astype(x.dtype)


def _limited(a: np.ndarray, limit: int | None) -> np.ndarray:
    return a if limit is None else a[:limit]


def _check_finite(x: np.ndarray, origin: str, what: str) -> None:
    if x.dtype.kind not in "biuf":
        raise DataError(f"{origin}: {what} must be numbers, found dtype {x.dtype}")
    if x.dtype.kind == "f":
        count, first = nonfinite(x)  # memory-mapped samples chunk by chunk
        if count:
            raise DataError(
                f"{origin}: {what} hold {count} NaN or infinite values "
                f"(first in sample {first}); clean the data first, or {FILL_HINT} (NaN only)"
            )


def _class_names(
    raw: RawData, y: np.ndarray, given: list[str] | tuple[str, ...] | None
) -> list[str]:
    """The classes: the checkpoint's when given, else fixed by the source, else from y."""
    if given is not None:
        return [str(name) for name in given]
    if raw.class_names is not None:
        return list(raw.class_names)
    if len(y) == 0:
        raise DataError(f"{raw.origin}: no training labels to take the classes from")
    return [str(value) for value in np.unique(y).tolist()]


def _label_indices(y: np.ndarray, names: list[str], raw: RawData) -> np.ndarray:
    """Labels as int64 class indices; labels the classes do not know are an error naming them."""
    fixed = raw.class_names is not None and y.dtype.kind in "iu"
    unknown = unknown_labels(y, names, fixed)
    if unknown:
        these = f"label {unknown[0]!r} is" if len(unknown) == 1 else f"labels {some(unknown)} are"
        if fixed:  # fixed classes: the label is the index (MNIST digit 7 is class 7)
            raise DataError(
                f"{raw.origin}: {these} out of range; labels must be 0..{len(names) - 1}"
            )
        among = "one of" if len(unknown) == 1 else "among"
        raise DataError(
            f"{raw.origin}: {these} not {among} the trained classes ({', '.join(names)})"
        )
    if fixed:
        return y.astype(np.int64)
    lookup = {name: i for i, name in enumerate(names)}
    values, inverse = np.unique(y, return_inverse=True)
    indices = np.array([lookup[str(v)] for v in values.tolist()], dtype=np.int64)
    return indices[inverse.reshape(-1)]


def _viewed(x: np.ndarray, channels: int, length: int, raw: RawData) -> np.ndarray:
    """x (N, ...) reshaped to (N, channels, length) when the sizes agree."""
    per_sample = int(np.prod(x.shape[1:], dtype=np.int64))
    if per_sample != channels * length:
        raise DataError(
            f"data.view: [{channels}, {length}] holds {channels * length} values but the samples "
            f"of {raw.origin} have {per_sample} (shape {tuple(x.shape[1:])}); choose a view "
            f"whose product is {per_sample}"
        )
    return x.reshape(len(x), channels, length)


def _split(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int, part: str, names: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_keep, x_part, y_keep, y_part): a stratified, seeded split off ``fraction`` of x."""
    key = f"data.{part}_split"
    n_part = int(np.ceil(fraction * len(y)))
    counts = np.bincount(y, minlength=len(names))
    present = int(np.count_nonzero(counts))
    if n_part < present or len(y) - n_part < present or counts[counts > 0].min() < 2:
        thin = [names[i] for i in np.flatnonzero((counts > 0) & (counts < 2))]
        detail = f"; class {', '.join(map(repr, thin))} has one sample" if thin else ""
        raise DataError(
            f"{key}: {fraction} of {len(y)} samples cannot give every one of the {present} "
            f"classes a sample on both sides{detail}; change {key} or data.limit"
        )
    # Split by index: memory-mapped samples are then views of their rows, never copied.
    keep, part = train_test_split(
        np.arange(len(y)), test_size=n_part, random_state=seed, stratify=y
    )
    return x[keep], x[part], y[keep], y[part]


def _check_channels(stats: dict[str, Any], channels: int, raw: RawData) -> None:
    """Stored statistics must have one shift and scale per channel of the data."""
    if len(stats["shift"]) != channels or len(stats["scale"]) != channels:
        raise DataError(
            f"{raw.origin}: the stored normalization has {len(stats['shift'])} channels but the "
            f"data has {channels}; use the data.view the network was trained with"
        )
