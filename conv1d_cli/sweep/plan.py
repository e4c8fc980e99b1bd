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
from conv1d_cli.sweep.spec import LoadedSweep, load_sweep, overrides_for, task_mismatch

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
    base_task = Config.model_validate(sweep.base_raw).task
    mismatch = None if base_task == "auto" else task_mismatch(spec.metric.name, base_task)
    if mismatch and "task" not in spec.parameters:  # every trial's: said once
        raise ConfigError(f"{path}: {mismatch} (task: {base_task} in {sweep.base_path.name})")
    plan = Plan(sweep)
    if spec.method == "grid":
        plan.trials = grid_params(spec)
    elif spec.method == "random":
        plan.trials = [random_params(spec, i) for i in range(spec.run_cap or 0)]
    checks = plan.trials or _space_corners(sweep)
    errors, epochs = [], []
    for index, params in enumerate(checks):
        what = f"trial-{index:03d}" if plan.trials else "the search space"
        label = f"{what} ({', '.join(overrides_for(_varied(sweep, params)))})"
        try:
            cfg = plan.trial_config(params, label)
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        epochs.append(cfg.train.epochs)
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
