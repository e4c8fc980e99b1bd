"""A sweep's folder on disk: its state (state.json), what it leaves, and reading trial files.

``state.json`` holds what the driver knows of every trial; with it, running the same sweep again
resumes. The sweep's identity (spec without the executor, and the base config) must not change
between sessions.
"""

from __future__ import annotations

import csv
import io
import json
import math
import signal
from dataclasses import asdict
from pathlib import Path
from typing import Any

from conv1d_cli.config import config_to_yaml, load_config
from conv1d_cli.config.yamlio import dump_yaml
from conv1d_cli.errors import ConfigError, Conv1dError
from conv1d_cli.rundir.atomic import atomic_write_text, write_json
from conv1d_cli.rundir.lock import acquire_run_lock
from conv1d_cli.rundir.status import RunStatus
from conv1d_cli.sweep.executors import TASK_LOST
from conv1d_cli.sweep.plan import Plan
from conv1d_cli.sweep.report import (
    TrialRecord,
    best_trial,
    describe,
    plot_metric,
    write_trials_csv,
)

# conv1d train's exit codes after SIGINT/SIGTERM; before its handler is installed (still
# starting up) or after it is removed (exiting) the signal itself ends the process (-2/-15).
STOPPED = (130, 143, -signal.SIGINT, -signal.SIGTERM)
# What a run's summary says once it ran to its end: whatever stopped its process afterwards.
RAN_TO_END = (RunStatus.COMPLETED, RunStatus.EARLY_STOPPED)


def settle_status(
    code: int, summary_status: str | None, epochs_done: int, epochs: int, pruning: bool
) -> str:
    """A finished trial's one status, from what the run itself says once its process is gone.

    ``code`` is the process's exit code, ``summary_status`` its summary.json status,
    ``epochs_done`` the epochs its metrics.csv holds, ``epochs`` its train.epochs, ``pruning``
    whether the driver asked it to stop. A stop that reached the trial after its last epoch
    changes nothing: the run is ``completed`` (its summary says so, its curves are drawn).
    ``pruned`` is only a run the stop ended before its last epoch, its summary ``interrupted``.
    """
    if summary_status in RAN_TO_END or code == 0:
        return "completed"
    if code in STOPPED:
        stopped_early = summary_status in (RunStatus.INTERRUPTED, RunStatus.PRUNED)
        return "pruned" if pruning and stopped_early and epochs_done < epochs else "interrupted"
    if code == 3:
        return "diverged"
    if code == TASK_LOST:
        return "interrupted"
    return "failed"


def read_metric_rows(path: Path) -> list[dict[str, float]]:
    """The complete rows of a (possibly still growing) metrics.csv."""
    try:
        text = path.read_text()
    except OSError:
        return []
    complete = text[: text.rfind("\n") + 1]
    rows = []
    for row in csv.DictReader(io.StringIO(complete)):
        try:
            rows.append({k: float(v) if v not in ("", None) else math.nan for k, v in row.items()})
        except ValueError:
            continue
    return rows


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _identity(plan: Plan) -> dict[str, Any]:
    """What must not change between sessions of one sweep. The executor may, and so may
    run_cap: trial i's parameters do not depend on it, so a larger cap extends the sweep."""
    spec = plan.sweep.spec.model_dump(mode="json", exclude={"executor", "run_cap"})
    return {**spec, "name": plan.name, "config": plan.sweep.base_raw}


def open_sweep_dir(plan: Plan) -> list[TrialRecord]:
    """A new sweep folder, or the records of the same sweep run before (resume)."""
    sweep_dir, state_path = plan.sweep_dir, plan.sweep_dir / "state.json"
    if state_path.is_file():
        state = read_json(state_path)
        if state.get("identity") != _identity(plan):
            raise ConfigError(
                f"{plan.sweep.path}: {sweep_dir} holds a sweep made from a different sweep file "
                "or base config; give this one another name (name: in the sweep file)"
            )
        records = []
        for item in state["trials"]:
            item["epoch_metrics"] = {int(k): v for k, v in item["epoch_metrics"].items()}
            records.append(TrialRecord(**item))
    elif sweep_dir.exists() and any(sweep_dir.iterdir()):
        raise ConfigError(
            f"{plan.sweep.path}: {sweep_dir} exists and is not a sweep; give the sweep another "
            "name (name: in the sweep file)"
        )
    else:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        records = [TrialRecord(i, params) for i, params in enumerate(plan.trials)]
        write_state(plan, records)
    resolved = {
        **plan.sweep.spec.model_dump(mode="json"),
        "name": plan.name,
        "config": str(plan.sweep.base_path),
    }
    atomic_write_text(sweep_dir / "sweep.yaml", dump_yaml(resolved))  # this session's
    return records


def write_state(plan: Plan, records: list[TrialRecord]) -> None:
    trials = [asdict(r) for r in sorted(records, key=lambda r: r.index)]
    write_json(plan.sweep_dir / "state.json", {"identity": _identity(plan), "trials": trials})


def write_outputs(plan: Plan, records: list[TrialRecord], keys: list[str]) -> TrialRecord | None:
    """trials.csv, metric.png and best.yaml (the best trial's config, ready for conv1d train)."""
    spec, sweep_dir = plan.sweep.spec, plan.sweep_dir
    write_trials_csv(sweep_dir / "trials.csv", records, keys, spec.metric.name)
    plot_metric(
        sweep_dir / "metric.png",
        records,
        keys,
        spec.metric.name,
        maximize=spec.metric.maximize,
        parameters=dict(spec.parameters),
        sweep=plan.name,
    )
    best = best_trial(records, spec.metric.maximize)
    if best is not None:
        cfg = load_config(sweep_dir / "configs" / f"{best.name}.yaml")
        base = load_config(plan.sweep.base_path)
        cfg = cfg.model_copy(update={"name": f"{plan.name}-best", "output": base.output})
        header = f"# best trial of sweep {plan.name}: {describe(best, spec.metric.name)}\n"
        atomic_write_text(sweep_dir / "best.yaml", header + config_to_yaml(cfg))
    return best


def mark_pruned(run_dir: Path) -> str | None:
    """Set a pruned trial's summary.json status from ``interrupted`` to ``pruned``; call it
    once the trial's process has exited. None when done (or there is nothing to change), else
    why it was left alone.

    Taken under the run's lock, so a ``conv1d train --resume`` started meanwhile is never
    overwritten; a summary saying anything but ``interrupted`` (resumed since, or a trial that
    never wrote one) is left as it is.
    """
    path = run_dir / "summary.json"
    try:
        with acquire_run_lock(run_dir, "conv1d sweep (marking pruned)", warn=lambda _: None):
            summary = read_json(path)
            if summary.get("status") == RunStatus.INTERRUPTED:
                write_json(path, {**summary, "status": RunStatus.PRUNED})
    except (Conv1dError, OSError) as exc:
        return f"{path} still says interrupted: {exc}"
    return None
