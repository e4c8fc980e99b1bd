"""What a sweep leaves and shows: trials.csv, best.yaml, metric-vs-parameter plots, progress.

Progress is one line per finished trial on stderr; on a terminal a live table of the trials sits
below those lines.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from conv1d_cli.rundir.atomic import atomic_write_text

FINISHED = ("completed", "pruned", "diverged", "failed")
MARKERS = {"completed": "o", "pruned": "x", "diverged": "v"}  # others (interrupted): "."


@dataclass
class TrialRecord:
    """One trial's row of trials.csv (and of the sweep's state.json)."""

    index: int
    params: dict[str, Any]
    status: str = "pending"  # pending running completed pruned diverged failed interrupted
    metric: float | None = None
    epochs: int = 0
    seconds: float | None = None
    note: str = ""  # why it failed, and where its log is
    epoch_metrics: dict[int, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"trial-{self.index:03d}"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def best_trial(records: list[TrialRecord], maximize: bool) -> TrialRecord | None:
    """The best completed trial (pruned trials did not run to the end, so they do not count)."""
    done = [r for r in records if r.status == "completed" and _finite(r.metric)]
    if not done:
        return None
    return (max if maximize else min)(done, key=lambda r: (r.metric, -r.index))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str | int | bool):
        return str(value)
    return json.dumps(value)


def write_trials_csv(path: Path, records: list[TrialRecord], keys: list[str], metric: str) -> None:
    """trial, each parameter, status, the metric (named), epochs, seconds."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", *keys, "status", metric, "epochs", "seconds"])
    for r in sorted(records, key=lambda r: r.index):
        seconds = None if r.seconds is None else round(r.seconds, 2)
        params = [_cell((r.params or {}).get(k)) for k in keys]
        writer.writerow([r.name, *params, r.status, _cell(r.metric), r.epochs, _cell(seconds)])
    atomic_write_text(path, buffer.getvalue())


def plot_metric(path: Path, records: list[TrialRecord], keys: list[str], metric: str) -> None:
    """One panel per varied parameter: each trial's metric against its value (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in records if _finite(r.metric)]
    keys = keys or (list(records[0].params) if records else [])
    if not shown or not keys:
        return
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        values = [r.params.get(key) for r in shown]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric:
            xs: list[Any] = values
            if min(values) > 0 and max(values) / min(values) >= 20:
                ax.set_xscale("log")
        else:
            labels = list(dict.fromkeys(_cell(v) for v in values))
            xs = [labels.index(_cell(v)) for v in values]
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        for status in dict.fromkeys(r.status for r in shown):
            pts = [(x, r.metric) for x, r in zip(xs, shown, strict=True) if r.status == status]
            ax.scatter(*zip(*pts, strict=True), marker=MARKERS.get(status, "."), label=status)
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def describe(record: TrialRecord, metric: str) -> str:
    value = "-" if record.metric is None else f"{record.metric:.4f}"
    seconds = "" if record.seconds is None else f", {record.seconds:.1f} s"
    return f"{record.name} {record.status:<9} {metric} {value} ({record.epochs} epochs{seconds})"


class Progress:
    """One line per finished trial with the best so far; a live table when on a terminal."""

    def __init__(self, console: Console, metric: str, keys: list[str], maximize: bool) -> None:
        self.console, self.metric, self.keys, self.maximize = console, metric, keys, maximize
        self.live: Live | None = None
        if console.is_terminal:
            self.live = Live(console=console, auto_refresh=False, transient=True)
            self.live.start()

    def finished(self, record: TrialRecord, records: list[TrialRecord]) -> None:
        best = best_trial(records, self.maximize)
        params = " ".join(f"{k}={_cell(record.params.get(k))}" for k in self.keys)
        tail = f"  best: {best.name} {best.metric:.4f}" if best and best.metric is not None else ""
        note = f"  ({record.note})" if record.note else ""
        self.console.print(
            f"{describe(record, self.metric)}  {params}{tail}{note}", markup=False, soft_wrap=True
        )

    def refresh(self, records: list[TrialRecord]) -> None:
        if self.live is None:
            return
        table = Table(title="trials", title_justify="left")
        for column in ("trial", *self.keys, "status", "epoch", self.metric):
            table.add_column(column, justify="left" if column == "trial" else "right")
        for r in sorted(records, key=lambda r: r.index):
            if r.status == "pending":
                continue
            pick = max if self.maximize else min
            value = (
                r.metric if r.metric is not None else pick(r.epoch_metrics.values(), default=None)
            )
            table.add_row(
                r.name,
                *(_cell(r.params.get(k)) for k in self.keys),
                r.status,
                str(r.epochs or len(r.epoch_metrics)),
                "-" if value is None else f"{value:.4f}",
            )
        self.live.update(table, refresh=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
