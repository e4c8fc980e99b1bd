"""What is learned: one small ``Task`` object per kind, asked wherever the kinds differ.

Classification and regression differ in a handful of places: the head's width, the default
loss, how targets are encoded (class indices vs standardized values), the per-epoch metrics and
which one is monitored, the eval report, predict's columns and the ONNX output. Each lives on
the task object, so the trainer, eval, predict, export, the estimators and sweeps ask the task
instead of testing the kind themselves.

Modules:
- base: ``Task``, the interface; ``METRIC_GOALS``, whether a metric is better higher or lower
- classification: ``Classification`` (class indices, cross-entropy, accuracy)
- regression: ``Regression`` (standardized targets, mse/mae/huber, rmse/mae/r2)
"""

from __future__ import annotations

from conv1d_cli.task.base import METRIC_GOALS, Task, add_tallies, higher_is_better
from conv1d_cli.task.classification import Classification
from conv1d_cli.task.regression import Regression

TASKS: dict[str, Task] = {"classification": Classification(), "regression": Regression()}


def get_task(name: str | None) -> Task:
    """The task called ``name``; None (a checkpoint written before tasks existed) classifies."""
    return TASKS[name or "classification"]


__all__ = [
    "METRIC_GOALS",
    "TASKS",
    "Classification",
    "Regression",
    "Task",
    "add_tallies",
    "get_task",
    "higher_is_better",
]
