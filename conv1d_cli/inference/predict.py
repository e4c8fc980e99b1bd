"""``conv1d predict``: label new samples with a trained network, batch by batch, as CSV or JSON.

A regression network writes numbers in the targets' units instead of labels (``ValueWriter``).

Rows are written as their batch is predicted, so memory holds one batch whatever the input's
size. ``--out FILE`` is written to a temporary file beside it and renamed at the end: an
interrupted prediction never leaves a half-written file, and an existing file is replaced only
with ``--force`` (the command refuses otherwise: nothing a user made is overwritten silently).
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from conv1d_cli.errors import Conv1dError, DataError
from conv1d_cli.inference.inputs import PredictInput, read_predict_input
from conv1d_cli.inference.load import (
    LoadedModel,
    load_model,
    softmax,
    unknown_labels_message,
)
from conv1d_cli.rundir.atomic import current_umask
from conv1d_cli.task import add_tallies, get_task


@dataclass
class PredictSummary:
    n: int
    accuracy: float | None  # when the input has labels
    checkpoint: Path
    origin: str
    note: str | None = None  # what was done to fit the network (padding), for stderr
    # Regression, when the input has targets: {"rmse", "mae", "r2"} averaged over the outputs
    # (RMSE and MAE in the targets' units), and "per_output": {name: {"rmse", "mae", "r2"}}.
    metrics: dict[str, Any] | None = None


class RowWriter:
    """One output row per sample: CSV (``index,label,prob_<name>...``) or JSON lines.

    With ``top`` only the ``top`` most probable classes are written, most probable first
    (CSV columns ``class_1,prob_1,...``; JSON ``"top": [{"class", "prob"}, ...]``).
    """

    def __init__(self, handle: IO[str], names: tuple[str, ...], json_lines: bool, top: int | None):
        self.handle, self.names, self.json_lines, self.top = handle, names, json_lines, top
        self.csv = None if json_lines else csv.writer(handle, lineterminator="\n")
        self.started = False

    def _header(self) -> None:
        # Written with the first rows, so an input that fails its first batch writes nothing.
        self.started = True
        names, top = self.names, self.top
        if self.csv is not None:
            if top:
                self.csv.writerow(
                    ["index", "label"]
                    + [f"{kind}_{i}" for i in range(1, top + 1) for kind in ("class", "prob")]
                )
            else:
                self.csv.writerow(["index", "label", *(f"prob_{name}" for name in names)])

    def write(self, start: int, probs: np.ndarray) -> None:
        """Rows for samples start, start + 1, ... with probabilities (n, K)."""
        if not self.started:
            self._header()
        names = self.names
        best = np.argmax(probs, axis=1)
        order = np.argsort(-probs, axis=1, kind="stable")[:, : self.top] if self.top else None
        for i, row in enumerate(probs.tolist()):
            index, label = start + i, names[best[i]]
            if self.json_lines:
                record: dict[str, Any] = {"index": index, "label": label}
                if order is None:
                    record["probabilities"] = dict(zip(names, row, strict=True))
                else:
                    record["top"] = [{"class": names[j], "prob": row[j]} for j in order[i]]
                self.handle.write(json.dumps(record) + "\n")
            elif order is None:
                self.csv.writerow([index, label, *(f"{p:.7g}" for p in row)])
            else:
                cells = [c for j in order[i] for c in (names[j], f"{row[j]:.7g}")]
                self.csv.writerow([index, label, *cells])


class ValueWriter:
    """One output row per sample of a regression network, in the targets' units.

    CSV ``index,prediction`` for one target (``index,<name>...`` for K, one column per output);
    with the input's targets the true value beside each prediction (``target``; K outputs:
    ``true_<name>``). JSON lines ``{"index", "prediction"[, "target"]}``, numbers for one
    target, ``{name: value}`` objects for K.
    """

    def __init__(self, handle: IO[str], names: tuple[str, ...], json_lines: bool, truth: bool):
        self.handle, self.names, self.json_lines, self.truth = handle, names, json_lines, truth
        self.csv = None if json_lines else csv.writer(handle, lineterminator="\n")
        self.started = False

    def _header(self) -> None:
        self.started = True
        if self.csv is None:
            return
        if len(self.names) == 1:
            columns = ["prediction", "target"] if self.truth else ["prediction"]
        else:
            pairs = [(name, f"true_{name}") for name in self.names]
            columns = [c for pair in pairs for c in (pair if self.truth else pair[:1])]
        self.csv.writerow(["index", *columns])

    def write(self, start: int, values: np.ndarray, truth: np.ndarray | None) -> None:
        """Rows for samples start, start + 1, ...: predictions (n, K), targets (n, K) or None."""
        if not self.started:
            self._header()
        single = len(self.names) == 1
        truth_rows = None if truth is None or not self.truth else truth.tolist()
        for i, row in enumerate(values.tolist()):
            index = start + i
            true = None if truth_rows is None else truth_rows[i]
            if self.json_lines:
                record: dict[str, Any] = {"index": index}
                record["prediction"] = row[0] if single else dict(zip(self.names, row, strict=True))
                if true is not None:
                    record["target"] = (
                        true[0] if single else dict(zip(self.names, true, strict=True))
                    )
                self.handle.write(json.dumps(record) + "\n")
                continue
            if true is None:
                cells = [f"{v:.7g}" for v in row]
            else:
                cells = [f"{c:.7g}" for v, t in zip(row, true, strict=True) for c in (v, t)]
            self.csv.writerow([index, *cells])


@contextmanager
def open_output(out: Path | None, force: bool) -> Iterator[IO[str]]:
    """stdout, or a temporary file renamed onto ``out`` only when everything was written."""
    if out is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    out = Path(out)
    if out.is_dir():
        raise Conv1dError(f"--out {out} is a folder; give a file name")
    if out.exists() and not force:
        raise Conv1dError(f"--out {out} exists; choose another file or add --force to replace it")
    if not out.parent.is_dir():
        raise Conv1dError(f"--out {out}: the folder {out.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise Conv1dError(f"--out {out}: cannot write there: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # like a file opened normally, not mkstemp's 0600
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def predict_file(
    target: Path,
    input_path: Path,
    handle: IO[str],
    *,
    json_lines: bool = False,
    top: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    model: LoadedModel | None = None,
    ignore_labels: bool = False,
) -> PredictSummary:
    """Predict every sample of ``input_path`` with the checkpoint ``target``; rows to handle.

    Input that does not fit the network (length, channels) and labels that are not its
    classes are refused before any row is written; with ``ignore_labels`` the labels are
    not checked and nothing is scored. ``progress(done, total)`` is called after every batch.
    """
    loaded = model or load_model(target)
    from conv1d_cli.build.memory import check_memory  # the memory preflight (issue 15)

    check_memory(loaded.model, loaded.input_shape, loaded.batch_size, False, what="prediction")
    if top is not None and loaded.regression:
        raise Conv1dError(
            f"--top {top}: a classification option; {loaded.checkpoint} is a regression network "
            "(it predicts numbers)"
        )
    if top is not None and not 1 <= top <= loaded.n_classes:
        raise Conv1dError(f"--top {top}: must be between 1 and {loaded.n_classes} (the classes)")
    source = read_predict_input(
        input_path, loaded.config.data, loaded.input_shape, padded=loaded.padded
    )
    if source.x is not None:
        loaded.as_samples(source.x[:0], source.origin)  # a wrong shape fails before any output
    if loaded.regression:
        return _predict_values(loaded, source, handle, json_lines, progress, ignore_labels)
    writer = RowWriter(handle, loaded.class_names, json_lines, top)
    done, correct, labelled = 0, 0, not ignore_labels
    distinct = None if ignore_labels else source.distinct_labels()
    unknown = [] if distinct is None else loaded.unknown_labels(distinct)
    if unknown:  # scoring digits against GunPoint's 1/2 would be a number that means nothing
        message = unknown_labels_message(source.origin, unknown, loaded.class_names)
        raise DataError(f"{message}; add --ignore-labels to predict without scoring")
    for x, labels in source.batches(loaded.batch_size):
        probs = softmax(loaded.forward_batch(x, origin=source.origin, at=done))
        writer.write(done, probs)
        if labels is None or ignore_labels:
            labelled = False
        elif labelled:
            truth = loaded.label_indices(labels, source.origin)
            correct += int(np.count_nonzero(np.argmax(probs, axis=1) == truth))
        done += len(x)
        if progress is not None:
            progress(done, source.n)
    if done == 0:
        raise DataError(f"{source.origin}: no samples to predict")
    accuracy = correct / done if labelled else None
    return PredictSummary(done, accuracy, loaded.checkpoint, source.origin, source.note)


def _predict_values(
    loaded: LoadedModel,
    source: PredictInput,
    handle: IO[str],
    json_lines: bool,
    progress: Callable[[int, int], None] | None,
    ignore_labels: bool,
) -> PredictSummary:
    """``predict_file`` for a regression network: values in the targets' units; scored (RMSE,
    MAE, R^2 as ``conv1d eval`` computes them) when the input has numeric targets."""
    task = get_task(loaded.task)
    scaling = loaded.target_scaling
    names = loaded.target_names
    has_targets = not ignore_labels and (source.y is not None or source.csv_labels is not None)
    if has_targets and source.y is not None:  # read whole already: refuse before any output
        target_values(source.y, len(names), source.origin)
    writer = ValueWriter(handle, names, json_lines, has_targets)
    tally: dict[str, Any] = {}
    done = 0
    for x, labels in source.batches(loaded.batch_size):
        outputs = loaded.forward_batch(x, origin=source.origin, at=done)
        values = loaded.values(outputs)
        truth = None
        if has_targets and labels is not None:
            truth = target_values(labels, len(names), source.origin, at=done)
            # The trainer's own sums on standardized values (float64): eval's numbers.
            standardized = (truth - np.asarray(scaling["mean"])) / np.asarray(scaling["std"])
            add_tallies(tally, task.tally(outputs, standardized))
        writer.write(done, values, truth)
        done += len(x)
        if progress is not None:
            progress(done, source.n)
    if done == 0:
        raise DataError(f"{source.origin}: no samples to predict")
    metrics = None
    if has_targets:
        metrics = task.scores(tally, done, scaling)
        each = task.per_output(tally, done, scaling)
        metrics["per_output"] = {
            name: {metric: float(each[metric][i]) for metric in task.metrics}
            for i, name in enumerate(names)
        }
    return PredictSummary(
        done, None, loaded.checkpoint, source.origin, source.note, metrics=metrics
    )


def target_values(labels: np.ndarray, k: int, origin: str, at: int = 0) -> np.ndarray:
    """The input's regression targets (n,) or (n, K) -> (n, K) float64, or a DataError naming
    the first that is not a finite number (``at``: the first row's index in the input)."""
    y = np.asarray(labels)
    try:
        values = y.astype(np.float64)
    except ValueError:
        flat = y.reshape(len(y), -1)
        row = next(i for i, r in enumerate(flat.tolist()) if not all(map(_is_number, r)))
        raise DataError(
            f"{origin}: target of sample {at + row} is not a number ({flat[row].tolist()!r}); "
            "add --ignore-labels to predict without scoring"
        ) from None
    values = values.reshape(len(values), -1)
    if values.shape[1] != k:
        raise DataError(
            f"{origin}: {values.shape[1]} target columns but the network predicts {k}; "
            "add --ignore-labels to predict without scoring"
        )
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise DataError(
            f"{origin}: target of sample {at + int(np.argmax(bad))} is NaN or infinite; "
            "add --ignore-labels to predict without scoring"
        )
    return values


def _is_number(text: Any) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
