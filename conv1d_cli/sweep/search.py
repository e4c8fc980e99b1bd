"""Which trials to run: a grid, random draws, or Optuna's TPE through its ask/tell API.

``early_terminate`` also goes through Optuna: each trial's per-epoch metric is reported to a
successive-halving or hyperband pruner, which says when to stop it. Optuna is imported only here,
only when the sweep asks for it.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from conv1d_cli.errors import Conv1dError
from conv1d_cli.sweep.spec import ParameterSpec, SweepSpec

OPTUNA_MISSING = (
    "method: bayes and early_terminate need Optuna, which is not installed: "
    'pip install "conv1d-cli[sweep]"'
)
FINISHED = ("completed", "pruned", "diverged", "failed")


def needs_optuna(spec: SweepSpec) -> bool:
    return spec.method == "bayes" or spec.early_terminate is not None


def grid_params(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every combination of the listed values, the first key varying slowest (nested loops).

    A distribution in a grid is drawn once per grid point, from the generator of
    (seed, trial index), like random search does.
    """
    keys = [k for k, p in spec.parameters.items() if p.distribution is None]
    choices = [_choices(spec.parameters[k]) for k in keys]
    trials = []
    for index, combo in enumerate(itertools.product(*choices)):
        drawn = random_params(spec, index)
        trials.append({k: combo[keys.index(k)] if k in keys else drawn[k] for k in spec.parameters})
    return trials[: spec.run_cap] if spec.run_cap else trials


def random_params(spec: SweepSpec, index: int) -> dict[str, Any]:
    """Trial ``index``'s draw: its own generator seeded by (seed, index), so a resumed sweep
    draws the same trials again whatever order they ran in."""
    rng = np.random.default_rng([spec.seed, index])
    return {key: _draw(p, rng) for key, p in spec.parameters.items()}


def _choices(p: ParameterSpec) -> list[Any]:
    return list(p.values) if p.values is not None else [p.value]


def _draw(p: ParameterSpec, rng: np.random.Generator) -> Any:
    if p.distribution is None:
        choices = _choices(p)
        return choices[int(rng.integers(len(choices)))]
    low, high = float(p.min), float(p.max)  # type: ignore[arg-type]
    if p.distribution == "int_uniform":
        return int(rng.integers(int(low), int(high) + 1))
    if p.distribution == "log_uniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


def trial_count(spec: SweepSpec) -> int:
    return len(grid_params(spec)) if spec.method == "grid" else int(spec.run_cap or 0)


class Search:
    """Grid or random search: every trial's parameters are known before the first one runs."""

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self.total = trial_count(spec)
        self._grid = grid_params(spec) if spec.method == "grid" else []

    def planned(self, index: int) -> dict[str, Any] | None:
        """The parameters of trial ``index`` when known without running others (not bayes)."""
        if self.spec.method == "grid":
            return self._grid[index]
        if self.spec.method == "random":
            return random_params(self.spec, index)
        return None

    def start(self, index: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
        found = params if params is not None else self.planned(index)
        assert found is not None, "bayes search is an OptunaSearch"
        return found

    def report(self, index: int, epoch: int, value: float) -> bool:
        """One epoch's metric of a running trial; True when the trial should stop (pruned)."""
        return False

    def finish(self, index: int, status: str, value: float | None) -> None:
        """A trial ended with ``status`` (one of FINISHED) and its metric."""

    def restore(
        self,
        index: int,
        params: dict[str, Any],
        status: str,
        value: float | None,
        intermediates: dict[int, float],
    ) -> None:
        """A trial finished in an earlier session of this sweep."""


class OptunaSearch(Search):
    """TPE (``bayes``) and/or a pruner (``early_terminate``) through ``study.ask``/``study.tell``.

    Parameters from a list are given to Optuna as the index into the list (any YAML value works);
    a fixed ``value`` is not Optuna's business at all.
    """

    def __init__(self, spec: SweepSpec, max_epochs: int) -> None:
        super().__init__(spec)
        try:
            import optuna
        except ImportError:
            raise Conv1dError(OPTUNA_MISSING) from None
        self.optuna = optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        d = optuna.distributions
        self.distributions: dict[str, Any] = {}
        for key, p in spec.parameters.items():
            if p.values is not None:
                self.distributions[key] = d.CategoricalDistribution(list(range(len(p.values))))
            elif p.distribution == "int_uniform":
                self.distributions[key] = d.IntDistribution(int(p.min), int(p.max))  # type: ignore[arg-type]
            elif p.distribution is not None:
                log = p.distribution == "log_uniform"
                self.distributions[key] = d.FloatDistribution(p.min, p.max, log=log)  # type: ignore[arg-type]
        sampler = (
            optuna.samplers.TPESampler(seed=spec.seed)
            if spec.method == "bayes"
            else optuna.samplers.RandomSampler(seed=spec.seed)  # never used: params are enqueued
        )
        self.study = optuna.create_study(
            direction="maximize" if spec.metric.maximize else "minimize",
            sampler=sampler,
            pruner=self._pruner(max_epochs),
        )
        self.trials: dict[int, Any] = {}

    def _pruner(self, max_epochs: int) -> Any:
        pruners, terminate = self.optuna.pruners, self.spec.early_terminate
        if terminate is None:
            return pruners.NopPruner()
        if terminate.type == "hyperband":
            return pruners.HyperbandPruner(
                min_resource=terminate.min_iter,
                max_resource=max(max_epochs, terminate.min_iter),
                reduction_factor=terminate.eta,
            )
        return pruners.SuccessiveHalvingPruner(
            min_resource=terminate.min_iter, reduction_factor=terminate.eta
        )

    def _to_optuna(self, params: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key in self.distributions:
            choices = self.spec.parameters[key].values
            out[key] = choices.index(params[key]) if choices is not None else params[key]
        return out

    def _from_optuna(self, chosen: dict[str, Any]) -> dict[str, Any]:
        params = {}
        for key, p in self.spec.parameters.items():
            if key not in self.distributions:
                params[key] = p.value
            elif p.values is not None:
                params[key] = p.values[chosen[key]]
            else:
                params[key] = chosen[key]
        return params

    def start(self, index: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
        params = params if params is not None else self.planned(index)
        if params is not None:
            self.study.enqueue_trial(self._to_optuna(params))
        trial = self.study.ask(self.distributions)
        self.trials[index] = trial
        return params if params is not None else self._from_optuna(trial.params)

    def report(self, index: int, epoch: int, value: float) -> bool:
        trial = self.trials.get(index)
        if trial is None or not math.isfinite(value):
            return False
        trial.report(value, step=epoch)
        return bool(self.spec.early_terminate) and trial.should_prune()

    def finish(self, index: int, status: str, value: float | None) -> None:
        trial = self.trials.pop(index, None)
        if trial is None:
            return
        state = self.optuna.trial.TrialState
        if status == "completed" and value is not None and math.isfinite(value):
            self.study.tell(trial, value)
        elif status == "pruned":
            self.study.tell(trial, state=state.PRUNED)
        else:
            self.study.tell(trial, state=state.FAIL)

    def restore(
        self,
        index: int,
        params: dict[str, Any],
        status: str,
        value: float | None,
        intermediates: dict[int, float],
    ) -> None:
        state = self.optuna.trial.TrialState
        complete = status == "completed" and value is not None and math.isfinite(value)
        kind = state.COMPLETE if complete else state.PRUNED if status == "pruned" else state.FAIL
        self.study.add_trial(
            self.optuna.trial.create_trial(
                state=kind,
                value=value if complete else None,
                params=self._to_optuna(params),
                distributions=self.distributions,
                intermediate_values={e: v for e, v in intermediates.items() if math.isfinite(v)},
            )
        )


def make_search(spec: SweepSpec, max_epochs: int) -> Search:
    return OptunaSearch(spec, max_epochs) if needs_optuna(spec) else Search(spec)
