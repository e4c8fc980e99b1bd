"""The learning-rate finder: the training loop on a throwaway copy of a run, its rate growing.

Not a second loop: the run's own ``Trainer`` (in memory, no files) trains a fresh network built
from the config's seed, on the run's batches in the run's order, with the run's optimizer and
loss; only the schedule is an exponential sweep (``ExponentialLR``) from ``start_lr`` to
``end_lr`` over ``batches`` steps, cycling epochs when the data has fewer batches. Each batch's
loss is recorded with the rate its step used; the sweep stops early once the smoothed loss is
4x its best so far (or not finite). The caller's random generator is never touched.

The suggestion is the steepest descent of the smoothed loss (``suggest_steepest``); fastai's
valley rule (``suggest_valley``) is computed too. docs/config.md ("optimizer.lr: auto") has the
measurement that chose between them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.build.class_weights import run_loss
from conv1d_cli.build.objects import build_network, build_optimizer
from conv1d_cli.config import Config
from conv1d_cli.errors import ConfigError
from conv1d_cli.training.inmemory import InMemoryTrainer
from conv1d_cli.training.report import pyplot, save_figure
from conv1d_cli.training.schedules import ExponentialLR

START_LR, END_LR, BATCHES = 1e-7, 10.0, 100  # fastai's and Lightning's defaults
DIVERGE_FACTOR = 4.0  # stop once the smoothed loss exceeds 4x its best (fastai, Lightning)
BETA = 0.98  # the smoothing of the loss: an exponential moving average, bias-corrected
SKIP_BEGIN, SKIP_END = 10, 5  # the first steps only warm the average up; the last diverge
MIN_POINTS = SKIP_BEGIN + SKIP_END + 5  # fewer recorded batches cannot show a descent


@dataclass
class LRSweep:
    """One sweep: the rate and loss of every batch (B,), the smoothed loss (B,), the
    suggestion and why the sweep ended (``diverged``: the loss grew past 4x its best)."""

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggested_lr: float
    valley_lr: float
    diverged: bool

    @property
    def batches(self) -> int:
        return len(self.lrs)


class _SweepDone(Exception):
    """Raised from inside the loop when the sweep has seen enough (ends ``Trainer.fit``)."""


class _Recorder:
    """The run's loss, recording each batch's value with the rate its step uses."""

    def __init__(self, loss_fn: Any, schedule: ExponentialLR) -> None:
        self.loss_fn, self.schedule = loss_fn, schedule
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.average, self.best = 0.0, math.inf
        self.diverged = False

    def forward(self, outputs: np.ndarray, y: np.ndarray) -> float:
        loss = float(self.loss_fn.forward(outputs, y))
        self.lrs.append(self.schedule.lr_at(len(self.losses)))
        self.losses.append(loss)
        if not math.isfinite(loss):
            self.diverged = True
            raise _SweepDone
        self.average = BETA * self.average + (1 - BETA) * loss
        smoothed = self.average / (1 - BETA ** len(self.losses))
        if len(self.losses) > 1 and smoothed > DIVERGE_FACTOR * self.best:
            self.diverged = True
            raise _SweepDone
        self.best = min(self.best, smoothed)
        if len(self.losses) >= self.schedule.steps:
            raise _SweepDone
        return loss

    def backward(self) -> np.ndarray:
        return self.loss_fn.backward()


class _SweepTrainer(InMemoryTrainer):
    """The in-memory loop minus the epoch bookkeeping (no validation, best or early stop)."""

    def _end_epoch(self, row: dict[str, float]) -> None:
        self.state.epoch, self.state.order, self.state.batch = int(row["epoch"]), None, 0

    def _diverged(self, epoch: int, loss: float) -> None:
        raise _SweepDone  # the recorder stops on a non-finite loss first; kept as a guard


def smooth(losses: Sequence[float], beta: float = BETA) -> np.ndarray:
    """(B,) exponential moving average of ``losses`` (B,), bias-corrected as in Adam."""
    out, average = np.empty(len(losses)), 0.0
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        out[i] = average / (1 - beta ** (i + 1))
    return out


def suggest_steepest(lrs: np.ndarray, smoothed: np.ndarray) -> float:
    """The middle of the window where the smoothed loss (B,) falls most, searched from the
    warm-up's end to the loss's minimum. The window spans a tenth of the sweep (at least 3
    steps, about a decade of rate over 100 batches): one step's slope follows the noise of the
    average (a bump at 1e-6 on GunPoint, the start of a least-squares sweep), a decade's the
    descent."""
    low = max(int(np.argmin(smoothed[: len(smoothed) - SKIP_END])), SKIP_BEGIN + 2)
    window = max(3, len(smoothed) // 10)
    if low - SKIP_BEGIN <= window:  # a short descent: its middle
        return float(lrs[(SKIP_BEGIN + low) // 2])
    drops = smoothed[SKIP_BEGIN + window : low + 1] - smoothed[SKIP_BEGIN : low + 1 - window]
    return float(lrs[SKIP_BEGIN + int(np.argmin(drops)) + window // 2])


def suggest_valley(lrs: np.ndarray, smoothed: np.ndarray) -> float:
    """fastai's valley rule: the longest run of decreasing loss (a longest decreasing
    subsequence), and the rate two thirds down it."""
    n = len(smoothed)
    length = np.ones(n, dtype=int)
    start = end = 0
    for i in range(1, n):
        lower = smoothed[:i] > smoothed[i]
        if lower.any():
            length[i] = 1 + int(length[:i][lower].max())
        if length[i] > length[end]:
            end = i
            start = end - length[end]
    third = (end - start) / 3
    return float(lrs[min(n - 1, max(0, start + int(third) + int(third / 2)))])


def find_lr(
    cfg: Config,
    data: Any,
    *,
    start_lr: float = START_LR,
    end_lr: float = END_LR,
    batches: int = BATCHES,
) -> LRSweep:
    """Sweep the rate over ``batches`` training batches of ``data`` on a network built from
    ``cfg`` with its own ``np.random.default_rng(cfg.seed)`` (the run's first batches, in its
    order); raise ConfigError when the loss diverges before a descent could be seen."""
    if not 0 < start_lr < end_lr:
        raise ConfigError(f"lr-find: start rate {start_lr:g} must be > 0 and < {end_lr:g}")
    if batches < MIN_POINTS:
        raise ConfigError(f"lr-find: --batches {batches}: give at least {MIN_POINTS}")
    schedule = ExponentialLR(start_lr, end_lr, batches)
    steps_per_epoch = max(1, math.ceil(len(data.y_train) / cfg.train.batch_size))
    # One process; epochs enough for the sweep; no early stop: nothing but the sweep may end it.
    train = cfg.train.model_copy(
        update={"workers": 1, "early_stopping": None, "epochs": -(-batches // steps_per_epoch)}
    )
    sweep_cfg = cfg.model_copy(
        update={
            "train": train,
            "optimizer": cfg.optimizer.model_copy(update={"lr": start_lr}),
            "output": cfg.output.model_copy(update={"plots": False}),
        }
    )
    no_val = dataclasses.replace(data, x_val=data.x_val[:0], y_val=data.y_val[:0])
    rng = np.random.default_rng(cfg.seed)  # what the run draws, from a generator of its own
    model = build_network(cfg, data, rng)
    recorder = _Recorder(run_loss(cfg, data), schedule)  # class weights too
    optimizer = build_optimizer(sweep_cfg.optimizer)
    trainer = _SweepTrainer(sweep_cfg, model, recorder, optimizer, no_val, rng, Path("(lr-find)"))
    trainer.schedule = schedule
    with contextlib.suppress(_SweepDone):  # the recorder ends the loop: enough, or diverged
        trainer.fit()
    n = len(recorder.losses) - 1 if recorder.diverged else len(recorder.losses)
    lrs, losses = np.array(recorder.lrs[:n]), np.array(recorder.losses[:n])
    if n < MIN_POINTS:
        raise ConfigError(
            f"lr-find: the loss diverged after {n} batches, at rate {recorder.lrs[-1]:.3g}, "
            f"before a descent could be seen; start lower (--start-lr, now {start_lr:g})"
        )
    smoothed = smooth(losses)
    return LRSweep(
        lrs,
        losses,
        smoothed,
        suggest_steepest(lrs, smoothed),
        suggest_valley(lrs, smoothed),
        recorder.diverged,
    )


def plot_sweep(sweep: LRSweep, path: Path, title: str = "") -> None:
    """Loss against rate (log x): each batch's loss, the smoothed loss and the suggestion."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    try:
        ax.plot(sweep.lrs, sweep.losses, color="0.75", linewidth=0.8, label="batch loss")
        ax.plot(sweep.lrs, sweep.smoothed, color="tab:blue", label="smoothed")
        ax.axvline(
            sweep.suggested_lr,
            color="tab:red",
            linestyle="--",
            label=f"suggested {sweep.suggested_lr:.3g} (steepest)",
        )
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        # A diverging tail would flatten everything before it: cap the view at 2x the start.
        low = min(float(np.min(sweep.losses)), float(np.min(sweep.smoothed)))
        ax.set_ylim(0.9 * low, max(2.0 * float(sweep.smoothed[0]), 1.1 * low))
        ax.legend(loc="upper left")
        ax.set_title(title or f"lr-find: {sweep.batches} batches")
        ax.grid(True, which="both", alpha=0.3)
        save_figure(fig, path)
    finally:
        plt.close(fig)
