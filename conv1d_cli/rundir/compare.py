"""``conv1d runs compare``: runs side by side, as a table, their config differences and a PNG.

Each run is named by its path under the runs folder (``mnist``, a sweep's ``lr-kernel/trial-000``),
longer where two would read alike. Config differences are per key
(``model.layers[0].kernel: 3 | 5``), with whole values and numbers as they were written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conv1d_cli.errors import RunDirError
from conv1d_cli.rundir.listing import (
    CONFIG,
    SUMMARY,
    RunRow,
    format_seconds,
    is_run,
    read_metrics,
    read_run,
)

# What a sweep's folder holds beside its trials (sweep/sweepdir.py): its trials are named with it.
SWEEP_FILES = ("state.json", "trials.csv")
IGNORED_KEYS = {"name", "output.runs_dir"}  # differ between any two runs; they say nothing


@dataclass
class Comparison:
    runs: list[RunRow]
    labels: list[str]  # one per run: its path under the runs folder
    fields: list[tuple[str, list[str]]]  # (row label, one cell per run): results
    differences: list[tuple[str, list[str]]]  # (config key, one value per run): what differs
    out: Path


def resolve_run(target: str) -> Path:
    path = Path(target)
    if not path.is_dir() or not is_run(path):
        raise RunDirError(f"{target} is not a run directory (it holds no {SUMMARY} or {CONFIG})")
    return path


def run_labels(paths: Sequence[Path]) -> list[str]:
    """Each run's path under its runs folder: ``mnist``, a sweep's ``lr-kernel/trial-000``.

    Two runs that would read alike (trial-000 of two sweeps in other folders) get more of their
    path, until they differ; the same folder given twice keeps its whole path.
    """
    full = [Path(p).absolute() for p in paths]
    depth = [2 if any((p.parent / f).is_file() for f in SWEEP_FILES) else 1 for p in full]
    while True:
        labels = ["/".join(p.parts[-d:]) for p, d in zip(full, depth, strict=True)]
        clashing = {label for label in labels if labels.count(label) > 1}
        grown = False
        for i, label in enumerate(labels):
            if label in clashing and depth[i] < len(full[i].parts) - 1:
                depth[i] += 1
                grown = True
        if not grown:
            return labels


def compare_runs(targets: Sequence[str], out: Path) -> Comparison:
    """Draw the runs' loss and accuracy (regression: RMSE) curves on one PNG; return the
    side-by-side tables. Runs of both tasks are refused (RunDirError, one line)."""
    from conv1d_cli.training.report import pyplot, save_figure

    if len(targets) < 2:
        raise RunDirError("runs compare needs at least two run directories: RUN RUN ...")
    out = Path(out)
    if not out.parent.is_dir():
        raise RunDirError(f"--out {out}: folder {out.parent} does not exist")
    paths = [resolve_run(target) for target in targets]
    labels = run_labels(paths)
    runs = [read_run(label, path) for label, path in zip(labels, paths, strict=True)]
    _one_task(runs)
    metrics = [read_metrics(path) for path in paths]
    differences = config_differences([_read_config(path) for path in paths])
    plt = pyplot()
    fig = compare_figure(runs, metrics)
    try:
        save_figure(fig, out)
    finally:
        plt.close(fig)
    return Comparison(runs, labels, _table(runs, metrics), differences, out)


def _one_task(runs: Sequence[RunRow]) -> None:
    """Refuse runs of both tasks: their metrics share no axis (accuracy vs RMSE)."""
    kinds: dict[str, list[str]] = {}
    for row in runs:
        kinds.setdefault(row.task or "classification", []).append(row.name)
    if len(kinds) > 1:
        named = "; ".join(f"{task}: {', '.join(names)}" for task, names in sorted(kinds.items()))
        raise RunDirError(
            f"runs compare compares runs of one task, these mix them ({named}); compare each "
            "task's runs on their own"
        )


def task_of(runs: Sequence[RunRow]) -> str:
    """The one task of runs that passed ``_one_task``."""
    return next((row.task for row in runs if row.task), "classification")


def _read_config(path: Path) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load((path / CONFIG).read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(runs: list[RunRow], metrics: list[list[dict[str, float]]]) -> list:
    last = [rows[-1] if rows else {} for rows in metrics]
    regression = task_of(runs) == "regression"
    fields = [
        ("status", [row.status for row in runs]),
        ("data", [_fmt(row.data) for row in runs]),
        ("epochs", [f"{_fmt(r.epochs_completed)}/{_fmt(r.epochs)}" for r in runs]),
        ("monitor", [_fmt(row.monitor) for row in runs]),
        ("best", [f"{_best(r)} (epoch {_fmt(r.best_epoch)})" for r in runs]),
    ]
    if regression:
        fields.append(("test rmse", [_error(row.test_rmse) for row in runs]))
        fields.append(("test r2", [_fmt(row.test_r2) for row in runs]))
        keys = [f"{split}_{m}" for split in ("train", "val") for m in ("loss", "rmse", "r2")]
    else:
        fields.append(("test accuracy", [_fmt(row.test_accuracy) for row in runs]))
        keys = ["train_loss", "train_acc", "val_loss", "val_acc"]
    for key in keys:
        show = _error if key.endswith("_rmse") else _fmt
        fields.append((f"last {key}", [show(m.get(key)) for m in last]))
    fields.append(("wall time", [format_seconds(row.wall_seconds) for row in runs]))
    fields.append(("started", [_fmt(row.started) for row in runs]))
    return fields


def _error(value: Any) -> str:
    """RMSE / MAE in the targets' units: four significant digits, whatever the unit."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _best(row: RunRow) -> str:
    monitor = row.monitor or ""
    return _error(row.best) if monitor.endswith(("_rmse", "_mae")) else _fmt(row.best)


# ------------------------------------------------------------------------ config differences
_ABSENT = object()  # a key one run's config does not have (a layer the other has no twin of)


def config_differences(configs: Sequence[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Keys whose values differ between the configs, in the configs' order, one value per run.

    Layers are compared key by key (``model.layers[0].kernel``), so one changed kernel is one
    row; a list of plain values (``data.view: [1, 784]``) is one value.
    """
    flat = [flatten_config(config) for config in configs]
    keys = dict.fromkeys(key for table in flat for key in table)  # first seen, first shown
    found = []
    for key in keys:
        if key in IGNORED_KEYS:
            continue
        values = [table.get(key, _ABSENT) for table in flat]
        if len({_identity(value) for value in values}) > 1:
            found.append((key, [show_value(value) for value in values]))
    return found


def flatten_config(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"model": {"layers": [{"kernel": 3}]}}`` -> ``{"model.layers[0].kernel": 3}``."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten_config(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten_config(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def _identity(value: Any) -> str:
    return "\0absent" if value is _ABSENT else json.dumps(value, sort_keys=True)


def show_value(value: Any) -> str:
    """A config value whole, numbers with every digit they have (6.4e-05, not 0.0001)."""
    if value is _ABSENT:
        return "-"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)  # shortest exact form
    if isinstance(value, list):
        return "[" + ", ".join(show_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


# ------------------------------------------------------------------------------------- figure
def compare_figure(runs: Sequence[RunRow], metrics: Sequence[list[dict[str, float]]]) -> Any:
    """Loss and the headline metric (accuracy; RMSE for regression runs) of every run (one
    colour each; dashed training, solid validation) above a table of the runs (run, status,
    epochs, best, test accuracy or RMSE and R², data): a Figure."""
    from matplotlib.lines import Line2D

    from conv1d_cli.training.report import METRIC_LABELS, epoch_axis, marker_size, pyplot

    regression = task_of(runs) == "regression"
    metric = "rmse" if regression else "acc"
    plt = pyplot()
    fig = plt.figure(figsize=(11, 4.4 + 0.28 * (len(runs) + 1)))
    grid = fig.add_gridspec(2, 2, height_ratios=[4.0, 0.28 * (len(runs) + 1) + 0.2])
    ax_loss, ax_metric = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    longest = max((len(rows) for rows in metrics), default=0)
    size, any_val, epochs_seen = marker_size(longest), False, set()
    handles = []
    for index, (row, rows) in enumerate(zip(runs, metrics, strict=True)):
        color = f"C{index % 10}"
        epochs = [int(r["epoch"]) for r in rows]
        epochs_seen.update(epochs)
        for split, style in (("train", "--"), ("val", "-")):
            for ax, key in ((ax_loss, f"{split}_loss"), (ax_metric, f"{split}_{metric}")):
                values = [r.get(key, float("nan")) for r in rows]
                if any(v == v for v in values):
                    any_val = any_val or split == "val"
                    ax.plot(epochs, values, style, color=color, marker="o", markersize=size)
        handles.append(Line2D([], [], color=color, marker="o", linestyle="none", label=row.name))
    styles = [Line2D([], [], color="gray", linestyle="--", label="training")]
    if any_val:
        styles.append(Line2D([], [], color="gray", linestyle="-", label="validation"))
    for ax, label in ((ax_loss, "loss"), (ax_metric, METRIC_LABELS[metric])):
        epoch_axis(ax, sorted(epochs_seen))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_metric.legend(handles=handles + styles, fontsize=7)
    if any_val:
        fig.suptitle("runs compared (dashed: training, solid: validation)")
    else:
        fig.suptitle("runs compared: training curves (no run has a validation split)")
    _runs_table(fig.add_subplot(grid[1, :]), runs, regression)
    return fig


def _runs_table(ax: Any, runs: Sequence[RunRow], regression: bool = False) -> None:
    """The runs under the curves: each name in its curves' colour, with its test result."""
    ax.axis("off")
    tested = ["test rmse", "test r2"] if regression else ["test accuracy"]
    columns = ["run", "status", "epochs", "best", *tested, "data"]
    cells = [
        [
            row.name,
            row.status,
            f"{_fmt(row.epochs_completed)}/{_fmt(row.epochs)}",
            f"{_fmt(row.monitor)} {_best(row)}",
            *([_error(row.test_rmse), _fmt(row.test_r2)] if regression else []),
            *([] if regression else [_fmt(row.test_accuracy)]),
            _fmt(row.data),
        ]
        for row in runs
    ]
    table = ax.table(cellText=cells, colLabels=columns, loc="center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(columns))))
    for index in range(len(runs)):
        table[index + 1, 0].get_text().set_color(f"C{index % 10}")
