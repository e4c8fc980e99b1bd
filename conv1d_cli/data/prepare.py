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
from conv1d_cli.task import TASKS
from conv1d_cli.task.regression import fit_target_scaling, standardize

Purpose = Literal["train", "eval"]


def prepare(
    raw: RawData,
    cfg: DataConfig,
    seed: int,
    *,
    purpose: Purpose = "train",
    normalization: dict[str, Any] | None = None,
    class_names: list[str] | tuple[str, ...] | None = None,
    task: str = "auto",
    target_scaling: dict[str, Any] | None = None,
) -> Dataset:
    """Apply the config's recipe to ``raw``; every problem is a DataError naming file or key.

    ``task`` is the config's (``auto`` decides from the data, see ``choose_task``) or, with
    ``target_scaling``, the checkpoint's when evaluating or resuming.
    """
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

    y_given = y_pool if len(y_pool) else y_test
    task, requested = choose_task(raw, y_given, task), task
    regression = task == "regression"
    if regression:
        names: list[str] = []
        y_pool = _targets(y_pool, raw, "targets")
        y_test = None if y_test is None else _targets(y_test, raw, "test targets", test=True)
    else:
        if (
            class_names is None
            and requested != "auto"
            and choose_task(raw, y_given, "auto") != task
        ):
            _check_classes_of_targets(np.asarray(y_given), raw)
        y_pool = _class_labels(y_pool, raw)
        y_test = None if y_test is None else _class_labels(y_test, raw)
        names = _class_names(raw, y_pool, class_names)
        y_pool = _label_indices(y_pool, names, raw)
        y_test = None if y_test is None else _label_indices(y_test, names, raw)

    channels, length = cfg.view if cfg.view is not None else raw.sample_shape
    x_pool = _viewed(x_pool, channels, length, raw)
    x_test = None if x_test is None else _viewed(x_test, channels, length, raw)

    origin = raw.test_origin()
    held_out = x_test is None
    if held_out:  # no official test split: hold one out, stratified (classes) and seeded
        x_pool, x_test, y_pool, y_test = _split(x_pool, y_pool, cfg.test_split, seed, "test", names)
    test_split, test_text = _test_split(origin, held_out, cfg.test_split, len(y_test))
    x_val, y_val = x_pool[:0], y_pool[:0]
    if cfg.val_split > 0 and len(x_pool):
        x_pool, x_val, y_pool, y_val = _split(x_pool, y_pool, cfg.val_split, seed, "val", names)
    if regression:  # the network learns standardized targets: one lr suits any unit
        target_scaling = target_scaling or fit_target_scaling(y_pool if len(y_pool) else y_test)
        _check_outputs(target_scaling, y_pool, raw)
        y_pool, y_val, y_test = (standardize(y, target_scaling) for y in (y_pool, y_val, y_test))
    if purpose == "train" and not regression:
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
    target_names = _target_names(raw, y_pool.shape[1]) if regression else ()
    n_outputs = len(target_names) if regression else len(names)
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
            f"of shape ({channels}, {length}), "
            f"{TASKS[task].describe_targets(n_outputs, target_names)}, "
            f"normalize {stats['method']}{notes}"
        ),
        image_shape=raw.image_shape,
        shift=cfg.shift,
        noise=cfg.noise,
        amplitude=cfg.amplitude,
        fill=raw_zero(stats),
        test_split=test_split,
        padded=raw.padded_from is not None,
        task=task,
        target_scaling=target_scaling if regression else None,
        target_names=target_names,
    )


def choose_task(raw: RawData, y: np.ndarray | None, requested: str) -> str:
    """``requested`` when it is a task; for ``auto``: regression when the file says so (.ts
    @targetLabel true), for several target columns and for float targets that are not whole
    numbers (readers turn whole floats into integers), classification otherwise."""
    if requested != "auto":
        return requested
    if raw.task_hint is not None:
        return raw.task_hint
    y = np.asarray(y if y is not None else [])
    return "regression" if y.ndim == 2 or y.dtype.kind == "f" else "classification"


def _targets(y: np.ndarray, raw: RawData, what: str, test: bool = False) -> np.ndarray:
    """Regression targets as (N, K) float64; a label that is not a finite number is a DataError
    naming its file and line when the reader says where each label came from."""
    y = np.asarray(y)
    column = f" in column {raw.target_names[0]!r}" if raw.target_names and y.ndim == 1 else ""
    if y.dtype.kind in "US":
        try:
            y = y.astype(np.float64)
        except ValueError:
            cells = y.reshape(len(y), -1).tolist()
            row, bad = next((i, v) for i, r in enumerate(cells) for v in r if not _is_number(v))
            raise DataError(
                f"{raw.place(row, test)}: {what} must be numbers for task regression, found "
                f"{bad!r}{column}; set task: classification for named classes"
            ) from None
    if y.dtype.kind not in "biuf":
        raise DataError(f"{raw.origin}: {what} have dtype {y.dtype}; regression needs numbers")
    y = y.astype(np.float64)
    y = y[:, None] if y.ndim == 1 else y
    if not np.isfinite(y).all():
        first = int(np.argwhere(~np.isfinite(y).all(axis=1))[0, 0])
        where = raw.place(first, test)
        row = f" (first in row {first})" if where == raw.origin else column
        raise DataError(f"{where}: {what} hold NaN or infinite values{row}")
    return y


def _check_classes_of_targets(y: np.ndarray, raw: RawData) -> None:
    """``task: classification`` on data that reads as regression: its distinct target values
    become the classes, unless most of them are single samples (numbers, not classes)."""
    if y.ndim == 2 and y.shape[1] > 1:
        return  # refused by _class_labels
    distinct = len(np.unique(y))
    if distinct > len(y) / 2:
        raise DataError(
            f"{raw.origin}: task classification, but the {len(y)} training targets take "
            f"{distinct} distinct values (numbers to predict, not classes); use task: regression "
            "or auto"
        )


def _class_labels(y: np.ndarray, raw: RawData) -> np.ndarray:
    """Labels (N,) for classification: one target column as a vector, whole float values as
    integers (class "3", not "3.0"); several target columns are refused."""
    y = np.asarray(y)
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise DataError(
                f"{raw.origin}: {y.shape[1]} target columns are regression targets; "
                "task classification needs one label per sample"
            )
        y = y[:, 0]
    if y.dtype.kind == "f" and np.all(y == np.round(y)):
        return y.astype(np.int64)
    return y


def _is_number(text: Any) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _target_names(raw: RawData, k: int) -> tuple[str, ...]:
    """One name per regression output: the reader's, else "target" / "target_0".."target_K-1"."""
    if raw.target_names is not None and len(raw.target_names) == k:
        return tuple(raw.target_names)
    return ("target",) if k == 1 else tuple(f"target_{i}" for i in range(k))


def _check_outputs(scaling: dict[str, Any], y: np.ndarray, raw: RawData) -> None:
    """Stored target statistics must have one mean and std per target column of the data."""
    if len(scaling["mean"]) != y.shape[1]:
        raise DataError(
            f"{raw.origin}: the network predicts {len(scaling['mean'])} targets but the data "
            f"has {y.shape[1]} target columns"
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
    if not names:  # regression: a seeded shuffle split (nothing to stratify by)
        if n_part >= len(y):
            raise DataError(
                f"{key}: {fraction} of {len(y)} samples leaves none on the other side; "
                f"change {key} or data.limit"
            )
        return _split_rows(x, y, n_part, seed, stratify=None)
    counts = np.bincount(y, minlength=len(names))
    present = int(np.count_nonzero(counts))
    if n_part < present or len(y) - n_part < present or counts[counts > 0].min() < 2:
        thin = [names[i] for i in np.flatnonzero((counts > 0) & (counts < 2))]
        detail = f"; class {some(thin)} has one sample" if len(thin) == 1 else ""
        detail = f"; classes {some(thin)} have one sample" if len(thin) > 1 else detail
        raise DataError(
            f"{key}: {fraction} of {len(y)} samples cannot give every one of the {present} "
            f"classes a sample on both sides{detail}; change {key} or data.limit"
        )
    return _split_rows(x, y, n_part, seed, stratify=y)


def _split_rows(
    x: Any, y: np.ndarray, n_part: int, seed: int, stratify: np.ndarray | None
) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """Split by index: memory-mapped samples are then views of their rows, never copied (the
    same permutation scikit-learn draws for the arrays themselves)."""
    keep, part = train_test_split(
        np.arange(len(y)), test_size=n_part, random_state=seed, stratify=stratify
    )
    return x[keep], x[part], y[keep], y[part]


def _check_channels(stats: dict[str, Any], channels: int, raw: RawData) -> None:
    """Stored statistics must have one shift and scale per channel of the data."""
    if len(stats["shift"]) != channels or len(stats["scale"]) != channels:
        raise DataError(
            f"{raw.origin}: the stored normalization has {len(stats['shift'])} channels but the "
            f"data has {channels}; use the data.view the network was trained with"
        )
