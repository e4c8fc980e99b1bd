"""The per-epoch metrics file (``metrics.csv``): appended a row at a time, never half-written."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

from conv1d_cli.rundir.atomic import (
    atomic_write_text,
    writing,
)

CLASSIFICATION_SCORES = (
    "train_loss", "train_acc", "train_balanced_acc", "train_macro_f1",
    "val_loss", "val_acc", "val_balanced_acc", "val_macro_f1",
)  # fmt: skip
METRIC_COLUMNS = ("epoch", *CLASSIFICATION_SCORES, "lr", "epoch_seconds", "samples_per_s")


def metric_columns(scores: tuple[str, ...]) -> tuple[str, ...]:
    """metrics.csv's header: epoch, the task's train/val columns, lr, time and throughput."""
    return ("epoch", *scores, "lr", "epoch_seconds", "samples_per_s")


class MetricsLog:
    """``metrics.csv`` (one row per epoch) and ``train.log`` (the plain per-epoch lines).

    Rows are appended and fsynced every epoch so a killed run keeps what it measured.
    """

    def __init__(self, run_dir: Path, scores: tuple[str, ...] = CLASSIFICATION_SCORES) -> None:
        """``scores``: the task's columns between epoch and lr (``Task.columns()``)."""
        self.csv_path = Path(run_dir) / "metrics.csv"
        self.log_path = Path(run_dir) / "train.log"
        self.columns = metric_columns(scores)
        if not self.csv_path.exists():
            atomic_write_text(self.csv_path, ",".join(self.columns) + "\n")

    def read_rows(self) -> list[dict[str, float]]:
        with self.csv_path.open(newline="") as handle:
            return [
                {key: float(value) if value != "" else float("nan") for key, value in row.items()}
                for row in csv.DictReader(handle)
            ]

    def truncate_to_epoch(self, epoch: int) -> list[dict[str, float]]:
        """Keep the rows of epochs <= ``epoch`` (resume continues from there); return them."""
        rows = [row for row in self.read_rows() if int(row["epoch"]) <= epoch]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            # A run from before a column existed (resumed) has none: left empty, as NaN is.
            cells = {key: _format_cell(row.get(key, float("nan"))) for key in self.columns}
            writer.writerow(cells)
        atomic_write_text(self.csv_path, buffer.getvalue())
        return rows

    def append(self, row: Mapping[str, float], line: str) -> None:
        cells = ",".join(_format_cell(row.get(key, float("nan"))) for key in self.columns)
        for path, text in ((self.csv_path, cells), (self.log_path, line)):
            with writing(path):
                _append_line(path, text)


def _append_line(path: Path, text: str) -> None:
    """Append one line and fsync; on a failed write, cut the half line off so the file parses."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        size = os.fstat(fd).st_size
        data = (text + "\n").encode("utf-8")
        try:
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        except OSError:
            _truncate_quietly(path, size)
            raise
    finally:
        os.close(fd)


def _truncate_quietly(path: Path, size: int) -> None:
    with suppress(OSError):
        os.truncate(path, size)


def _format_cell(value: float) -> str:
    if value != value:  # NaN: the metric does not exist for this run (e.g. no validation split)
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
