"""``conv1d eval``: a network rebuilt from its checkpoint alone, scored on a test split.

Writes ``eval.json`` and the task's picture (``confusion.png``; regression: ``predictions.png``,
predicted against true values) into the run directory, under the run's lock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.build.class_weights import stored_weights
from conv1d_cli.build.memory import check_memory
from conv1d_cli.build.objects import build_loss
from conv1d_cli.config import load_config_dict
from conv1d_cli.data import RawData, read_raw
from conv1d_cli.data.prepare import prepare
from conv1d_cli.errors import ConfigError, DataError
from conv1d_cli.inference.load import load_model
from conv1d_cli.inference.scatter import plot_predictions
from conv1d_cli.rundir.atomic import write_json
from conv1d_cli.rundir.layout import run_dir_of
from conv1d_cli.rundir.lock import run_dir_lock
from conv1d_cli.task import get_task
from conv1d_cli.task.regression import destandardize
from conv1d_cli.training.report import per_class_report, plot_confusion

# The only keys --set may change at evaluation: which data, and how much of it per batch.
EVAL_OVERRIDABLE = ("data.", "train.eval_batch_size")


@dataclass
class EvalResult:
    checkpoint: Path
    run_dir: Path | None
    report: dict[str, Any]  # task, accuracy | rmse/mae/r2, loss, n, per_class | per_output, ...

    @property
    def picture(self) -> str:
        """The picture's file name in the run directory."""
        return get_task(self.report.get("task")).picture


def evaluate_checkpoint(target: Path, overrides: Sequence[str] = ()) -> EvalResult:
    """Rebuild the network from the checkpoint alone and evaluate it on a test split."""
    for override in overrides:
        key = override.split("=", 1)[0].strip()
        if not key.startswith(EVAL_OVERRIDABLE):
            raise ConfigError(
                f"--set {override}: eval accepts only data.* and train.eval_batch_size keys"
            )
    loaded = load_model(target)
    checkpoint_path = loaded.checkpoint
    cfg = load_config_dict(loaded.meta["config"], str(checkpoint_path), overrides)
    expected = loaded.input_shape
    raw = fit_raw(read_raw(cfg.data, "eval"), cfg.data.view, expected, loaded.padded)
    # Labels that are not the network's classes are refused by prepare, naming them; targets
    # are standardized with the checkpoint's training statistics, as the network learned them.
    data = prepare(
        raw,
        cfg.data,
        cfg.seed,
        purpose="eval",
        normalization=loaded.normalization,
        class_names=list(loaded.class_names),
        task=loaded.task,
        target_scaling=loaded.target_scaling,
    )
    if len(data.y_test) == 0:
        raise DataError("the test split is empty: nothing to evaluate")
    # The data pipeline already normalized the split with the checkpoint's statistics.
    loaded.config = cfg  # train.eval_batch_size may be overridden
    check_memory(loaded.model, expected, loaded.batch_size, training=False, what="evaluation")
    outputs = loaded.logits(data.x_test, normalized=True)
    task = get_task(loaded.task)
    scores, details = task.eval_report(
        outputs, data.y_test, loaded.target_scaling, loaded.output_names
    )
    # The loss the run trained with: its class weights as stored, not recounted on this data.
    weights = stored_weights(loaded.meta["data"].get("class_weight"), loaded.class_names)
    loss_fn = build_loss(cfg.loss, task.name, weights)
    if task.name == "classification":  # precision, recall, F1 per class; the confusion matrix
        predicted = np.argmax(outputs, axis=1)
        details.update(per_class_report(data.y_test, predicted, loaded.class_names))
    report = {
        "task": task.name,
        **scores,
        "loss": float(loss_fn.forward(outputs, data.y_test)),
        "n": len(data.y_test),
        "checkpoint": str(checkpoint_path),
        "epoch": loaded.epoch,
        "data": data.description,
        "test_split": data.test_split,
        **details,
    }
    run_dir = run_dir_of(checkpoint_path)
    with run_dir_lock(run_dir, "conv1d eval"):  # one writer per run: eval writes into it
        if run_dir is not None:
            write_json(run_dir / "eval.json", report)
            draw = PICTURES[task.picture]
            draw(report, outputs, data.y_test, loaded.target_scaling, run_dir / task.picture)
    return EvalResult(checkpoint_path, run_dir, report)


def draw_confusion(
    report: dict[str, Any], outputs: np.ndarray, y: np.ndarray, scaling: Any, path: Path
) -> None:
    """A classification run's picture: the confusion matrix of ``report``."""
    title = f"{path.parent.name}: accuracy {report['accuracy']:.4f} (n={report['n']})"
    plot_confusion(np.asarray(report["confusion"]), report["class_names"], path, title)


def draw_predictions(
    report: dict[str, Any], outputs: np.ndarray, y: np.ndarray, scaling: Any, path: Path
) -> None:
    """A regression run's picture: predicted against true values and the residuals, in the
    targets' units (outputs and y (N, K) standardized)."""
    title = (
        f"{path.parent.name}: rmse {report['rmse']:.4g}, r2 {report['r2']:.4f} (n={report['n']})"
    )
    true, predicted = destandardize(y, scaling), destandardize(outputs, scaling)
    plot_predictions(true, predicted, report["target_names"], path, title)


# Each task's ``picture`` (a file name) -> how eval draws it into the run directory.
PICTURES = {"confusion.png": draw_confusion, "predictions.png": draw_predictions}


def fit_raw(
    raw: RawData, view: Sequence[int] | None, expected: tuple[int, int], padded: bool
) -> RawData:
    """``raw`` when its samples (through ``view``) are the network's (channels, length); padded
    at the end to it when the run was trained on padded series and these are not longer;
    else a DataError naming the data's own shape and the expected one."""
    shape = raw.sample_shape
    if view is not None and math.prod(view) == math.prod(shape):  # else: the file's own shape
        shape = (int(view[0]), int(view[1]))
    if shape == expected:
        return raw
    channels, length = expected
    own_channels, own_length = raw.sample_shape
    if padded and view is None and own_channels == channels and own_length < length:
        pad = length - own_length

        def padded_x(x: np.ndarray | None) -> np.ndarray | None:
            # Each channel repeats its last value, as the training reader pads (ts.pad_series).
            if x is None or not len(x):
                return None if x is None else np.zeros((0, *expected), x.dtype)
            return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, pad)], mode="edge")

        note = f"series padded at the end from {own_length} to {length}, as the run's own were"
        return replace(
            raw,
            x_train=padded_x(raw.x_train),
            x_test=padded_x(raw.x_test),
            notes=(*raw.notes, note),
        )
    lengths = raw.padded_from
    own = f"({own_channels}, {lengths[0]}..{lengths[1]})" if lengths else str(raw.sample_shape)
    if math.prod(raw.sample_shape) == channels * length:
        hint = f"; set data.view: {list(expected)}"
    elif own_channels != channels:
        hint = f"; the run was trained on {channels}-channel samples"
    elif own_length < length and not padded:
        hint = "; the run was trained on series of one length, so shorter ones are not padded"
    else:
        hint = ""
    raise DataError(
        f"{raw.origin}: samples of shape {own} do not fit the network, which expects "
        f"(channels, length) = ({channels}, {length}){hint}"
    )
