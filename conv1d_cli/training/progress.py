"""How a training run shows its progress: a rich bar on a terminal, plain lines elsewhere.

Progress bars redrawn into a CI log are unreadable, so when stderr is not a terminal each
epoch is one plain line (the same line train.log holds).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

HEADERS = {
    "epoch_seconds": "time (s)",
    "samples_per_s": "samples/s",
    "val_balanced_acc": "val_bal_acc",
}
# Columns metrics.csv has but the console leaves out, to stay one readable line: classification
# shows accuracy per split and the validation balanced accuracy (what imbalanced data needs).
CONSOLE_HIDDEN = frozenset({"train_balanced_acc", "train_macro_f1", "val_macro_f1"})


def table_columns(metrics: tuple[str, ...] = ("acc",)) -> tuple[tuple[str, int, str], ...]:
    """(key, width, format) of the per-epoch table for a task's ``metrics`` ("acc" or "rmse",
    "mae", "r2"): epoch, train loss and metrics, validation loss and metrics, lr, time, speed.
    Regression values take 4 significant digits (targets have any unit)."""
    fmt = {"acc": "{:.4f}", "balanced_acc": "{:.4f}", "r2": "{:.4f}"}
    keys = [(split, name) for split in ("train", "val") for name in ("loss", *metrics)]
    scores = [
        (key, max(8, len(HEADERS.get(key, key))), fmt.get(name, "{:.4g}"))
        for split, name in keys
        if (key := f"{split}_{name}") not in CONSOLE_HIDDEN
    ]
    return (
        ("epoch", 7, "{}"),
        *scores,
        ("lr", 9, "{:.3g}"),
        ("epoch_seconds", 8, "{:.1f}"),
        ("samples_per_s", 10, "{:,.0f}"),
    )


COLUMNS = table_columns()


class Reporter(Protocol):
    """Where the loop sends progress; the CLI renders it (rich bar, plain lines or nothing)."""

    def epoch_start(
        self,
        epoch: int,
        epochs: int,
        total_batches: int,
        done_batches: int,
        metrics: tuple[str, ...] = ("acc",),
    ) -> None:
        """``metrics``: the task's per-epoch metrics; the first is ``step``'s ``score``."""

    def step(self, batches_done: int, loss: float, score: float, samples_per_s: float) -> None:
        """The running training loss and headline metric of the epoch so far."""

    def epoch_end(self, row: dict[str, float], line: str, improved: bool) -> None: ...

    def message(self, text: str) -> None: ...


class SilentReporter:
    """A Reporter that shows nothing (tests, ``--quiet``)."""

    def epoch_start(
        self,
        epoch: int,
        epochs: int,
        total_batches: int,
        done_batches: int,
        metrics: tuple[str, ...] = ("acc",),
    ) -> None:
        pass

    def step(self, batches_done: int, loss: float, score: float, samples_per_s: float) -> None:
        pass

    def epoch_end(self, row: dict[str, float], line: str, improved: bool) -> None:
        pass

    def message(self, text: str) -> None:
        pass


def format_epoch_line(row: dict[str, float], epochs: int, improved: bool) -> str:
    """The plain per-epoch line (non-terminal output and train.log)."""
    parts = [f"epoch {int(row['epoch'])}/{epochs}"]
    for key, value in row.items():  # the task's train_/val_ columns, in the row's order
        shown = key.startswith(("train_", "val_")) and key not in CONSOLE_HIDDEN
        if shown and not math.isnan(value):
            exact = key.endswith(("_loss", "_acc", "_r2"))  # else regression units: 4 digits
            parts.append(f"{key} {value:.4f}" if exact else f"{key} {value:.4g}")
    parts.append(f"lr {row['lr']:.3g}")
    parts.append(f"{row['epoch_seconds']:.1f}s")
    parts.append(f"{row['samples_per_s']:,.0f} samples/s")
    if improved:
        parts.append("*best")
    return "  ".join(parts)


class PlainReporter(SilentReporter):
    """One line per epoch; no redrawing (for logs, pipes and CI)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def epoch_end(self, row: dict[str, float], line: str, improved: bool) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def message(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        pass


class RichReporter(PlainReporter):
    """A live bar per epoch (loss, accuracy, samples/s, ETA) and one table row per epoch."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "loss {task.fields[loss]:.4f}  {task.fields[metric]} {task.fields[score]:.4g}"
            ),
            TextColumn("{task.fields[speed]:>8,.0f} samples/s"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task: Any = None
        self.header_printed = False
        self.columns = COLUMNS

    def epoch_start(
        self,
        epoch: int,
        epochs: int,
        total_batches: int,
        done_batches: int,
        metrics: tuple[str, ...] = ("acc",),
    ) -> None:
        if not self.header_printed:
            self.columns = table_columns(metrics)
            self.console.print(_header(self.columns), style="bold", highlight=False)
            self.header_printed = True
        if not self.progress.live.is_started:
            self.progress.start()
        self.task = self.progress.add_task(
            "train",
            total=total_batches,
            completed=done_batches,
            epoch=f"{epoch}/{epochs}",
            loss=float("nan"),
            metric=metrics[0],
            score=float("nan"),
            speed=0.0,
        )

    def step(self, batches_done: int, loss: float, score: float, samples_per_s: float) -> None:
        self.progress.update(
            self.task, completed=batches_done, loss=loss, score=score, speed=samples_per_s
        )

    def epoch_end(self, row: dict[str, float], line: str, improved: bool) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        text = _row(row, self.columns) + ("  [green]*best[/green]" if improved else "")
        self.console.print(text, highlight=False)

    def close(self) -> None:
        if self.progress.live.is_started:
            self.progress.stop()


class QuietReporter(PlainReporter):
    """Nothing but messages that matter (resuming, early stopping)."""

    def epoch_end(self, row: dict[str, float], line: str, improved: bool) -> None:
        pass


def _header(columns: tuple[tuple[str, int, str], ...]) -> str:
    return "  ".join(f"{HEADERS.get(key, key):>{width}}" for key, width, _ in columns)


def _row(row: dict[str, float], columns: tuple[tuple[str, int, str], ...]) -> str:
    cells = []
    for key, width, fmt in columns:
        value = row.get(key, float("nan"))
        text = "-" if isinstance(value, float) and math.isnan(value) else fmt.format(value)
        if key == "epoch":
            text = str(int(value))
        cells.append(f"{text:>{width}}")
    return "  ".join(cells)


def make_reporter(console: Console, quiet: bool = False) -> PlainReporter:
    if quiet:
        return QuietReporter(console)
    if console.is_terminal:
        return RichReporter(console)
    return PlainReporter(console)


def summary_table(summary: Any, title: str = "model") -> Table:
    """The per-layer table of ``conv1d summary`` (and the start of ``conv1d train``)."""
    table = Table(title=title, title_justify="left", show_footer=True)
    table.add_column("#", justify="right", footer="")
    table.add_column("layer", footer="total")
    table.add_column("output shape", footer="")
    table.add_column("params", justify="right", footer=f"{summary.total_params:,}")
    table.add_column("MACs", justify="right", footer=f"{summary.total_macs:,}")
    table.add_row("", "input", _shape(summary.input_shape), "", "")
    for info in summary.rows:  # rows inside blocks: their path ("3.layers.1"), indented
        depth = getattr(info, "depth", 0)
        table.add_row(
            getattr(info, "path", "") or str(info.index),
            "  " * depth + (info.description or info.name),
            _shape(info.output_shape),
            f"{info.n_params:,}",
            f"{info.macs:,}",
        )
    return table


def _shape(shape: Any) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def table_text(table: Table) -> str:
    """A rich table as plain text at its natural width (no colours, no trailing blanks), for
    files such as the run's ``model.txt``."""
    import io

    width = Console(file=io.StringIO(), width=1000).measure(table).maximum
    buffer = io.StringIO()
    Console(file=buffer, width=max(40, width), color_system=None, highlight=False).print(table)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def short_summary(summary: Any, whole: str) -> str:
    """The model in two lines for logs (stderr not a terminal); ``whole``: where the table is.

    ``summary`` is a ``build.summary.ModelSummary``: rows of every layer (``depth`` > 0 inside
    blocks), totals per sample, the input shape (channels, length).
    """
    top = sum(1 for row in summary.rows if getattr(row, "depth", 0) == 0)
    inner = len(summary.rows) - top
    layers = f"{top} layers" + (f" ({inner} inside blocks)" if inner else "")
    return (
        f"model: {layers}, input {_shape(summary.input_shape)}, "
        f"{summary.total_params:,} parameters, "
        f"{summary.total_macs:,} multiply-accumulates per sample\n"
        f"  the whole table: {whole}"
    )
