"""The sweep file: its schema, and reading it like a config (every error at once, key path, line).

A parameter's key is a dotted ``--set`` path into the base config (``model.layers[0].kernel``);
its value is one of ``{value: V}``, ``{values: [...]}`` or ``{distribution: D, min: A, max: B}``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from conv1d_cli.config.layers import StrictModel
from conv1d_cli.config.loader import apply_override, load_config, read_text
from conv1d_cli.config.validation import Origins, Problem, validate
from conv1d_cli.config.yamlio import read_yaml
from conv1d_cli.errors import ConfigError
from conv1d_cli.task import TASKS, higher_is_better

DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform")
# metrics.csv columns of either task: a per-epoch metric (pruning and the best epoch read them)
CSV_METRICS = (
    "val_acc", "val_loss", "train_acc", "train_loss",
    "val_balanced_acc", "val_macro_f1", "train_balanced_acc", "train_macro_f1",
    "val_rmse", "val_mae", "val_r2", "train_rmse", "train_mae", "train_r2",
)  # fmt: skip
# summary.json's ``test`` keys, by metric name (the best weights on the test split)
TEST_KEYS = {
    "test_acc": "accuracy", "test_loss": "loss",
    "test_balanced_acc": "balanced_accuracy", "test_macro_f1": "macro_f1",
    "test_rmse": "rmse", "test_mae": "mae", "test_r2": "r2",
}  # fmt: skip
MetricName = Literal[
    "val_acc", "val_loss", "train_acc", "train_loss",
    "val_balanced_acc", "val_macro_f1", "train_balanced_acc", "train_macro_f1",
    "test_balanced_acc", "test_macro_f1",
    "val_rmse", "val_mae", "val_r2", "train_rmse", "train_mae", "train_r2",
    "test_acc", "test_loss", "test_rmse", "test_mae", "test_r2",
]  # fmt: skip


def metric_tasks(name: str) -> tuple[str, ...]:
    """The tasks whose runs have metric ``name``: the loss both, val_acc classification only,
    val_rmse / val_mae / val_r2 regression only."""
    kind = name.split("_", 1)[1]
    return tuple(t.name for t in TASKS.values() if kind == "loss" or kind in t.metrics)


def task_mismatch(name: str, task: str) -> str | None:
    """Why metric ``name`` does not fit runs of ``task``, or None when it does."""
    if task in metric_tasks(name):
        return None
    fits = [f"{split}_{m}" for split in ("val", "train", "test") for m in TASKS[task].metrics]
    return (
        f"metric.name {name} is a {metric_tasks(name)[0]} metric but the trials are "
        f"{task} runs; use one of {', '.join(fits)} or a *_loss"
    )


class ParameterSpec(StrictModel):
    value: Any = None
    values: Annotated[list[Any], Field(min_length=1)] | None = None
    distribution: Literal["uniform", "log_uniform", "int_uniform"] | None = None
    min: float | None = None
    max: float | None = None


class MetricSpec(StrictModel):
    # Left out of the sweep file: make_plan (conv1d_cli/sweep/plan.py) replaces it with the
    # base config's task's headline monitor, val_acc or val_rmse (task auto: from the data)
    name: MetricName = "val_acc"
    # None: the metric's own direction (conv1d_cli.task.METRIC_GOALS): maximize accuracy and
    # R^2, minimize loss, RMSE and MAE
    goal: Literal["maximize", "minimize"] | None = None

    @property
    def maximize(self) -> bool:
        return self.goal == "maximize" if self.goal else higher_is_better(self.name)


class EarlyTerminateSpec(StrictModel):
    type: Literal["hyperband", "successive_halving"]
    min_iter: PositiveInt = 1
    eta: Annotated[int, Field(ge=2)] = 3


class LocalExecutorSpec(StrictModel):
    type: Literal["local"]
    workers: PositiveInt | None = None  # default: one per core


class DaskExecutorSpec(StrictModel):
    type: Literal["dask"]
    address: str
    workers: PositiveInt | None = None  # trials at once; default: the cluster's worker threads


class SlurmExecutorSpec(StrictModel):
    type: Literal["slurm"]
    queue: str | None = None
    walltime: str = "01:00:00"
    cores: PositiveInt = 1
    memory: str = "2GB"
    jobs: PositiveInt = 1
    interface: str | None = None  # network interface for scheduler and workers, e.g. ib0
    # The scheduler's dashboard; on the login node's loopback (reach it with ssh -L 8787:...).
    dashboard_address: str = "127.0.0.1:8787"
    workers: PositiveInt | None = None  # trials at once; default: jobs x cores


ExecutorSpec = Annotated[
    LocalExecutorSpec | DaskExecutorSpec | SlurmExecutorSpec, Field(discriminator="type")
]


class SweepSpec(StrictModel):
    name: str | None = None  # None: the sweep file's stem
    config: str
    method: Literal["grid", "random", "bayes"] = "grid"
    metric: MetricSpec = Field(default_factory=MetricSpec)
    parameters: Annotated[dict[str, ParameterSpec], Field(min_length=1)]
    run_cap: PositiveInt | None = None
    seed: NonNegativeInt = 0
    early_terminate: EarlyTerminateSpec | None = None
    executor: ExecutorSpec = Field(default_factory=lambda: LocalExecutorSpec(type="local"))

    @model_validator(mode="before")
    @classmethod
    def _default_executor_type(cls, data: Any) -> Any:
        """``executor: {workers: 2}`` means the local executor."""
        if isinstance(data, dict) and isinstance(data.get("executor"), dict):
            data = {**data, "executor": {"type": "local", **data["executor"]}}
        return data

    def varied(self) -> list[str]:
        """Keys of the parameters that take more than one value (the report's axes)."""
        return [k for k, p in self.parameters.items() if "value" not in p.model_fields_set]


@dataclass
class LoadedSweep:
    spec: SweepSpec
    path: Path  # the sweep file
    base_path: Path  # the base config, resolved against the sweep file's folder
    base_raw: dict[str, Any]  # the base config as read (before validation)

    @property
    def name(self) -> str:
        return self.spec.name or self.path.stem


def overrides_for(params: dict[str, Any]) -> list[str]:
    """``{'optimizer.lr': 0.001}`` -> ``['optimizer.lr=0.001']`` (JSON is valid YAML)."""
    return [f"{key}={json.dumps(value)}" for key, value in params.items()]


def load_sweep(path: str | Path) -> LoadedSweep:
    """Read and validate a sweep file and its base config; one ``ConfigError`` lists every error."""
    path = Path(path)
    source = str(path)
    doc = read_yaml(read_text(path, source), source)
    if doc.empty or not isinstance(doc.data, dict):
        raise ConfigError(
            f"{source}: a sweep file is a mapping with at least config, method and parameters"
        )
    raw = doc.data
    origins = Origins({p: f"line {n}" for p, n in doc.lines.items()}, dict(doc.words))
    own = _parameter_problems(raw.get("parameters")) + _rule_problems(raw)
    base: list[Problem] = []
    base_path, base_raw = None, None
    if isinstance(raw.get("config"), str):
        base_path = (path.parent / raw["config"]).resolve()
        if not base_path.is_file():
            base.append((("config",), f"no such file {base_path} (relative to the sweep file)"))
        else:
            load_config(base_path)  # the base config's own errors, with its own lines
            base_raw = read_yaml(read_text(base_path, str(base_path)), str(base_path)).data
            base += _key_problems(raw.get("parameters"), base_raw)
    spec = validate(raw, SweepSpec, source, origins, before=own, after=base)
    # validate raised unless config is text naming a file that was read: both are set.
    assert base_path is not None and base_raw is not None
    return LoadedSweep(spec, path, base_path, base_raw)


def _parameter_problems(parameters: Any) -> list[Problem]:
    """Each parameter gives exactly one of value, values, or distribution with min < max."""
    problems: list[Problem] = []
    if not isinstance(parameters, dict):
        return problems
    forms = ("value", "values", "distribution")
    for key, spec in parameters.items():
        where = ("parameters", key)
        if not isinstance(spec, dict):
            continue  # the schema reports it
        given = [f for f in forms if f in spec]
        if len(given) != 1:
            what = "none of them" if not given else " and ".join(given)
            problems.append(
                (where, f"give exactly one of: value, values, distribution; got {what}")
            )
            continue
        bounds = [k for k in ("min", "max") if k in spec]
        if given[0] != "distribution":
            if bounds:
                problems.append(((*where, bounds[0]), f"only a distribution takes {bounds[0]}"))
            continue
        low, high = spec.get("min"), spec.get("max")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
            if len(bounds) < 2:
                missing = "min" if "min" not in spec else "max"
                problems.append(((*where, missing), "missing, a distribution needs min and max"))
            continue
        if low >= high:
            problems.append(((*where, "max"), f"must be greater than min ({low:g}), got {high:g}"))
        elif spec["distribution"] == "log_uniform" and low <= 0:
            problems.append(((*where, "min"), f"log_uniform needs min > 0, got {low:g}"))
        elif spec["distribution"] == "int_uniform" and not all(
            float(v).is_integer() for v in (low, high)
        ):
            problems.append((where, "int_uniform needs integer min and max"))
    return problems


def _rule_problems(raw: dict[str, Any]) -> list[Problem]:
    method, problems = raw.get("method", "grid"), []
    if method in ("random", "bayes") and "run_cap" not in raw:
        problems.append((("run_cap",), f"missing, {method} search needs run_cap (trials at most)"))
    metric = raw.get("metric")
    name = metric.get("name") if isinstance(metric, dict) else None  # the default: val_*
    terminate = raw.get("early_terminate")
    if isinstance(terminate, dict) and isinstance(name, str) and name.startswith("test_"):
        problems.append(
            (
                ("early_terminate",),
                f"needs a per-epoch metric but metric.name is {name}; allowed: "
                + ", ".join(CSV_METRICS),
            )
        )
    return problems


def _key_problems(parameters: Any, base_raw: Any) -> list[Problem]:
    """Each parameter key must be a config key the base config can take (as ``--set`` checks)."""
    problems: list[Problem] = []
    if not isinstance(parameters, dict) or not isinstance(base_raw, dict):
        return problems
    for key, spec in parameters.items():
        values = _sample_values(spec)
        text = f"{key}={json.dumps(values[0])}" if values else f"{key}=null"
        try:
            apply_override(copy.deepcopy(base_raw), text, Origins({}, {}))
        except ConfigError as exc:
            reason = str(exc).split(": ", 1)[-1]
            reason = reason.removeprefix(f"{key} ").removeprefix("is ")
            problems.append((("parameters", key), reason))
    return problems


def _sample_values(spec: Any) -> list[Any]:
    if not isinstance(spec, dict):
        return []
    if "value" in spec:
        return [spec["value"]]
    if isinstance(spec.get("values"), list):
        return spec["values"]
    if "min" in spec:
        return [spec["min"]]
    return []
