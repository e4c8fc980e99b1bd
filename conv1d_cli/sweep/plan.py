"""A sweep's plan: the spec read, every trial's config validated, before anything runs.

Grid and random trials are all known up front and each full config is validated (in-process,
the same validation ``conv1d train`` does). Bayes trials are chosen as the sweep goes, so the
space is checked instead: each listed value, and each distribution's min and max.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conv1d_cli.config import Config, load_config_dict
from conv1d_cli.errors import ConfigError, Conv1dError
from conv1d_cli.sweep.search import OPTUNA_MISSING, grid_params, needs_optuna, random_params
from conv1d_cli.sweep.spec import (
    LoadedSweep,
    MetricSpec,
    SweepSpec,
    load_sweep,
    overrides_for,
    task_mismatch,
)
from conv1d_cli.task import TASKS

MAX_SHOWN = 5  # trial errors shown; the count says how many there were
# The rule for run names (conv1d_cli.config.loader.RUN_NAME, a test keeps them equal), written here
# so the driver does not import the data stack (scikit-learn: seconds) just to check a name.
SWEEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass
class Plan:
    sweep: LoadedSweep
    trials: list[dict[str, Any]] = field(default_factory=list)  # empty for bayes
    max_epochs: int = 1

    @property
    def name(self) -> str:
        return self.sweep.name

    @property
    def sweep_dir(self) -> Path:
        base = Config.model_validate(self.sweep.base_raw)
        return (Path(base.output.runs_dir) / self.name).absolute()

    def trial_config(self, params: dict[str, Any], source: str) -> Config:
        """The full, validated config of a trial with these parameters (as ``conv1d train
        BASE --set ...`` would read it: a dataset the base config names stays)."""
        overrides = overrides_for(params)
        return load_config_dict(self.sweep.base_raw, source, overrides, kind_follows_path=False)


def make_plan(path: str | Path) -> Plan:
    """Read the sweep file and validate every trial config; raise one ConfigError for all."""
    sweep = load_sweep(path)
    spec = sweep.spec
    if not SWEEP_NAME.fullmatch(sweep.name):
        raise ConfigError(
            f"{path}: name {sweep.name!r}: a sweep name may hold letters, digits, '.', '_' and "
            "'-' and must start with a letter or digit (it becomes a folder name)"
        )
    if needs_optuna(spec):
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise Conv1dError(OPTUNA_MISSING) from None
    named = "name" in spec.metric.model_fields_set  # else settled below, from the task
    base_task = Config.model_validate(sweep.base_raw).task
    mismatch = task_mismatch(spec.metric.name, base_task) if named and base_task != "auto" else None
    if mismatch and "task" not in spec.parameters:  # every trial's: said once
        raise ConfigError(f"{path}: {mismatch} (task: {base_task} in {sweep.base_path.name})")
    plan = Plan(sweep)
    if spec.method == "grid":
        plan.trials = grid_params(spec)
    elif spec.method == "random":
        plan.trials = [random_params(spec, i) for i in range(spec.run_cap or 0)]
    checks = plan.trials or _space_corners(sweep)
    checked: list[tuple[str, Config | str]] = []  # each check's label, and config or error
    for index, params in enumerate(checks):
        what = f"trial-{index:03d}" if plan.trials else "the search space"
        label = f"{what} ({', '.join(overrides_for(_varied(sweep, params)))})"
        try:
            checked.append((label, plan.trial_config(params, label)))
        except ConfigError as exc:
            checked.append((label, str(exc)))
    configs = [cfg for _, cfg in checked if isinstance(cfg, Config)]
    if not named and configs and (configs[0].task != "auto" or len(configs) == len(checked)):
        # the first trial's task; `auto`: its data, read only when every config is valid
        spec = _settle_metric(sweep, configs[0])
    known = "name" in spec.metric.model_fields_set  # named, or settled from the task
    errors, epochs = [], []
    for label, cfg in checked:
        if isinstance(cfg, str):
            errors.append(cfg)
            continue
        epochs.append(cfg.train.epochs)
        if not known:
            continue  # the default metric is unknown while the data's task is
        # A task the config names is known now; `auto` is settled from the data once a trial
        # runs (the driver checks its metrics.csv then): loading the data here would cost more.
        mismatch = None if cfg.task == "auto" else task_mismatch(spec.metric.name, cfg.task)
        if mismatch:
            errors.append(f"{label}: {mismatch}")
        elif spec.metric.name.startswith("val_") and cfg.data.val_split == 0:
            errors.append(
                f"{label}: metric.name {spec.metric.name} needs a validation split but "
                "data.val_split is 0; set it, or use a train_ or test_ metric"
            )
    if errors:
        shown = "; ".join(errors[:MAX_SHOWN])
        more = f"; and {len(errors) - MAX_SHOWN} more" if len(errors) > MAX_SHOWN else ""
        kind = "trial configs are" if plan.trials else "points of the search space are"
        raise ConfigError(f"{path}: {len(errors)} {kind} invalid: {shown}{more}")
    plan.max_epochs = max(epochs, default=1)
    return plan


def _settle_metric(sweep: LoadedSweep, cfg: Config) -> SweepSpec:
    """A sweep file without ``metric.name`` takes the headline monitor of the task of ``cfg``
    (the first trial's config: the base config's, unless the sweep varies task or data):
    val_acc for classification, val_rmse for regression. ``task: auto`` is settled from its
    data as ``conv1d train`` settles it (a data problem is train's one line, exit 2). The
    settled metric replaces ``sweep.spec.metric``: the driver, the search, sweep.yaml,
    trials.csv, best.yaml and the report read it there."""
    spec = sweep.spec
    task = cfg.task if cfg.task != "auto" else _data_task(cfg)
    metric = MetricSpec.model_validate(
        {"name": TASKS[task].default_monitor, "goal": spec.metric.goal}
    )
    sweep.spec = spec.model_copy(update={"metric": metric})
    return sweep.spec


def _data_task(cfg: Config) -> str:
    """What ``task: auto`` becomes on ``cfg``'s data: its raw arrays are read (the data stack is
    imported only here) and ``choose_task`` decides as ``prepare`` does, on the same targets,
    without splitting or normalizing anything."""
    from conv1d_cli.data.prepare import choose_task
    from conv1d_cli.data.registry import read_raw

    raw = read_raw(cfg.data, "train")
    limit = cfg.data.limit
    y_train = raw.y_train[:limit]  # a[:None] is a
    y_test = None if raw.y_test is None else raw.y_test[:limit]
    return choose_task(raw, y_train if len(y_train) else y_test, "auto")


def _varied(sweep: LoadedSweep, params: dict[str, Any]) -> dict[str, Any]:
    varied = sweep.spec.varied()
    return {k: v for k, v in params.items() if k in varied} or params


def _space_corners(sweep: LoadedSweep) -> list[dict[str, Any]]:
    """For bayes: each listed value and each bound once, the other parameters at their first."""
    parameters = sweep.spec.parameters

    def options(p: Any) -> list[Any]:
        if p.values is not None:
            return list(p.values)
        if p.distribution is None:
            return [p.value]
        cast = int if p.distribution == "int_uniform" else float
        return [cast(p.min), cast(p.max)]

    first = {k: options(p)[0] for k, p in parameters.items()}
    corners = [first]
    for key, p in parameters.items():
        corners += [{**first, key: v} for v in options(p)[1:]]
    return corners
