"""The plain functions behind the CLI commands: set up or resume a run, evaluate, summarise.

The CLI parses arguments and prints; everything a test needs to reach lives here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.build import build_loss, build_model, build_optimizer
from conv1d_cli.config import Config, config_diff, config_to_yaml, load_config, load_config_dict
from conv1d_cli.data import Dataset, load_dataset
from conv1d_cli.errors import CheckpointError, ConfigError, DataError
from conv1d_cli.inference import load_model
from conv1d_cli.memory import check_memory, preflight_config, summary_rows
from conv1d_cli.progress import Reporter
from conv1d_cli.report import Evaluation, per_class_report, plot_confusion
from conv1d_cli.runlock import RunLock, acquire_run_lock
from conv1d_cli.runs import (
    atomic_write_text,
    check_runs_dir_writable,
    create_run_dir,
    load_checkpoint,
    load_weights,
    resolve_checkpoint,
    run_dir_of,
    write_json,
)
from conv1d_cli.train import LoopState, RunResult, Trainer

RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# What may differ between a run's config and the one given to --resume.
RESUMABLE_CHANGES = ("train.epochs", "name", "output.runs_dir")
EVAL_OVERRIDABLE = ("data.", "train.eval_batch_size")


@dataclass
class TrainingSetup:
    """A validated, ready-to-train run: nothing is left to fail on the user's input."""

    cfg: Config
    data: Dataset
    trainer: Trainer
    resumed_from: Path | None = None
    lock: RunLock | None = None  # held until run_training returns: one writer per run


@dataclass
class FinishedRun:
    """``--resume`` of a run that has nothing left to do."""

    run_dir: Path
    message: str


def resolve_config(
    config_path: Path,
    overrides: Sequence[str] = (),
    name: str | None = None,
    runs_dir: str | None = None,
) -> Config:
    """Load and validate the config; apply --name/--runs-dir; default the name to the file stem."""
    cfg = load_config(config_path, overrides)
    update: dict[str, Any] = {}
    run_name = name or cfg.name or Path(config_path).stem
    if not RUN_NAME.fullmatch(run_name):
        raise ConfigError(
            f"name {run_name!r}: a run name may hold letters, digits, '.', '_' and '-' and "
            "must start with a letter or digit (it becomes a folder name)"
        )
    update["name"] = run_name
    if runs_dir is not None:
        update["output"] = cfg.output.model_copy(update={"runs_dir": runs_dir})
    return cfg.model_copy(update=update)


def setup_training(
    config_path: Path | None,
    overrides: Sequence[str] = (),
    *,
    name: str | None = None,
    runs_dir: str | None = None,
    resume: Path | None = None,
    reporter: Reporter | None = None,
) -> TrainingSetup | FinishedRun:
    """Validate everything (config, data, model shapes, runs folder), then create the run dir."""
    if resume is not None:
        return _setup_resume(config_path, overrides, resume, reporter)
    if config_path is None:
        raise ConfigError("give a CONFIG file to train, or --resume RUN_DIR to continue a run")
    cfg = resolve_config(config_path, overrides, name, runs_dir)
    data = load_dataset(cfg.data, cfg.seed)
    _check_monitor(cfg, data)
    preflight_training(cfg, data)
    rng = np.random.default_rng(cfg.seed)
    model = build_model(cfg.model, data.sample_shape, data.n_classes, rng, cfg.train.dtype)
    check_runs_dir_writable(Path(cfg.output.runs_dir))
    run_dir = create_run_dir(Path(cfg.output.runs_dir), cfg.name or "run")
    lock = acquire_run_lock(run_dir, "conv1d train")
    try:
        atomic_write_text(run_dir / "config.yaml", config_to_yaml(cfg))
        trainer = Trainer(
            cfg,
            model,
            build_loss(cfg.loss),
            build_optimizer(cfg.optimizer),
            data,
            rng,
            run_dir,
            reporter,
        )
    except BaseException:
        lock.release()
        raise
    return TrainingSetup(cfg, data, trainer, lock=lock)


def preflight_training(cfg: Config, data: Dataset) -> None:
    """Refuse (NotEnoughMemory, exit 2) before any weight is allocated: a training batch
    (weights, gradients, optimizer state, kept activations) and an evaluation batch."""
    buffers = len(build_optimizer(cfg.optimizer).buffer_names)
    train, shape = cfg.train, data.sample_shape
    batch = min(train.batch_size, max(1, len(data.y_train)))
    eval_batch = min(train.eval_batch_size, max(1, len(data.y_val), len(data.y_test)))
    what = f"training {cfg.name}" if cfg.name else "training"
    k = data.n_classes
    preflight_config(cfg.model, shape, batch, True, train.dtype, buffers, what, n_classes=k)
    preflight_config(cfg.model, shape, eval_batch, False, train.dtype, "evaluation", n_classes=k)


def _check_monitor(cfg: Config, data: Dataset) -> None:
    if cfg.output.monitor.startswith("val_") and len(data.y_val) == 0:
        raise ConfigError(
            f"output.monitor: {cfg.output.monitor} needs a validation split but it is empty "
            "(data.val_split is 0); monitor train_acc or train_loss, or set data.val_split"
        )


def _setup_resume(
    config_path: Path | None, overrides: Sequence[str], target: Path, reporter: Reporter | None
) -> TrainingSetup | FinishedRun:
    target = Path(target)
    lock = None
    if (target / "config.yaml").is_file():  # a run dir: its holder is named even before a
        lock = acquire_run_lock(target, "conv1d train --resume")  # checkpoint exists
    try:
        checkpoint_path = resolve_checkpoint(target, "last")
        run_dir = run_dir_of(checkpoint_path)
        if run_dir is None:
            raise CheckpointError(
                f"{checkpoint_path} is not inside a run directory (<run>/checkpoints/); "
                "--resume takes a run directory such as runs/mnist"
            )
        lock = lock or acquire_run_lock(run_dir, "conv1d train --resume")  # one writer
        setup = _resume_locked(config_path, overrides, checkpoint_path, run_dir, reporter)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    if isinstance(setup, FinishedRun):
        lock.release()
    else:
        setup.lock = lock
    return setup


def _resume_locked(
    config_path: Path | None,
    overrides: Sequence[str],
    checkpoint_path: Path,
    run_dir: Path,
    reporter: Reporter | None,
) -> TrainingSetup | FinishedRun:
    checkpoint = load_checkpoint(checkpoint_path)
    stored = load_config_dict(checkpoint.meta["config"], source=str(checkpoint_path))
    if config_path is not None:
        given = resolve_config(config_path, overrides, name=stored.name)
    else:
        given = load_config_dict(stored.model_dump(mode="json"), str(checkpoint_path), overrides)
    differing = [key for key in config_diff(stored, given) if key not in RESUMABLE_CHANGES]
    if differing:
        raise ConfigError(
            f"cannot resume {run_dir} with a different config: {', '.join(differing)} "
            "differ from the run's own config.yaml (only train.epochs may change on resume)"
        )
    cfg = stored.model_copy(
        update={"train": stored.train.model_copy(update={"epochs": given.train.epochs})}
    )
    state = LoopState.from_checkpoint(checkpoint)
    es = cfg.train.early_stopping
    if es is not None and state.bad_epochs >= es.patience:
        return FinishedRun(run_dir, f"{run_dir} stopped early at epoch {state.epoch}; finished")
    if state.epoch >= cfg.train.epochs:
        return FinishedRun(
            run_dir, f"{run_dir} is finished ({state.epoch}/{cfg.train.epochs} epochs)"
        )
    data = load_dataset(
        cfg.data,
        cfg.seed,
        normalization=checkpoint.meta["data"]["normalization"],
        class_names=checkpoint.meta["data"]["class_names"],
    )
    preflight_training(cfg, data)
    rng = np.random.default_rng(cfg.seed)
    model = build_model(cfg.model, data.sample_shape, data.n_classes, rng, cfg.train.dtype)
    load_weights(model, checkpoint)
    optimizer = build_optimizer(cfg.optimizer)
    try:
        optimizer.load_state_dict(checkpoint.optimizer_state)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{checkpoint_path}: optimizer state does not fit: {exc}") from None
    rng.bit_generator.state = checkpoint.meta["rng_state"]
    atomic_write_text(run_dir / "config.yaml", config_to_yaml(cfg))
    trainer = Trainer(
        cfg, model, build_loss(cfg.loss), optimizer, data, rng, run_dir, reporter, state
    )
    trainer.reporter.message(
        f"resuming {run_dir} from epoch {state.epoch}"
        + (f", batch {state.batch}" if state.batch else "")
    )
    return TrainingSetup(cfg, data, trainer, resumed_from=checkpoint_path)


def run_training(setup: TrainingSetup) -> RunResult:
    try:
        return setup.trainer.fit()
    finally:
        if setup.lock is not None:
            setup.lock.release()


def run_dir_lock(run_dir: Path | None, command: str) -> AbstractContextManager[Any]:
    """The run's lock for a command that writes into it (eval), or nothing outside a run."""
    return nullcontext() if run_dir is None else acquire_run_lock(run_dir, command)


# ------------------------------------------------------------------------------------ eval
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


# --------------------------------------------------------------------------------- summary
@dataclass
class ModelSummary:
    input_shape: tuple[int, ...]
    rows: list[Any]  # the engine's LayerInfo: path, depth, name, output_shape, n_params, macs
    total_params: int
    total_macs: int
    data: str
    note: str = ""  # why the rows come from the shape-only pass (a network too big to build)


def summarize_model(config_path: Path, overrides: Sequence[str] = ()) -> ModelSummary:
    """Per-layer output shapes, parameters and multiply-accumulates for one sample."""
    cfg = resolve_config(config_path, overrides)
    data = load_dataset(cfg.data, cfg.seed, purpose="eval")
    shape = data.sample_shape
    shape_only = summary_rows(cfg.model, shape, cfg.train.dtype, data.n_classes, cfg.name)
    if shape_only is not None:  # too big to build: the same rows, computed without weights
        return _summary_of(data, *shape_only)
    rng = np.random.default_rng(cfg.seed)
    model = build_model(cfg.model, data.sample_shape, data.n_classes, rng, cfg.train.dtype)
    return summarize(model, data)


def summarize(model: Any, data: Dataset) -> ModelSummary:
    return _summary_of(data, model.summary(tuple(data.sample_shape)))


def _summary_of(data: Dataset, rows: list[Any], note: str = "") -> ModelSummary:
    input_shape = tuple(data.sample_shape)
    top = [row for row in rows if row.depth == 0]  # a block's row already counts its insides
    return ModelSummary(
        input_shape,
        rows,
        sum(row.n_params for row in top),
        sum(row.macs for row in top),
        data.description,
        note,
    )
