"""The interface every task kind implements, and the direction of every metric."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

# True: higher is better. Per-epoch columns are "train_<metric>" / "val_<metric>".
METRIC_GOALS = {
    "loss": False, "acc": True, "balanced_acc": True, "macro_f1": True,
    "rmse": False, "mae": False, "r2": True,
}  # fmt: skip


def higher_is_better(column: str) -> bool:
    """Whether ``column`` ("val_acc", "train_rmse", "test_loss", ...) improves upwards."""
    return METRIC_GOALS[column.split("_", 1)[1]]


class Task(ABC):
    """One kind of learning problem.

    Targets as the trainer sees them: classification (N,) int64 class indices; regression
    (N, K) float standardized values. ``scaling`` is the task's target statistics
    (``Dataset.target_scaling``, stored in the checkpoint), None for classification.
    """

    name: str
    metrics: tuple[str, ...]  # per-epoch metrics besides the loss; the first is the headline
    losses: tuple[str, ...]  # the loss.type values that fit; the first is the default
    # The file ``conv1d eval`` draws into the run directory (inference/evaluate.py's
    # PICTURES: drawing needs training/report.py, which imports this package).
    picture: str

    @property
    def default_loss(self) -> str:
        return self.losses[0]

    @property
    def default_monitor(self) -> str:
        return f"val_{self.metrics[0]}"

    def columns(self) -> tuple[str, ...]:
        """The metrics.csv columns between ``epoch`` and ``lr``."""
        return tuple(
            f"{split}_{name}" for split in ("train", "val") for name in ("loss", *self.metrics)
        )

    def monitors(self) -> tuple[str, ...]:
        """Every column output.monitor may name for this task."""
        return self.columns()

    @abstractmethod
    def tally(
        self, outputs: np.ndarray, y: np.ndarray, scaling: dict[str, Any] | None
    ) -> dict[str, np.ndarray]:
        """Sums over one batch (outputs (B, K), targets as above) that ``scores`` turns into
        metrics; tallies of batches add up key by key."""

    @abstractmethod
    def scores(
        self, tally: dict[str, np.ndarray], n: int, scaling: dict[str, Any] | None
    ) -> dict[str, float]:
        """{metric: value} for each of ``metrics`` from the summed tally of n samples."""

    @abstractmethod
    def eval_report(
        self, outputs: np.ndarray, y: np.ndarray, scaling: dict[str, Any] | None,
        names: tuple[str, ...],
    ) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """eval.json's task keys for network outputs (N, K) on a test split with targets y (as
        the trainer sees them); ``names``: class names or target names. (scores, details):
        the scores lead the report, the details (per output; classes: their names, eval adds
        the per-class table) follow it."""

    @abstractmethod
    def headline(self, report: dict[str, Any]) -> str:
        """``conv1d eval``'s one line of scores from ``eval_report`` plus "loss" and "n"."""

    @abstractmethod
    def describe_targets(self, n_outputs: int, names: tuple[str, ...]) -> str:
        """The data line's words for the targets: "10 classes", "1 target (regression)"."""


def add_tallies(total: dict[str, Any], part: dict[str, np.ndarray]) -> dict[str, Any]:
    """``total`` + ``part`` key by key, as float64 arrays (``LoopState.to_meta`` turns them
    into lists for a checkpoint; a resumed total starts as lists)."""
    for key, value in part.items():
        previous = total.get(key)
        summed = np.asarray(value, dtype=np.float64)
        total[key] = summed if previous is None else summed + np.asarray(previous)
    return total
