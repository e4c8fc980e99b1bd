"""``train.cv_folds``: the number of epochs chosen by k-fold cross-validation on the training split.

A network trained long on a few noisy series memorizes them: on the archive's CardanoSentiment
150 epochs of the fcn template predict the test series worse than the training mean. Here each
fold trains the run's own config (its network from the config's seed, no early stopping) on the
other folds and scores its held-out series after every epoch; the epoch whose loss, pooled over
every held-out series, is lowest wins. For regression epoch 0 counts: the head starts at the fold's
training mean (``build_network``), so 0 epochs is the mean predictor and a network that never
beats it on held-out series is not trained at all.

The run then trains on the whole training split for the chosen epochs, with the folds' schedule
(``schedule.epochs`` keeps the decay's span), so it follows the trajectory that was scored. The
resolved config says ``train.epochs: <chosen>`` and ``train.cv_folds: 0``: re-running a run's
config.yaml trains the same network without the folds; summary.json's ``epochs_cv`` holds the
pooled curve.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from conv1d_cli.config import Config
from conv1d_cli.errors import ConfigError
from conv1d_cli.training.inmemory import InMemoryTrainer, throwaway_config, throwaway_trainer
from conv1d_cli.training.report import evaluate
from conv1d_cli.training.state import record_in_run

AUTO_FOLDS = 5  # train.cv_folds: auto, for a regression run without a validation split


@dataclass
class EpochsCV:
    """What cross-validation measured: ``held_out_loss`` (max_epochs + 1,) is the mean loss of
    every held-out series after each epoch ([0]: before training); ``best`` the epoch where it
    is lowest, ``chosen`` the one taken (``choose_epoch``)."""

    folds: int
    max_epochs: int
    held_out_loss: np.ndarray
    chosen: int
    best: int
    seconds: float
    loss_name: str

    def record(self) -> dict[str, Any]:
        """summary.json's ``epochs_cv``."""
        return {
            "folds": self.folds,
            "max_epochs": self.max_epochs,
            "chosen_epochs": self.chosen,
            "best_epoch": self.best,
            "held_out_loss": [round(float(v), 6) for v in self.held_out_loss],
            "loss": self.loss_name,
            "seconds": round(self.seconds, 3),
        }


def folds_for(cfg: Config, data: Any) -> int:
    """The folds ``train.cv_folds`` asks for on ``data`` (0: none). ``auto``: AUTO_FOLDS for a
    regression run without a validation split and with at least two series per fold, kept in
    memory; a number that the training split cannot hold is a ConfigError."""
    asked, n = cfg.train.cv_folds, len(data.y_train)
    if cfg.train.epochs == 0:
        return 0
    if asked == "auto":
        regression = data.task == "regression" and len(data.y_val) == 0
        in_memory = isinstance(data.x_train, np.ndarray)  # a mapped folder is read batchwise
        return AUTO_FOLDS if regression and in_memory and n >= 2 * AUTO_FOLDS else 0
    if asked and n < 2 * asked:
        raise ConfigError(
            f"train.cv_folds: {asked} folds need at least {2 * asked} training samples but the "
            f"training split has {n}; lower train.cv_folds or set it to 0"
        )
    return int(asked)


def fold_indices(data: Any, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, held-out rows) per fold.

    Regression: contiguous blocks in the file's order (scikit-learn's KFold default). Archive
    files list series in time order when they have one (CardanoSentiment: days), and the
    official test split is later; shuffled folds let each held-out day's neighbours train,
    which on CardanoSentiment chose 26 epochs for fcn.yaml (held-out mse 0.90 against the
    mean's 1.03) and a test RMSE of 0.42 against the mean's 0.30; contiguous folds chose the
    mean. Classification: shuffled with the seed (archive files are often sorted by class),
    stratified when every class has a series in every fold."""
    n = len(data.y_train)
    if data.task == "regression":
        return list(KFold(folds).split(np.zeros(n)))
    counts = np.bincount(data.y_train)
    if counts[counts > 0].min() >= folds:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(n), data.y_train))
    return list(KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n)))


def cross_validate_epochs(
    cfg: Config,
    data: Any,
    folds: int,
    note: Callable[[str], None] | None = None,
    deadline: float | None = None,
) -> EpochsCV:
    """Train ``cfg`` on each fold's other series for ``train.epochs``; every held-out series'
    loss after each epoch, and the epoch ``choose_epoch`` picks from them. Past ``deadline`` (a
    time.perf_counter(), train.max_minutes on a machine slower than planned) the folds done so
    far decide, over the epochs every one of them reached."""
    started = time.perf_counter()
    fold_cfg = throwaway_config(cfg)
    done: list[tuple[np.ndarray, np.ndarray]] = []  # (held-out rows, their losses per epoch)
    x, y = data.x_train, data.y_train
    for number, (train_rows, held_rows) in enumerate(fold_indices(data, folds, cfg.seed), 1):
        per_fold = (time.perf_counter() - started) / max(len(done), 1)
        if done and deadline is not None and time.perf_counter() + per_fold > deadline:
            if note is not None:
                note(f"cross-validation: time budget reached after {len(done)} of {folds} folds")
            break
        fold = dataclasses.replace(
            data,
            x_train=np.asarray(x[train_rows]),
            y_train=y[train_rows],
            x_val=np.asarray(x[held_rows]).astype(cfg.train.dtype, copy=False),
            y_val=y[held_rows],
        )
        done.append((held_rows, fold_losses(fold_cfg, fold, deadline)))
        if note is not None:
            note(
                f"cross-validation: fold {number}/{folds} trained ({len(train_rows)} series, "
                f"{len(held_rows)} held out, {len(done[-1][1]) - 1} epochs)"
            )
    reached = min(len(losses) for _, losses in done)  # epochs + 1 unless time ran out
    losses = np.concatenate([losses[:reached] for _, losses in done], axis=1)
    first = 0 if data.task == "regression" else 1
    chosen, best = choose_epoch(losses, first)
    return EpochsCV(
        len(done), reached - 1, losses.mean(axis=1), chosen, best,
        time.perf_counter() - started, cfg.loss.type,
    )  # fmt: skip


def choose_epoch(losses: np.ndarray, first: int = 0) -> tuple[int, int]:
    """(chosen, best) epochs from held-out losses (epochs + 1, N), one column per series.

    ``best`` has the lowest mean loss (from epoch ``first``); ``chosen`` is the first epoch whose
    mean loss is within one standard error of best's, the error of the paired per-series
    differences: the one-standard-error rule of cross-validation (Hastie, Tibshirani and
    Friedman, The Elements of Statistical Learning, 7.10). On a few noisy series a lucky epoch
    is not taken over the training mean (epoch 0) unless it is better by more than the noise.
    """
    mean = losses.mean(axis=1)
    best = first + int(np.argmin(mean[first:]))
    diff = losses[first:] - losses[best]
    n = losses.shape[1]
    se = diff.std(axis=1, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(len(diff))
    within = diff.mean(axis=1) <= se
    return first + int(np.argmax(within)), best


class _FoldTrainer(InMemoryTrainer):
    """The loop on one fold; after every epoch each held-out series' own loss is kept."""

    label = "a cross-validation fold"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.held_out: list[np.ndarray] = [self.series_losses()]  # epoch 0: before training

    def _end_epoch(self, row: dict[str, float]) -> None:
        super()._end_epoch(row)
        self.held_out.append(self.series_losses(self.last_val.outputs))  # the epoch's own pass

    def series_losses(self, outputs: np.ndarray | None = None) -> np.ndarray:
        """(n_held_out,) the loss of each held-out series from the network's ``outputs`` on
        them (None: evaluated now, in eval mode)."""
        y = self.data.y_val
        if outputs is None:
            outputs = evaluate(
                self.model, self.loss_fn, self._x_val, y, self.cfg.train.eval_batch_size,
                self.task, self.data.target_scaling,
            ).outputs  # fmt: skip
        return np.array([float(self.loss_fn.forward(outputs[i : i + 1], y[i : i + 1]))
                         for i in range(len(y))])  # fmt: skip


def fold_losses(cfg: Config, fold: Any, deadline: float | None = None) -> np.ndarray:
    """(epochs + 1, n_held_out) each held-out series' loss after each epoch, [0] before (fewer
    epochs when the fold ran into ``deadline``)."""
    trainer = throwaway_trainer(cfg, fold, _FoldTrainer)
    trainer.deadline = deadline
    trainer.fit()
    return np.stack(trainer.held_out)


def settle_epochs(
    cfg: Config,
    data: Any,
    note: Callable[[str], None] | None = None,
    folds: int | None = None,
    deadline: float | None = None,
) -> tuple[Config, EpochsCV | None]:
    """``cfg`` with ``train.epochs`` chosen by cross-validation (``train.cv_folds`` then 0 and
    the schedule's span fixed at the folds'), and what was measured; a config without folds
    comes back as it is, with None. ``folds``: as decided already, and ``deadline`` for the
    folds: the time budget's."""
    folds = folds_for(cfg, data) if folds is None else folds
    if not folds:
        return cfg, None
    cv = cross_validate_epochs(cfg, data, folds, note, deadline)
    schedule = cfg.schedule
    if "epochs" in type(schedule).model_fields and schedule.epochs is None:
        schedule = schedule.model_copy(update={"epochs": cfg.train.epochs})
    settled = cfg.model_copy(
        update={
            "train": cfg.train.model_copy(update={"epochs": cv.chosen, "cv_folds": 0}),
            "schedule": schedule,
        }
    )
    if note is not None:
        note(epochs_cv_line(cv, len(data.y_train)))
    return settled, cv


def epochs_cv_line(cv: EpochsCV, n_train: int) -> str:
    loss = cv.held_out_loss
    head = f"cross-validation ({cv.folds} folds, {cv.max_epochs} epochs): held-out {cv.loss_name} "
    if cv.chosen == 0:
        return (
            head + f"{loss[0]:.4g} for the training mean, lowest {loss[cv.best]:.4g} at epoch "
            f"{cv.best}: no epoch beats the mean by more than the noise (one standard error), "
            "so the network predicts the training mean (0 epochs)"
        )
    mean = f"; the training mean: {loss[0]:.4g}" if cv.loss_name != "cross_entropy" else ""
    lowest = f" (lowest {loss[cv.best]:.4g} at epoch {cv.best}{mean})"
    return (
        head + f"{loss[cv.chosen]:.4g} at epoch {cv.chosen}{lowest}; training {cv.chosen} "
        f"epochs on all {n_train} series"
    )


def record_epochs_cv(trainer: Any, cv: EpochsCV | None) -> None:
    """Say in the run's train.log and summary.json (``epochs_cv``) where its epochs came from."""
    if cv is not None:
        record_in_run(
            trainer, "epochs_cv", cv.record(), epochs_cv_line(cv, len(trainer.data.y_train))
        )


def resume_epochs(given: Config, stored: Config) -> Config:
    """A config given to ``--resume`` that still asks for folds (or a time budget) means the
    run's settled epochs, schedule span and budget."""
    if given.train.cv_folds == stored.train.cv_folds and (
        given.train.max_minutes == stored.train.max_minutes
    ):
        return given
    train = given.train.model_copy(
        update={
            "cv_folds": stored.train.cv_folds,
            "max_minutes": stored.train.max_minutes,
            "epochs": stored.train.epochs,
        }
    )
    return given.model_copy(update={"train": train, "schedule": stored.schedule})
