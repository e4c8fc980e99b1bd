"""Evaluation metrics and plots (loss and metric curves per epoch, confusion matrix)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.rundir.atomic import atomic_write_bytes
from conv1d_cli.task import TASKS, Task

# summary.json's ``test`` spells some metrics out, as eval.json does.
TEST_NAMES = {"acc": "accuracy", "balanced_acc": "balanced_accuracy"}


@dataclass
class Evaluation:
    """Loss and the task's metrics of a model on one split, with its raw outputs (N, K)."""

    loss: float
    n: int
    scores: dict[str, float]  # the task's metrics: {"acc": ...} or {"rmse", "mae", "r2"}
    outputs: np.ndarray = field(repr=False)  # logits, or standardized regression outputs

    @property
    def accuracy(self) -> float:
        """Classification only: the share of samples whose largest logit is the label."""
        return self.scores["acc"]

    @property
    def predictions(self) -> np.ndarray:
        """Classification only: (N,) predicted class indices."""
        return np.argmax(self.outputs, axis=1)

    def test_metrics(self) -> dict[str, float]:
        """summary.json's ``test``: loss, the metrics ("acc" spelled "accuracy") and n."""
        named = {TEST_NAMES.get(k, k): v for k, v in self.scores.items()}
        return {"loss": self.loss, **named, "n": self.n}


def evaluate(
    model: Any,
    loss_fn: Any,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    task: Task | None = None,
    scaling: dict[str, Any] | None = None,
) -> Evaluation:
    """Mean loss and the task's metrics (classification when None) of ``model`` on x (N, C, L)
    and targets y, in eval mode, batch by batch; ``scaling``: regression's target statistics.

    The model's training/eval mode is restored afterwards.
    """
    task = task or TASKS["classification"]
    n = len(y)
    if n == 0:
        return Evaluation(float("nan"), 0, task.scores({}, 0, scaling), np.empty((0, 0)))
    was_training = model.training
    model.eval()
    loss_sum = weight_sum = 0.0
    parts = []
    try:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            outputs = model.forward(x[start:stop])
            # The loss averages over its batch; weight it by the batch's divisor (its size, or
            # with class weights the sum of its targets' weights) for the mean over all N.
            loss = float(loss_fn.forward(outputs, y[start:stop]))
            divisor = getattr(loss_fn, "batch_weight", stop - start)
            loss_sum, weight_sum = loss_sum + loss * divisor, weight_sum + divisor
            parts.append(np.array(outputs, copy=True))  # a layer may reuse its output buffer
    finally:
        model.train(was_training)
    outputs = np.concatenate(parts)
    scores = task.scores(task.tally(outputs, y, scaling), n, scaling)
    return Evaluation(loss_sum / weight_sum, n, scores, outputs)


def untrained_row(model: Any, loss_fn: Any, data: Any, batch_size: int) -> dict[str, float]:
    """Epoch 0's row of a network before training: loss and the task's metrics on the
    training and validation splits of ``data`` (a Dataset)."""
    task = TASKS[data.task]
    row: dict[str, float] = {"epoch": 0}
    for split in ("train", "val"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        result = evaluate(model, loss_fn, x, y, batch_size, task, data.target_scaling)
        row |= {f"{split}_loss": result.loss}
        row |= {f"{split}_{name}": value for name, value in result.scores.items()}
    return row


def per_class_report(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Precision, recall, F1 and support per class, and the confusion matrix (rows: truth);
    the task's scores hold balanced accuracy and macro F1."""
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


SHORT_RUN = 12  # up to this many epochs every epoch gets its own tick


def epoch_axis(ax: Any, epochs: Sequence[float]) -> None:
    """An epoch x axis with integer ticks only (epochs are whole numbers).

    A short run gets one tick per epoch and half an epoch of margin either side, so a one-epoch
    run reads 1 on an axis 0.5..1.5 (matplotlib alone gives 0.96..1.04 with ticks 0.98, 1.0...).
    """
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    whole = sorted({int(e) for e in epochs})
    if whole and whole[-1] - whole[0] < SHORT_RUN:
        ax.set_xticks(range(whole[0], whole[-1] + 1))
        ax.set_xlim(whole[0] - 0.5, whole[-1] + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def marker_size(n_epochs: int) -> float:
    """Markers big enough to see one point, small enough not to hide a long curve."""
    return 6.0 if n_epochs <= SHORT_RUN else 3.0 if n_epochs <= 60 else 0.0


# The curves' metric panels per task (beside the loss), and how a metric is named on them.
CURVE_PANELS = {"classification": ("acc",), "regression": ("rmse", "r2")}
METRIC_LABELS = {"acc": "accuracy", "rmse": "RMSE", "mae": "MAE", "r2": "R²", "loss": "loss"}
R2_FLOOR = -1.0  # R^2 axis bottom: an early -40 (worse than the mean) would flatten the curve


def curves_title(run: str, data_cfg: Any, test: dict[str, Any] | None, data: Any) -> str:
    """``run · data file · test result``: what ran, on what, and how it scored.

    ``data_cfg`` is the config's data section, ``data`` the loaded Dataset. The data file is
    data.path's name (the archive's ``GunPoint_TRAIN.ts``), else the dataset; the result is the
    best weights' test accuracy (regression: test RMSE and R²), "no test split", or "not tested"
    (a run that stopped before its end: interrupted, diverged).
    """
    name = Path(data_cfg.path).name if data_cfg.path else data_cfg.dataset
    result = describe_test(test)
    if result is None:
        result = "no test split" if len(data.y_test) == 0 else "not tested"
    return f"{run} · {name} · {result}"


def describe_test(test: dict[str, Any] | None) -> str | None:
    """summary.json's ``test`` as words: "test accuracy 0.9867 (n=150)", "test RMSE 0.0412,
    R² 0.871 (n=61)"; None when there is none."""
    if not test:
        return None
    n = f"(n={test.get('n', '?')})"
    if test.get("accuracy") is not None:
        return f"test accuracy {float(test['accuracy']):.4f} {n}"
    if test.get("rmse") is not None:
        r2 = test.get("r2")
        tail = f", R² {float(r2):.3f}" if r2 is not None and np.isfinite(float(r2)) else ""
        return f"test RMSE {float(test['rmse']):.4g}{tail} {n}"
    return None


def curve_metrics(rows: Sequence[dict[str, float]]) -> tuple[str, ...]:
    """The metric panels beside the loss for metrics.csv ``rows``: ("acc",) for classification,
    ("rmse", "r2") for regression (told by the columns, so old runs read as they were)."""
    first = rows[0] if rows else {}
    for task, panels in CURVE_PANELS.items():
        if f"train_{TASKS[task].metrics[0]}" in first:
            return panels
    return CURVE_PANELS["classification"]


def curves_figure(rows: Sequence[dict[str, float]], title: str = "") -> Any:
    """Loss and the task's metrics per epoch (train and validation, where there is one): loss
    and accuracy for classification, loss, RMSE and R² for regression. A Figure."""
    plt = pyplot()
    epochs = [int(row["epoch"]) for row in rows]
    panels = ("loss", *curve_metrics(rows))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    if len(panels) > 2:  # room between panels for long tick labels (an RMSE of 0.0412)
        fig.subplots_adjust(wspace=0.35)
    size = marker_size(len(epochs))
    for split, marker in (("train", "o"), ("val", "s")):
        losses = [row.get(f"{split}_loss", float("nan")) for row in rows]
        if np.all(np.isnan(losses)):
            continue
        label = "train" if split == "train" else "validation"
        for ax, metric in zip(axes, panels, strict=True):
            values = [row.get(f"{split}_{metric}", float("nan")) for row in rows]
            ax.plot(epochs, values, "-", marker=marker, label=label, markersize=size)
            if len(epochs) == 1:  # one point: say its value, it has no curve to read
                ax.annotate(
                    f"{values[0]:.4f}",
                    (epochs[0], values[0]),
                    xytext=(8, 4),
                    textcoords="offset points",
                    fontsize=8,
                )
    for ax, metric in zip(axes, panels, strict=True):
        epoch_axis(ax, epochs)
        ax.set_ylabel(METRIC_LABELS[metric])
        ax.grid(alpha=0.3)
        ax.legend()
        _metric_limits(ax, metric, rows, len(epochs) == 1)
    if title:
        fig.suptitle(title)
    return fig


def _metric_limits(ax: Any, metric: str, rows: Sequence[dict[str, float]], one: bool) -> None:
    """Y limits where matplotlib's own mislead: one epoch (it zooms to +-4% around the one
    value), and an R² far below 0 (early epochs worse than the mean hide the later curve)."""
    values = np.array([row.get(f"{s}_{metric}", np.nan) for row in rows for s in ("train", "val")])
    finite = values[np.isfinite(values)]
    if metric == "r2":
        low = float(finite.min()) if finite.size else 0.0
        bottom = max(min(low, 0.0) - 0.05, R2_FLOOR)
        ax.set_ylim(bottom, 1.05)
        if low < R2_FLOOR:
            ax.set_ylabel(f"R² (below {R2_FLOOR:g} not shown)")
    elif not one:
        return
    elif metric == "acc":
        ax.set_ylim(0.0, 1.05)  # accuracy on its whole range
    elif finite.size:  # loss, RMSE: from 0, the one value inside
        ax.set_ylim(0.0, max(float(finite.max()) * 1.25, 1e-3))


def plot_curves(rows: Sequence[dict[str, float]], path: Path, title: str = "") -> None:
    """``curves_figure`` written to ``path`` (PNG)."""
    plt = pyplot()
    fig = curves_figure(rows, title)
    try:
        save_figure(fig, path)
    finally:
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
