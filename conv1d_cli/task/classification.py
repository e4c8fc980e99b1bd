"""Classification: class indices, cross-entropy, accuracy, balanced accuracy and macro F1."""

from __future__ import annotations

from typing import Any

import numpy as np

from conv1d_cli.task.base import Task


class Classification(Task):
    name = "classification"
    metrics = ("acc", "balanced_acc", "macro_f1")
    losses = ("cross_entropy",)
    picture = "confusion.png"

    def tally(
        self, outputs: np.ndarray, y: np.ndarray, scaling: dict[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        """outputs (B, K) logits, y (B,) class indices -> {"correct": count, "confusion":
        (K, K) counts, rows the true class, columns the predicted one}."""
        k = outputs.shape[1]
        predicted = np.argmax(outputs, axis=1)
        confusion = np.bincount(np.asarray(y) * k + predicted, minlength=k * k).reshape(k, k)
        correct = np.count_nonzero(predicted == y)
        return {"correct": np.asarray(float(correct)), "confusion": confusion.astype(np.float64)}

    def scores(
        self, tally: dict[str, Any], n: int, scaling: dict[str, Any] | None = None
    ) -> dict[str, float]:
        if n == 0:
            return dict.fromkeys(self.metrics, float("nan"))
        result = {"acc": float(np.asarray(tally["correct"], dtype=np.float64)) / n}
        confusion = np.asarray(tally.get("confusion", []), dtype=np.float64)
        # A tally resumed from a checkpoint written before the confusion matrix existed counts
        # only part of the epoch's samples: no balanced score rather than a wrong one.
        if confusion.ndim == 2 and confusion.sum() == n:
            return {**result, **balanced_scores(confusion)}
        return {**result, "balanced_acc": float("nan"), "macro_f1": float("nan")}

    def eval_report(
        self, outputs: np.ndarray, y: np.ndarray, scaling: dict[str, Any] | None,
        names: tuple[str, ...],
    ) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """outputs (N, K) logits, y (N,) class indices -> accuracy, balanced accuracy, macro
        F1, and the class names."""
        scores = self.scores(self.tally(outputs, y), len(y))
        named = {"accuracy": scores["acc"], "balanced_accuracy": scores["balanced_acc"]}
        return {**named, "macro_f1": scores["macro_f1"]}, {"class_names": list(names)}

    def headline(self, report: dict[str, Any]) -> str:
        balanced = ""
        if "balanced_accuracy" in report:  # an eval.json written before they existed has none
            balanced = (
                f"  balanced accuracy {report['balanced_accuracy']:.4f}"
                f"  macro F1 {report['macro_f1']:.4f}"
            )
        return (
            f"accuracy {report['accuracy']:.4f}{balanced}  loss {report['loss']:.4f}  "
            f"(n={report['n']})"
        )

    def describe_targets(self, n_outputs: int, names: tuple[str, ...]) -> str:
        return f"{n_outputs} classes"


def balanced_scores(confusion: np.ndarray) -> dict[str, float]:
    """Balanced accuracy and macro F1 of a (K, K) confusion matrix (rows: true class).

    scikit-learn's rules: balanced accuracy is the mean recall over classes that occur in the
    truth; macro F1 the mean of 2 tp / (2 tp + fp + fn) over classes that occur in the truth or
    the predictions (``f1_score(average="macro")``; a class never predicted correctly scores 0).
    """
    tp = np.diag(confusion)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    present = support > 0
    balanced = float(np.mean(tp[present] / support[present])) if present.any() else float("nan")
    seen = present | (predicted > 0)
    f1 = 2 * tp[seen] / (support[seen] + predicted[seen])  # 2tp + fp + fn = support + predicted
    macro = float(np.mean(f1)) if seen.any() else float("nan")
    return {"balanced_acc": balanced, "macro_f1": macro}
