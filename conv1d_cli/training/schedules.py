"""Learning-rate schedules: pure functions of the optimizer step, with PyTorch's formulas."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from conv1d_cli.training.optim import check_number


def _steps(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _cos_anneal(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


class Schedule:
    """A learning rate as a pure function of the optimizer step (counted from 0)."""

    def lr_at(self, step: int) -> float:
        raise NotImplementedError

    def __call__(self, step: int) -> float:
        return self.lr_at(step)


@dataclass(frozen=True)
class ConstantLR(Schedule):
    base_lr: float

    def __post_init__(self) -> None:
        check_number("base_lr", self.base_lr, 0.0)

    def lr_at(self, step: int) -> float:
        _steps("step", step, 0)
        return float(self.base_lr)


@dataclass(frozen=True)
class StepLR(Schedule):
    """base_lr * gamma ** (step // step_size)."""

    base_lr: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        check_number("base_lr", self.base_lr, 0.0)
        _steps("step_size", self.step_size, 1)
        check_number("gamma", self.gamma, 0.0, open_low=True)

    def lr_at(self, step: int) -> float:
        return float(self.base_lr) * float(self.gamma) ** (
            _steps("step", step, 0) // self.step_size
        )


@dataclass(frozen=True)
class CosineLR(Schedule):
    """Linear warmup to base_lr over warmup_steps (step s gets (s+1)/warmup), then a cosine
    from base_lr down to min_lr, reached at step total_steps and held after."""

    base_lr: float
    total_steps: int
    warmup_steps: int = 0
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        check_number("base_lr", self.base_lr, 0.0)
        _steps("total_steps", self.total_steps, 1)
        _steps("warmup_steps", self.warmup_steps, 0)
        if self.warmup_steps > self.total_steps:
            raise ValueError(
                f"warmup_steps {self.warmup_steps} exceeds total_steps {self.total_steps}"
            )
        check_number("min_lr", self.min_lr, 0.0, float(self.base_lr))

    def lr_at(self, step: int) -> float:
        step = _steps("step", step, 0)
        if step < self.warmup_steps:
            return float(self.base_lr) * (step + 1) / self.warmup_steps
        pct = min((step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 1.0)
        return _cos_anneal(float(self.base_lr), float(self.min_lr), pct)


@dataclass(frozen=True)
class OneCycleLR(Schedule):
    """PyTorch's OneCycleLR (cos, two phases): max_lr/div_factor up to max_lr over pct_start of
    the steps, then down to max_lr/div_factor/final_div_factor at step total_steps - 1."""

    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4

    def __post_init__(self) -> None:
        check_number("max_lr", self.max_lr, 0.0)
        _steps("total_steps", self.total_steps, 1)
        check_number("pct_start", self.pct_start, 0.0, 1.0, open_low=True, open_high=True)
        check_number("div_factor", self.div_factor, 0.0, open_low=True)
        check_number("final_div_factor", self.final_div_factor, 0.0, open_low=True)

    def lr_at(self, step: int) -> float:
        step = min(_steps("step", step, 0), self.total_steps - 1)  # held at the end afterwards
        initial = float(self.max_lr) / self.div_factor
        final = initial / self.final_div_factor
        end_up = self.pct_start * self.total_steps - 1  # float, as in PyTorch
        if step <= end_up:
            return _cos_anneal(initial, float(self.max_lr), step / end_up if end_up > 0 else 1.0)
        pct = (step - end_up) / (self.total_steps - 1 - end_up)
        return _cos_anneal(float(self.max_lr), final, pct)


@dataclass(frozen=True)
class ExponentialLR(Schedule):
    """The learning-rate finder's sweep: start_lr at step 0, growing by the same factor every
    step to end_lr at step steps - 1, held after."""

    start_lr: float
    end_lr: float
    steps: int

    def __post_init__(self) -> None:
        check_number("start_lr", self.start_lr, 0.0, open_low=True)
        check_number("end_lr", self.end_lr, float(self.start_lr), open_low=True)
        _steps("steps", self.steps, 2)

    def lr_at(self, step: int) -> float:
        pct = min(_steps("step", step, 0) / (self.steps - 1), 1.0)
        return float(self.start_lr) * (float(self.end_lr) / float(self.start_lr)) ** pct
