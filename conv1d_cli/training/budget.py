"""``train.max_minutes``: as many epochs (and cross-validation folds) as fit a time budget.

The templates' 150 epochs take seconds on an archive problem of 100 short series and hours on
one of 5,000 series of length 4,000. Before training, the run's own network is timed on a
throwaway copy (a warm-up epoch, then a timed epoch of up to ``PROBE_BATCHES`` batches, like
lr-find: nothing of the run is touched), and the whole command is planned from that speed:
the cross-validation folds, the run's epochs, the validation passes and the final test pass.
``train.epochs`` is lowered when it would not fit; folds are reduced (5, 3, 2, then none) when
they would leave fewer than ``MIN_CV_EPOCHS`` epochs.

What fits is written into the run's config.yaml (``train.epochs``, ``train.cv_folds``, and
``max_minutes: null``), so re-running that file trains the same network on any machine;
summary.json's ``time_budget`` says what was measured. The plan is an estimate: a machine that
slows down during the run can still overrun it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.config import Config
from conv1d_cli.task import TASKS
from conv1d_cli.training.inmemory import throwaway_config, throwaway_trainer
from conv1d_cli.training.report import evaluate
from conv1d_cli.training.state import record_in_run

PROBE_BATCHES = 4  # batches in the timed epoch
MIN_CV_EPOCHS = 10  # fewer folds rather than cross-validating fewer epochs than this
RESERVE = 0.1  # of the budget, kept for what the plan does not time (checkpoints, plots)
FINISH_SECONDS = 5.0  # the deadlines leave this for the end: summary, checkpoints, curves.png


@dataclass
class Speed:
    """The network's measured speed on this machine: seconds per training batch (forward,
    backward, optimizer step), per evaluated sample, and per start of a training loop (worker
    processes)."""

    batch: float
    sample: float
    start: float


def measure_speed(cfg: Config, data: Any) -> Speed:
    """Time ``cfg``'s network on the first batches of ``data``'s training split, on a throwaway
    copy of the run (its own network and generator; ``train.workers`` as configured)."""
    n = min(len(data.y_train), cfg.train.batch_size * PROBE_BATCHES)
    x = np.asarray(data.x_train[:n])
    probe = dataclasses.replace(
        data, x_train=x, y_train=data.y_train[:n], x_val=x[:0], y_val=data.y_train[:0]
    )
    trainer = throwaway_trainer(throwaway_config(cfg, epochs=2), probe)
    trainer.label = "the time budget's speed probe"
    started = time.perf_counter()
    trainer.fit()
    wall = time.perf_counter() - started
    batches = [row["epoch_seconds"] for row in trainer.rows]
    batch = batches[-1] / trainer.steps_per_epoch  # the second epoch: warmed up
    started = time.perf_counter()
    evaluate(
        trainer.model, trainer.loss_fn, x.astype(cfg.train.dtype, copy=False), probe.y_train,
        cfg.train.eval_batch_size, TASKS[data.task], data.target_scaling,
    )  # fmt: skip
    sample = (time.perf_counter() - started) / max(n, 1)
    return Speed(batch, sample, max(0.0, wall - sum(batches)))


def _with_train(cfg: Config, **changes: Any) -> Config:
    return cfg.model_copy(update={"train": cfg.train.model_copy(update=changes)})


def plan_seconds(cfg: Config, data: Any, speed: Speed, folds: int, epochs: int) -> float:
    """Estimated seconds of ``epochs`` epochs of the run on ``data`` after cross-validation
    with ``folds`` folds of as many epochs, with every validation pass and the test pass."""
    n, batch = len(data.y_train), cfg.train.batch_size
    per_epoch = math.ceil(n / batch) * speed.batch + len(data.y_val) * speed.sample
    if folds:
        held_out = n / folds
        per_epoch += folds * math.ceil((n - held_out) / batch) * speed.batch + n * speed.sample
    fixed = (folds + 1) * speed.start + len(data.y_test) * speed.sample
    return fixed + epochs * per_epoch


def fit_budget(cfg: Config, data: Any, speed: Speed, folds: int, seconds: float) -> tuple[int, int]:
    """(folds, epochs) that fit ``seconds``: the most epochs up to ``train.epochs``; fewer folds
    when they would leave fewer than MIN_CV_EPOCHS (or train.epochs) epochs; at least 1 epoch."""
    asked = cfg.train.epochs
    for k in sorted({f for f in (folds, 3, 2, 0) if f <= folds}, reverse=True):
        one = plan_seconds(cfg, data, speed, k, 1) - plan_seconds(cfg, data, speed, k, 0)
        spare = seconds - plan_seconds(cfg, data, speed, k, 0)
        epochs = min(asked, int(spare // one)) if one > 0 else asked
        if k == 0 or epochs >= min(asked, MIN_CV_EPOCHS):
            return k, max(1, epochs)
    raise AssertionError("unreachable: folds 0 always returns")


def settle_budget(
    cfg: Config,
    data: Any,
    folds: int,
    started: float,
    note: Callable[[str], None] | None = None,
) -> tuple[Config, int, dict[str, Any] | None]:
    """``cfg`` with ``train.epochs`` (and the folds) cut to fit ``train.max_minutes`` counted
    from ``started`` (a ``time.perf_counter()``); the folds to use; summary.json's record. A
    config without a budget comes back as it is, with ``folds`` and None."""
    budget = cfg.train.max_minutes
    if budget is None or cfg.train.epochs == 0:
        return cfg, folds, None
    speed, workers = measure_speed(cfg, data), cfg.train.workers
    if workers > 1:  # on short series and small batches one process can be the faster
        alone = measure_speed(_with_train(cfg, workers=1), data)
        if alone.batch < speed.batch:
            speed, workers = alone, 1
    seconds = budget * 60 * (1 - RESERVE) - (time.perf_counter() - started)
    fit_folds, epochs = fit_budget(_with_train(cfg, workers=workers), data, speed, folds, seconds)
    train = cfg.train.model_copy(
        update={"epochs": epochs, "cv_folds": fit_folds, "max_minutes": None, "workers": workers}
    )
    record = {
        "max_minutes": budget,
        "workers": {"asked": cfg.train.workers, "planned": workers},
        "seconds_per_batch": round(speed.batch, 6),
        "seconds_per_sample_evaluated": round(speed.sample, 8),
        "asked": {"epochs": cfg.train.epochs, "cv_folds": folds},
        "planned": {"epochs": epochs, "cv_folds": fit_folds},
        "planned_minutes": round(plan_seconds(cfg, data, speed, fit_folds, epochs) / 60, 2),
    }
    if note is not None:
        note(budget_line(record))
    return cfg.model_copy(update={"train": train}), fit_folds, record


def deadlines(
    cfg: Config, data: Any, record: dict[str, Any] | None, started: float
) -> tuple[float | None, float | None]:
    """(for the cross-validation folds, for the run): the time.perf_counter()s by which each
    must end for the command to end within ``train.max_minutes`` of ``started``: the run's
    leaves time for the test pass, the folds' also for the run's planned epochs (``cfg``: the
    settled config). A machine slower than the probe said then ends them early (the loop's
    ``deadline``) instead of overrunning. (None, None) without a budget."""
    if record is None:
        return None, None
    speed = Speed(record["seconds_per_batch"], record["seconds_per_sample_evaluated"], 0.0)
    end = started + record["max_minutes"] * 60 - FINISH_SECONDS
    run = end - len(data.y_test) * speed.sample
    return end - plan_seconds(cfg, data, speed, 0, cfg.train.epochs), run


def budget_line(record: dict[str, Any]) -> str:
    asked, planned = record["asked"], record["planned"]
    what = f"{planned['epochs']} of {asked['epochs']} epochs"
    if asked["cv_folds"]:
        what += f", {planned['cv_folds']} of {asked['cv_folds']} cross-validation folds"
    workers = record["workers"]
    if workers["planned"] != workers["asked"]:
        what += f", {workers['planned']} process (faster here than {workers['asked']})"
    return (
        f"time budget {record['max_minutes']:g} min: {what} fit "
        f"({record['seconds_per_batch'] * 1000:.1f} ms per batch measured; about "
        f"{record['planned_minutes']:.1f} min planned)"
    )


def record_budget(trainer: Any, record: dict[str, Any] | None) -> None:
    """Say in the run's train.log and summary.json (``time_budget``) what the budget did."""
    if record is not None:
        record_in_run(trainer, "time_budget", record, budget_line(record))


# Where ``conv1d`` itself started (set by the console script's main, which counts the
# interpreter's start and the imports); None in-process (tests, notebooks): from setup's start.
COMMAND_STARTED: float | None = None


def command_started() -> float:
    """The time.perf_counter() a budget counts from."""
    return COMMAND_STARTED if COMMAND_STARTED is not None else time.perf_counter()


def process_seconds() -> float:
    """Seconds since this process started (Linux's /proc; 0 elsewhere): a budget counts the
    interpreter's start and the imports too."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0
