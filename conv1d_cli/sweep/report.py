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


# One colour and marker per status, the same in every sweep (matplotlib's tab10 colours).
STATUS_STYLE = {
    "completed": ("#1f77b4", "o"),
    "pruned": ("#ff7f0e", "X"),
    "diverged": ("#d62728", "v"),
    "failed": ("#7f7f7f", "s"),
    "interrupted": ("#9467bd", "."),
    "running": ("#2ca02c", "."),
    "pending": ("#bcbd22", "."),
}
WIDE = 10.0  # positive values spanning this factor or more get a log axis (0.001 and 0.01)
MAX_LISTED_TICKS = 12  # listed values up to this many are each a tick of their own


@dataclass(frozen=True)
class Axis:
    """How one parameter is drawn: ``kind`` categorical, integer or float; ``log`` scale;
    ``ticks`` the listed values each at a tick (or None: matplotlib's, integers only for ints);
    ``categories`` the labels of a categorical axis, in the sweep file's order."""

    kind: str
    log: bool = False
    ticks: list[float] | None = None
    categories: list[str] | None = None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parameter_axis(values: list[Any], spec: Any = None) -> Axis:
    """The axis of a parameter from the values its trials took and its sweep-file entry
    (a ``ParameterSpec``: ``values``, ``distribution``, ``min``/``max``), when known."""
    listed = list(getattr(spec, "values", None) or [])
    distribution = getattr(spec, "distribution", None)
    everything = listed + values
    if not all(_number(v) for v in everything):
        categories = list(dict.fromkeys(_cell(v) for v in everything))
        return Axis("categorical", categories=categories)
    integer = distribution == "int_uniform" or all(isinstance(v, int) for v in everything)
    numbers = [float(v) for v in everything]
    if distribution is not None and spec.min is not None and spec.max is not None:
        numbers += [float(spec.min), float(spec.max)]
    low, high = min(numbers), max(numbers)
    log = distribution == "log_uniform" or (low > 0 and high / low >= WIDE)
    # listed values are each a tick; so are integers of unknown origin; a drawn range is not
    drawn = distribution is not None
    distinct = sorted(set(float(v) for v in (listed or (values if integer and not drawn else []))))
    ticks = distinct if 0 < len(distinct) <= MAX_LISTED_TICKS else None
    return Axis("integer" if integer else "float", log=log, ticks=ticks)


def _tick_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _style_axis(ax: Any, axis: Axis) -> None:
    from matplotlib import ticker

    if axis.kind == "categorical":
        assert axis.categories is not None
        ax.set_xticks(range(len(axis.categories)), axis.categories, rotation=30, ha="right")
        ax.set_xlim(-0.5, len(axis.categories) - 0.5)
        return
    if axis.log:
        ax.set_xscale("log")
    ax.margins(x=0.12, y=0.08)  # the outermost values (and the best trial's ring) inside
    if axis.ticks is not None:
        ax.set_xticks(axis.ticks, [_tick_text(t) for t in axis.ticks])
        ax.xaxis.set_minor_locator(ticker.NullLocator())
        if len(axis.ticks) == 1:  # one value: some room either side of it
            t = axis.ticks[0]
            ax.set_xlim(*((t / 2, t * 2) if axis.log else (t - 1, t + 1)))
        return
    if axis.log:  # 1, 2, 5 per decade as plain numbers: a range inside one decade has ticks
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _tick_text(v)))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    elif axis.kind == "integer":
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))


def metric_figure(
    records: list[TrialRecord],
    keys: list[str],
    metric: str,
    *,
    maximize: bool,
    parameters: dict[str, Any] | None = None,
    sweep: str = "",
) -> Any:
    """metric.png as a matplotlib Figure (Agg canvas), or None when no trial has a metric.

    One panel per varied parameter: each trial's metric against its value, one colour and
    marker per status (STATUS_STYLE), the best completed trial ringed; ``parameters`` (the
    sweep file's ParameterSpecs by key) decide integer, categorical and log axes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = sorted((r for r in records if _finite(r.metric)), key=lambda r: r.index)
    keys = keys or (list(records[0].params) if records else [])
    if not shown or not keys:
        return None
    best = best_trial(records, maximize)
    fig = Figure(figsize=(4.2 * len(keys), 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    present = {r.status for r in shown}  # in STATUS_STYLE's order: the legend's is fixed too
    statuses = list(dict.fromkeys(s for s in (*STATUS_STYLE, *sorted(present)) if s in present))
    for ax, key in zip(axes, keys, strict=True):
        values = [r.params.get(key) for r in shown]
        axis = parameter_axis(values, (parameters or {}).get(key))
        if axis.kind == "categorical":
            assert axis.categories is not None
            xs = [float(axis.categories.index(_cell(v))) for v in values]
        else:
            xs = [float(v) for v in values]
        for status in statuses:
            colour, marker = STATUS_STYLE.get(status, ("#17becf", "."))
            pts = [(x, r.metric) for x, r in zip(xs, shown, strict=True) if r.status == status]
            ax.scatter(
                *zip(*pts, strict=True),
                color=colour,
                marker=marker,
                s=36,
                label=f"{status} ({len(pts)})",
                zorder=3,
            )
        if best is not None and best in shown:
            x = xs[shown.index(best)]
            ax.scatter(
                [x],
                [best.metric],
                s=260,
                facecolors="none",
                edgecolors="black",
                linewidths=1.5,
                label=f"best: {best.name}",
                zorder=4,
            )
        _style_axis(ax, axis)
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    goal = "higher" if maximize else "lower"
    head = f"sweep {sweep}: " if sweep else ""
    tail = (
        f"; best {best.name} {show_metric(metric, best.metric)}"
        if best is not None and best.metric is not None
        else ""
    )
    fig.suptitle(f"{head}{metric} per trial ({goal} is better, {len(shown)} trials){tail}")
    return fig


def plot_metric(
    path: Path,
    records: list[TrialRecord],
    keys: list[str],
    metric: str,
    *,
    maximize: bool = True,
    parameters: dict[str, Any] | None = None,
    sweep: str = "",
) -> None:
    """Write metric.png (metric_figure); nothing when no trial has a metric yet."""
    fig = metric_figure(
        records, keys, metric, maximize=maximize, parameters=parameters, sweep=sweep
    )
    if fig is not None:
        fig.savefig(path, dpi=100)


def show_metric(metric: str, value: float) -> str:
    """A metric's value: four decimals, but four significant digits for an error in the
    targets' units (a regression RMSE of 0.00043 would read 0.0004)."""
    return f"{value:.4g}" if metric.endswith(("_rmse", "_mae")) else f"{value:.4f}"


def describe(record: TrialRecord, metric: str) -> str:
    value = "-" if record.metric is None else show_metric(metric, record.metric)
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
        tail = (
            f"  best: {best.name} {show_metric(self.metric, best.metric)}"
            if best and best.metric is not None
            else ""
        )
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
                "-" if value is None else show_metric(self.metric, value),
            )
        self.live.update(table, refresh=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
