"""``conv1d runs``: one row per run directory, and ``conv1d runs compare``: curves side by side.

Fast on a sweep's thousand runs: a run costs one read of its small ``summary.json`` (plus a
non-blocking flock probe when it says ``running``, to tell a live run from a crashed one);
``metrics.csv`` is read only by ``compare`` and for a run that never wrote a summary.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from conv1d_cli.errors import RunDirError
from conv1d_cli.rundir.lock import holder_alive, read_holder
from conv1d_cli.rundir.status import RunStatus

SUMMARY = "summary.json"
CONFIG = "config.yaml"


@dataclass
class RunRow:
    """What ``conv1d runs`` shows of one run (``--json`` prints these fields)."""

    name: str  # relative to the runs folder: "mnist" or "sweep/trial-000"
    path: str
    status: str  # a RunStatus; "crashed" when it says running but nobody holds its lock
    epochs_completed: int | None
    epochs: int | None
    monitor: str | None
    best: float | None
    best_epoch: int | None
    test_accuracy: float | None
    wall_seconds: float | None
    started: str | None  # ISO 8601 UTC
    error: str | None = None
    holder: str | None = None  # the lock holder of a running run


def _is_run(path: Path) -> bool:
    return (path / SUMMARY).is_file() or (path / CONFIG).is_file()


def find_runs(runs_dir: Path) -> list[tuple[str, Path]]:
    """Run directories in ``runs_dir`` and one level deeper (a sweep's ``<sweep>/trial-000``)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise RunDirError(f"runs folder {runs_dir} does not exist (give RUNS_DIR, default: runs)")
    found: list[tuple[str, Path]] = []
    for entry in _subdirs(runs_dir):
        path = Path(entry.path)
        if _is_run(path):
            found.append((entry.name, path))
            continue
        for inner in _subdirs(path):
            if _is_run(Path(inner.path)):
                found.append((f"{entry.name}/{inner.name}", Path(inner.path)))
    return found


def _subdirs(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if e.is_dir() and not e.name.startswith(".")]
    except OSError:
        return []


def read_run(name: str, path: Path) -> RunRow:
    """One run's row from its summary.json; live/dead checked through the run lock."""
    try:
        summary = json.loads((path / SUMMARY).read_text())
        if not isinstance(summary, dict):
            summary = {}
    except (OSError, ValueError):
        summary = {}
    status = str(summary.get("status") or RunStatus.RUNNING)
    holder = None
    if status == RunStatus.RUNNING:
        alive = holder_alive(path)
        if alive is False:
            status = RunStatus.CRASHED
        else:  # alive, or held from another host (which cannot be checked from here)
            found = read_holder(path)
            holder = found.describe() if found else None
    best = summary.get("best") if isinstance(summary.get("best"), dict) else {}
    test = summary.get("test") if isinstance(summary.get("test"), dict) else {}
    epochs_done = summary.get("epochs_completed")
    if not summary:  # it never wrote a summary: count the epochs it logged
        epochs_done = len(read_metrics(path))
    return RunRow(
        name=name,
        path=str(path),
        status=status,
        epochs_completed=epochs_done,
        epochs=summary.get("epochs"),
        monitor=best.get("metric"),
        best=best.get("value"),
        best_epoch=best.get("epoch"),
        test_accuracy=test.get("accuracy"),
        wall_seconds=summary.get("wall_seconds"),
        started=summary.get("started") or _mtime_iso(path),
        error=summary.get("error"),
        holder=holder,
    )


def _mtime_iso(path: Path) -> str | None:
    for candidate in (path / CONFIG, path):
        try:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(candidate.stat().st_mtime))
        except OSError:
            continue
    return None


def list_runs(runs_dir: Path) -> list[RunRow]:
    """Every run under ``runs_dir``, oldest first (by start time, then name)."""
    rows = [read_run(name, path) for name, path in find_runs(runs_dir)]
    rows.sort(key=lambda row: (row.started or "", row.name))
    return rows


def read_metrics(path: Path) -> list[dict[str, float]]:
    """The run's metrics.csv rows (empty cells as NaN); [] when there is none."""
    try:
        with (Path(path) / "metrics.csv").open(newline="") as handle:
            return [
                {k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()}
                for row in csv.DictReader(handle)
            ]
    except (OSError, ValueError):
        return []


def row_json(row: RunRow) -> dict[str, Any]:
    return asdict(row)


# --------------------------------------------------------------------------------- compare
@dataclass
class Comparison:
    runs: list[RunRow]
    fields: list[tuple[str, list[str]]]  # (row label, one cell per run)
    out: Path


def resolve_run(target: str) -> tuple[str, Path]:
    path = Path(target)
    if not path.is_dir() or not _is_run(path):
        raise RunDirError(f"{target} is not a run directory (it holds no {SUMMARY} or {CONFIG})")
    return path.name, path


def compare_runs(targets: Sequence[str], out: Path) -> Comparison:
    """Draw the runs' loss and accuracy curves on one PNG; return the side-by-side table."""
    if len(targets) < 2:
        raise RunDirError("runs compare needs at least two run directories: RUN RUN ...")
    out = Path(out)
    if not out.parent.is_dir():
        raise RunDirError(f"--out {out}: folder {out.parent} does not exist")
    runs = [read_run(*resolve_run(target)) for target in targets]
    metrics = [read_metrics(Path(row.path)) for row in runs]
    fields = _table(runs, metrics) + _config_differences(runs)
    _plot(runs, metrics, Path(out))
    return Comparison(runs, fields, Path(out))


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(runs: list[RunRow], metrics: list[list[dict[str, float]]]) -> list:
    last = [rows[-1] if rows else {} for rows in metrics]
    fields = [
        ("status", [row.status for row in runs]),
        ("epochs", [f"{_fmt(r.epochs_completed)}/{_fmt(r.epochs)}" for r in runs]),
        ("monitor", [_fmt(row.monitor) for row in runs]),
        ("best", [f"{_fmt(r.best)} (epoch {_fmt(r.best_epoch)})" for r in runs]),
        ("test accuracy", [_fmt(row.test_accuracy) for row in runs]),
    ]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        fields.append((f"last {key}", [_fmt(m.get(key)) for m in last]))
    fields.append(("wall time", [format_seconds(row.wall_seconds) for row in runs]))
    fields.append(("started", [_fmt(row.started) for row in runs]))
    return fields


def _config_differences(runs: list[RunRow]) -> list[tuple[str, list[str]]]:
    """Config keys whose values differ between the runs (what a sweep varied)."""
    import yaml

    flat = []
    for row in runs:
        try:
            flat.append(_flatten(yaml.safe_load((Path(row.path) / CONFIG).read_text()) or {}))
        except (OSError, yaml.YAMLError):
            flat.append({})
    keys = sorted({key for table in flat for key in table} - {"name", "output.runs_dir"})
    return [
        (f"config {key}", [_fmt(table.get(key)) for table in flat])
        for key in keys
        if len({json.dumps(table.get(key), sort_keys=True) for table in flat}) > 1
    ]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def _plot(runs: list[RunRow], metrics: list[list[dict[str, float]]], out: Path) -> None:
    from conv1d_cli.training.report import pyplot, save_figure

    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    for index, (row, rows) in enumerate(zip(runs, metrics, strict=True)):
        color = f"C{index % 10}"
        epochs = [r["epoch"] for r in rows]
        for split, style in (("train", "--"), ("val", "-")):
            for ax, key in ((ax_loss, f"{split}_loss"), (ax_acc, f"{split}_acc")):
                values = [r.get(key, float("nan")) for r in rows]
                if any(v == v for v in values):
                    ax.plot(epochs, values, style, color=color, label=f"{row.name} {split}")
    from matplotlib.ticker import MaxNLocator

    for ax, label in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("runs compared (solid: validation, dashed: training)")
    save_figure(fig, out)
    plt.close(fig)


def format_seconds(seconds: float | None) -> str:
    """Wall time as 4.2s, 12:05 or 1:02:03."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_started(started: str | None) -> str:
    """2026-12-01T09:19:03Z -> 2026-12-01 09:19 (the table's short form; --json keeps it all)."""
    if not started:
        return "-"
    return started.replace("T", " ")[:16]
