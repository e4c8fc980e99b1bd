"""Run setup: a config validated into a ready-to-train run, or a run resumed from its checkpoint.

``conv1d train`` parses arguments and prints; everything a test needs to reach lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.build.checkpoint_check import check_checkpoint
from conv1d_cli.build.class_weights import run_loss
from conv1d_cli.build.memory import preflight_config
from conv1d_cli.build.objects import OPTIMIZERS, build_network, build_optimizer
from conv1d_cli.config import (
    Config,
    config_diff,
    config_to_yaml,
    load_config_dict,
    resolve_config,
)
from conv1d_cli.data import Dataset, load_dataset
from conv1d_cli.errors import CheckpointError, ConfigError
from conv1d_cli.rundir.atomic import atomic_write_text
from conv1d_cli.rundir.checkpoints import load_checkpoint, load_weights, resolve_checkpoint
from conv1d_cli.rundir.layout import check_runs_dir_writable, create_run_dir, run_dir_of
from conv1d_cli.rundir.lock import RunLock, acquire_run_lock
from conv1d_cli.task import TASKS
from conv1d_cli.training.budget import (
    command_started,
    deadlines,
    record_budget,
    settle_budget,
)
from conv1d_cli.training.epochs_cv import folds_for, record_epochs_cv, resume_epochs, settle_epochs
from conv1d_cli.training.loop import Trainer
from conv1d_cli.training.lrauto import record_lr_auto, resume_lr, settle_lr
from conv1d_cli.training.progress import Reporter
from conv1d_cli.training.state import LoopState, RunResult, keep_summary_records

# What may differ between a run's config and the one given to --resume.
RESUMABLE_CHANGES = ("train.epochs", "name", "output.runs_dir")


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
    started = command_started()  # train.max_minutes counts from here
    if resume is not None:
        return _setup_resume(config_path, overrides, resume, reporter)
    if config_path is None:
        raise ConfigError("give a CONFIG file to train, or --resume RUN_DIR to continue a run")
    cfg = resolve_config(config_path, overrides, name, runs_dir)
    data = load_dataset(cfg.data, cfg.seed, task=cfg.task)
    cfg = settle_task(cfg, data.task, len(data.y_val) > 0)
    _check_monitor(cfg, data)
    preflight_training(cfg, data)
    check_runs_dir_writable(Path(cfg.output.runs_dir))
    cfg, settled = settle_start(cfg, data, started, reporter.message if reporter else None)
    rng = np.random.default_rng(cfg.seed)
    model = build_network(cfg, data, rng)
    run_dir = create_run_dir(Path(cfg.output.runs_dir), cfg.name or "run")
    lock = acquire_run_lock(run_dir, "conv1d train")
    try:
        atomic_write_text(run_dir / "config.yaml", config_to_yaml(cfg))
        trainer = Trainer(
            cfg,
            model,
            run_loss(cfg, data),
            build_optimizer(cfg.optimizer),
            data,
            rng,
            run_dir,
            reporter,
        )
        settled.apply(trainer)
    except BaseException:
        lock.release()
        raise
    return TrainingSetup(cfg, data, trainer, lock=lock)


@dataclass
class SettledStart:
    """What ``settle_start`` decided, for the run's summary.json, train.log and loop."""

    lr_sweep: Any = None
    budget: dict[str, Any] | None = None
    cv: Any = None
    deadline: float | None = None  # the run's (train.max_minutes)

    def apply(self, trainer: Trainer) -> None:
        record_lr_auto(trainer, self.lr_sweep)
        record_budget(trainer, self.budget)
        record_epochs_cv(trainer, self.cv)
        trainer.deadline = self.deadline


def settle_start(
    cfg: Config, data: Dataset, started: float, note: Callable[[str], None] | None = None
) -> tuple[Config, SettledStart]:
    """What a run decides before its first epoch, in order: ``optimizer.lr: auto`` (the
    finder), ``train.max_minutes`` (the epochs and folds that fit, counted from ``started``),
    ``train.cv_folds`` (the epochs chosen). ``conv1d train`` and the estimators both call it."""
    cfg, lr_sweep = settle_lr(cfg, data, note)
    cfg, folds, budget = settle_budget(cfg, data, folds_for(cfg, data), started, note)
    cv_deadline, run_deadline = deadlines(cfg, data, budget, started)
    cfg, cv = settle_epochs(cfg, data, note, folds, cv_deadline)
    return cfg, SettledStart(lr_sweep, budget, cv, run_deadline)


def settle_task(cfg: Config, task_name: str, has_validation: bool) -> Config:
    """``cfg`` with ``task``, ``loss.type`` and ``output.monitor`` no longer ``auto`` (the
    run's config.yaml then says what it trained with); a loss or monitor of the other task, or
    a loss setting the loss does not use, is a ConfigError naming the key."""
    task = TASKS[task_name]
    loss_type = task.default_loss if cfg.loss.type == "auto" else cfg.loss.type
    if loss_type not in task.losses:
        raise ConfigError(
            f"loss.type: {loss_type} does not fit task {task.name}; allowed: "
            f"{', '.join(('auto', *task.losses))}"
        )
    if cfg.loss.label_smoothing and loss_type != "cross_entropy":
        raise ConfigError("loss.label_smoothing: applies to cross_entropy only; leave it out")
    if cfg.loss.class_weight is not None and loss_type != "cross_entropy":
        raise ConfigError(
            f"loss.class_weight: applies to cross_entropy only, not {loss_type}; leave it out"
        )
    if cfg.loss.delta != 1.0 and loss_type != "huber":
        raise ConfigError(f"loss.delta: applies to huber only, not {loss_type}; leave it out")
    monitor = cfg.output.monitor
    if monitor == "auto":
        monitor = task.default_monitor if has_validation else "train_loss"
    if monitor not in task.monitors():
        raise ConfigError(
            f"output.monitor: {monitor} does not fit task {task.name}; allowed: "
            f"{', '.join(('auto', *task.monitors()))}"
        )
    return cfg.model_copy(
        update={
            "task": task.name,
            "loss": cfg.loss.model_copy(update={"type": loss_type}),
            "output": cfg.output.model_copy(update={"monitor": monitor}),
        }
    )


def preflight_training(cfg: Config, data: Dataset) -> None:
    """Refuse (NotEnoughMemory, exit 2) before any weight is allocated: a training batch
    (weights, gradients, optimizer state, kept activations) and an evaluation batch."""
    buffers = len(OPTIMIZERS[cfg.optimizer.type].buffer_names)  # lr may still be auto
    train, shape = cfg.train, data.sample_shape
    batch = min(train.batch_size, max(1, len(data.y_train)))
    eval_batch = min(train.eval_batch_size, max(1, len(data.y_val), len(data.y_test)))
    what = f"training {cfg.name}" if cfg.name else "training"
    k = data.n_outputs
    preflight_config(cfg.model, shape, batch, True, train.dtype, buffers, what, n_classes=k)
    preflight_config(cfg.model, shape, eval_batch, False, train.dtype, "evaluation", n_classes=k)


def _check_monitor(cfg: Config, data: Dataset) -> None:
    if cfg.output.monitor.startswith("val_") and len(data.y_val) == 0:
        raise ConfigError(
            f"output.monitor: {cfg.output.monitor} needs a validation split but it is empty "
            "(data.val_split is 0); monitor train_loss (or another train_ metric), or set "
            "data.val_split"
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
    # Checked before anything is built from it: config vs tensor shapes, memory to load it.
    checkpoint = load_checkpoint(checkpoint_path, check_checkpoint(checkpoint_path).header)
    stored = load_config_dict(checkpoint.meta["config"], source=str(checkpoint_path))
    if config_path is not None:
        given = resolve_config(config_path, overrides, name=stored.name)
    else:
        given = load_config_dict(stored.model_dump(mode="json"), str(checkpoint_path), overrides)
    # The stored config says what auto became when the run started (a run from before tasks
    # existed says nothing: it classified); the given one may say auto.
    stored_task = checkpoint.meta["data"].get("task", "classification")
    stored = settle_task(stored, stored_task, stored.data.val_split > 0)
    given = resume_lr(settle_task(given, stored_task, given.data.val_split > 0), stored)
    given = resume_epochs(given, stored)
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
    stored_data = checkpoint.meta["data"]
    data = load_dataset(
        cfg.data,
        cfg.seed,
        normalization=stored_data["normalization"],
        class_names=stored_data["class_names"],
        task=stored_task,
        target_scaling=stored_data.get("target_scaling"),
    )
    preflight_training(cfg, data)
    rng = np.random.default_rng(cfg.seed)
    model = build_network(cfg, data, rng)
    load_weights(model, checkpoint)
    optimizer = build_optimizer(cfg.optimizer)
    try:
        optimizer.load_state_dict(checkpoint.optimizer_state)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{checkpoint_path}: optimizer state does not fit: {exc}") from None
    rng.bit_generator.state = checkpoint.meta["rng_state"]
    atomic_write_text(run_dir / "config.yaml", config_to_yaml(cfg))
    loss = run_loss(cfg, data, stored_data.get("class_weight"))  # the weights it trained with
    trainer = Trainer(cfg, model, loss, optimizer, data, rng, run_dir, reporter, state)
    keep_summary_records(trainer, ("lr_auto", "epochs_cv", "time_budget"))
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
