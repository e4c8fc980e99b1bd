"""Classification: class indices, cross-entropy, accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np

from conv1d_cli.task.base import Task


class Classification(Task):
    name = "classification"
    metrics = ("acc",)
    losses = ("cross_entropy",)
    picture = "confusion.png"

    def tally(
        self, outputs: np.ndarray, y: np.ndarray, scaling: dict[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        """outputs (B, K) logits, y (B,) class indices -> {"correct": count}."""
        correct = np.count_nonzero(np.argmax(outputs, axis=1) == y)
        return {"correct": np.asarray(float(correct))}

    def scores(
        self, tally: dict[str, Any], n: int, scaling: dict[str, Any] | None = None
    ) -> dict[str, float]:
        if n == 0:
            return {"acc": float("nan")}
        return {"acc": float(np.asarray(tally["correct"], dtype=np.float64)) / n}

    def eval_report(
        self, outputs: np.ndarray, y: np.ndarray, scaling: dict[str, Any] | None,
        names: tuple[str, ...],
    ) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """outputs (N, K) logits, y (N,) class indices -> accuracy, and the class names."""
        accuracy = float(np.mean(np.argmax(outputs, axis=1) == y)) if len(y) else float("nan")
        return {"accuracy": accuracy}, {"class_names": list(names)}

    def headline(self, report: dict[str, Any]) -> str:
        return f"accuracy {report['accuracy']:.4f}  loss {report['loss']:.4f}  (n={report['n']})"

    def describe_targets(self, n_outputs: int, names: tuple[str, ...]) -> str:
        return f"{n_outputs} classes"
