"""``conv1d predict``: label new samples with a trained network, batch by batch, as CSV or JSON.

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
from conv1d_cli.inference.inputs import read_predict_input
from conv1d_cli.inference.load import (
    LoadedModel,
    load_model,
    softmax,
    unknown_labels_message,
)
from conv1d_cli.rundir.atomic import current_umask


@dataclass
class PredictSummary:
    n: int
    accuracy: float | None  # when the input has labels
    checkpoint: Path
    origin: str
    note: str | None = None  # what was done to fit the network (padding), for stderr


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
    if top is not None and not 1 <= top <= loaded.n_classes:
        raise Conv1dError(f"--top {top}: must be between 1 and {loaded.n_classes} (the classes)")
    source = read_predict_input(
        input_path, loaded.config.data, loaded.input_shape, padded=loaded.padded
    )
    writer = RowWriter(handle, loaded.class_names, json_lines, top)
    done, correct, labelled = 0, 0, not ignore_labels
    if source.x is not None:
        loaded.as_samples(source.x[:0], source.origin)  # a wrong shape fails before any output
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
