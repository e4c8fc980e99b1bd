"""Run directories: fresh names, the writable check, and small facts about a run."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.errors import RunDirError
from conv1d_cli.rundir.atomic import writing
from conv1d_cli.version import __version__


def check_runs_dir_writable(runs_dir: Path) -> None:
    """Raise RunDirError now (before any training) when run directories cannot be made here."""
    runs_dir = Path(runs_dir)
    probe = runs_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise RunDirError(f"runs folder {runs_dir}: {probe} is not a directory (output.runs_dir)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunDirError(f"runs folder {runs_dir} is not writable (output.runs_dir or --runs-dir)")


def create_run_dir(runs_dir: Path, name: str) -> Path:
    """Create and return ``runs_dir/name``, or ``name-2``, ``name-3``...: never an existing one."""
    runs_dir = Path(runs_dir)
    try:
        with writing(runs_dir):
            runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"cannot create runs folder {runs_dir}: {exc.strerror}") from None
    for index in range(1, 100_000):
        candidate = runs_dir / (name if index == 1 else f"{name}-{index}")
        try:
            with writing(candidate):  # a full disk: StorageError, exit 4
                candidate.mkdir()  # atomic: fails if a concurrent run took the name first
                (candidate / "checkpoints").mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunDirError(f"cannot create run directory {candidate}: {exc.strerror}") from None
        return candidate
    raise RunDirError(f"too many runs named {name!r} in {runs_dir}")


def read_started(run_dir: Path) -> str:
    """When the run first started (ISO 8601 UTC): from its summary.json, else now."""
    import time

    try:
        started = json.loads((Path(run_dir) / "summary.json").read_text()).get("started")
    except (OSError, ValueError, AttributeError):
        started = None
    return (
        started if isinstance(started, str) else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    )


def run_dir_of(checkpoint_path: Path) -> Path | None:
    """The run directory a checkpoint lives in (``<run>/checkpoints/x.safetensors``), if any."""
    parent = Path(checkpoint_path).resolve().parent
    if parent.name == "checkpoints" and (parent.parent / "config.yaml").exists():
        return parent.parent
    return None


def versions() -> dict[str, str]:
    import platform

    return {"conv1d": __version__, "numpy": np.__version__, "python": platform.python_version()}


def json_safe(value: Any) -> Any:
    """JSON has no NaN: metrics that do not exist (no validation split) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    return value
