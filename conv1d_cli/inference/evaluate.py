"""``conv1d eval``: a network rebuilt from its checkpoint alone, scored on a test split.

Writes ``eval.json`` and ``confusion.png`` into the run directory (under the run's lock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.build.memory import check_memory
from conv1d_cli.build.objects import build_loss
from conv1d_cli.config import load_config_dict
from conv1d_cli.data import load_dataset
from conv1d_cli.errors import ConfigError, DataError
from conv1d_cli.inference.load import load_model
from conv1d_cli.rundir.atomic import write_json
from conv1d_cli.rundir.layout import run_dir_of
from conv1d_cli.rundir.lock import run_dir_lock
from conv1d_cli.training.report import Evaluation, per_class_report, plot_confusion

# The only keys --set may change at evaluation: which data, and how much of it per batch.
EVAL_OVERRIDABLE = ("data.", "train.eval_batch_size")


@dataclass
class EvalResult:
    checkpoint: Path
    run_dir: Path | None
    report: dict[str, Any]  # accuracy, loss, n, per_class, confusion, class_names, ...


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
    data = load_dataset(
        cfg.data,
        cfg.seed,
        purpose="eval",
        normalization=loaded.normalization,
        class_names=list(loaded.class_names),
    )
    expected = loaded.input_shape
    if tuple(data.sample_shape) != expected:
        raise DataError(
            f"the data's samples are {tuple(data.sample_shape)} but the network expects "
            f"{expected}; set data.view: {list(expected)}"
        )
    if len(data.y_test) == 0:
        raise DataError("the test split is empty: nothing to evaluate")
    # The data pipeline already normalized the split with the checkpoint's statistics.
    loaded.config = cfg  # train.eval_batch_size may be overridden
    check_memory(loaded.model, expected, loaded.batch_size, training=False, what="evaluation")
    logits = loaded.logits(data.x_test, normalized=True)
    predictions = np.argmax(logits, axis=1)
    result = Evaluation(
        build_loss(cfg.loss).forward(logits, data.y_test),
        float(np.mean(predictions == data.y_test)),
        len(data.y_test),
        predictions,
    )
    names = list(loaded.class_names)
    details = per_class_report(data.y_test, result.predictions, names)
    report = {
        "accuracy": result.accuracy,
        "loss": result.loss,
        "n": result.n,
        "checkpoint": str(checkpoint_path),
        "epoch": loaded.epoch,
        "data": data.description,
        "class_names": names,
        **details,
    }
    run_dir = run_dir_of(checkpoint_path)
    with run_dir_lock(run_dir, "conv1d eval"):  # one writer per run: eval writes into it
        if run_dir is not None:
            write_json(run_dir / "eval.json", report)
            plot_confusion(
                np.asarray(details["confusion"]),
                names,
                run_dir / "confusion.png",
                title=f"{run_dir.name}: accuracy {result.accuracy:.4f} (n={result.n})",
            )
    return EvalResult(checkpoint_path, run_dir, report)
