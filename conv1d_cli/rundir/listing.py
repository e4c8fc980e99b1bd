"""``conv1d runs``: one row per run directory (``compare.py`` puts some side by side).

Fast on a sweep's thousand runs: a run costs one read of its small ``summary.json`` and of its
``config.yaml``'s data section and task (plus a non-blocking flock probe when it says
``running``, to tell a live run from a crashed one); ``metrics.csv`` is read only by
``compare`` and for a run that never wrote a summary.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
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
    test_accuracy: float | None  # classification runs
    wall_seconds: float | None
    started: str | None  # ISO 8601 UTC
    error: str | None = None
    holder: str | None = None  # the lock holder of a running run
    data: str | None = None  # the data file's name (GunPoint_TRAIN.ts), else the dataset
    task: str | None = None  # "classification" or "regression"; None: nothing says yet
    test_rmse: float | None = None  # regression runs: test RMSE (targets' units) and R^2
    test_r2: float | None = None


def is_run(path: Path) -> bool:
    """A run directory holds its summary.json or config.yaml."""
    return (path / SUMMARY).is_file() or (path / CONFIG).is_file()


def find_runs(runs_dir: Path) -> list[tuple[str, Path]]:
    """Run directories in ``runs_dir`` and one level deeper (a sweep's ``<sweep>/trial-000``)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise RunDirError(f"runs folder {runs_dir} does not exist (give RUNS_DIR, default: runs)")
    found: list[tuple[str, Path]] = []
    for entry in _subdirs(runs_dir):
        path = Path(entry.path)
        if is_run(path):
            found.append((entry.name, path))
            continue
        for inner in _subdirs(path):
            if is_run(Path(inner.path)):
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
    metrics: list[dict[str, float]] | None = None
    if not summary:  # it never wrote a summary: count the epochs it logged
        metrics = read_metrics(path)
        epochs_done = len(metrics)
    config = _read_text(path / CONFIG)
    task = run_task(config, test, best.get("metric"), metrics)
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
        data=data_label(config),
        task=task,
        test_rmse=_number(test.get("rmse")),
        test_r2=_number(test.get("r2")),
    )


def _number(value: Any) -> float | None:
    """A summary.json number, None for absent or NaN (JSON writes NaN as null anyway)."""
    return float(value) if isinstance(value, int | float) and value == value else None


# The settled task a run's config.yaml says (training/setup.py settle_task writes it).
_TASK_KEY = re.compile(r"^task: (classification|regression)\s*$", re.MULTILINE)
_REGRESSION_METRICS = ("_rmse", "_mae", "_r2")


def run_task(
    config: str | None,
    test: dict[str, Any],
    monitor: str | None,
    metrics: list[dict[str, float]] | None = None,
) -> str | None:
    """The run's task: its config.yaml's ``task`` key, else what its results are (a test RMSE,
    a regression monitor or metrics.csv column); a run from before tasks existed classifies."""
    found = _TASK_KEY.search(config or "")
    if found:
        return found[1]
    columns = list(metrics[0]) if metrics else []
    named = [*test, monitor or "", *columns]
    if any(str(key) == "rmse" or str(key).endswith(_REGRESSION_METRICS) for key in named):
        return "regression"
    if test or monitor or columns:
        return "classification"
    return None


# The data section of a run's config.yaml, as config_to_yaml writes it (block style, two-space
# indent): read with a pattern, since a YAML parse of every config of a big sweep takes seconds.
_DATA_SECTION = re.compile(r"^data:\n((?:[ ].*\n?)*)", re.MULTILINE)
_DATA_KEYS = re.compile(r"^  (path|dataset): (.*)$", re.MULTILINE)


def read_data_label(path: Path) -> str | None:
    """What the run trained on: data.path's file name (GunPoint_TRAIN.ts), else data.dataset."""
    return data_label(_read_text(Path(path) / CONFIG))


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, ValueError):
        return None


def data_label(config: str | None) -> str | None:
    """``read_data_label`` of a config.yaml's text (None: no config)."""
    if config is None:
        return None
    section = _DATA_SECTION.search(config)
    fields = dict(_DATA_KEYS.findall(section[1])) if section else {}
    file, dataset = _scalar(fields.get("path")), _scalar(fields.get("dataset"))
    if file:
        return PurePath(file).name or file
    return dataset


def _scalar(text: str | None) -> str | None:
    """A one-line YAML scalar as a string; quoted ones through the YAML reader, null as None."""
    if text is None or text.strip() in ("", "null", "~"):
        return None
    text = text.strip()
    if text[0] in "'\"":
        import yaml

        try:
            return str(yaml.safe_load(text))
        except yaml.YAMLError:
            return text
    return text


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
