"""Evaluation metrics and plots (loss/accuracy curves, confusion matrix)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.rundir.atomic import atomic_write_bytes


@dataclass
class Evaluation:
    """Loss and accuracy of a model on one split, with its predictions (N,)."""

    loss: float
    accuracy: float
    n: int
    predictions: np.ndarray = field(repr=False)


def evaluate(model: Any, loss_fn: Any, x: np.ndarray, y: np.ndarray, batch_size: int) -> Evaluation:
    """Mean loss and accuracy of ``model`` on x (N, C, L), y (N,), in eval mode, batch by batch.

    The model's training/eval mode is restored afterwards.
    """
    n = len(y)
    if n == 0:
        return Evaluation(float("nan"), float("nan"), 0, np.empty(0, dtype=np.int64))
    was_training = model.training
    model.eval()
    loss_sum = 0.0
    predictions = np.empty(n, dtype=np.int64)
    try:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            logits = model.forward(x[start:stop])
            # The loss averages over its batch; weight by batch size for the mean over all N.
            loss_sum += float(loss_fn.forward(logits, y[start:stop])) * (stop - start)
            predictions[start:stop] = np.argmax(logits, axis=1)
    finally:
        model.train(was_training)
    accuracy = float(np.mean(predictions == y))
    return Evaluation(loss_sum / n, accuracy, n, predictions)


def per_class_report(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Precision, recall, F1 and support per class, and the confusion matrix (rows: truth)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.arange(len(class_names))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    classes = [
        {
            "class": name,
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support, strict=True)
    ]
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return {
        "per_class": classes,
        "macro_f1": float(np.mean(f1)) if len(f1) else float("nan"),
        "confusion": matrix.tolist(),
    }


def save_figure(fig: Any, path: Path) -> None:
    """Write a figure as PNG atomically: rendered in memory first, then one rename."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no screen), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def plot_curves(rows: Sequence[dict[str, float]], path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch (train and validation) into ``path`` (PNG)."""
    plt = pyplot()
    epochs = [int(row["epoch"]) for row in rows]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for split, style in (("train", "-o"), ("val", "-s")):
        losses = [row.get(f"{split}_loss", float("nan")) for row in rows]
        accs = [row.get(f"{split}_acc", float("nan")) for row in rows]
        if not np.all(np.isnan(losses)):
            ax_loss.plot(epochs, losses, style, label=split, markersize=3)
            ax_acc.plot(epochs, accs, style, label=split, markersize=3)
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
    plt.close(fig)


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], path: Path, title: str) -> None:
    """The confusion matrix (rows: true class, columns: predicted) as a PNG heat map."""
    plt = pyplot()
    matrix = np.asarray(matrix)
    k = len(class_names)
    size = max(4.0, 0.55 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(k):
        for j in range(k):
            color = "white" if matrix[i, j] > threshold else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8, color=color)
    save_figure(fig, path)
    plt.close(fig)
