"""What a run carries between sessions besides weights: the loop's position and running sums."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.rundir.checkpoints import Checkpoint
from conv1d_cli.rundir.status import RunStatus


@dataclass
class LoopState:
    """Everything besides weights, optimizer state and the generator that a resume needs."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken (the schedule is a function of it)
    best_value: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs without improvement, for early stopping
    status: str = RunStatus.RUNNING
    wall_seconds: float = 0.0  # over all sessions of this run
    # Inside an interrupted epoch: the next batch and the running sums of the epoch so far
    # (``tally``: the task's sums, e.g. {"correct": n} or per-output squared errors).
    batch: int = 0
    loss_sum: float = 0.0
    tally: dict[str, Any] = field(default_factory=dict)
    seen: int = 0
    seconds: float = 0.0
    order: np.ndarray | None = field(default=None, repr=False)  # the epoch's sample order

    def to_meta(self) -> dict[str, Any]:
        meta = asdict(self)
        meta.pop("order")
        meta["tally"] = {key: np.asarray(value).tolist() for key, value in self.tally.items()}
        return meta

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> LoopState:
        meta = dict(checkpoint.meta["state"])
        if "correct" in meta:  # written before tasks existed: a classifier's count
            meta["tally"] = {"correct": float(meta.pop("correct"))}
        state = cls(**meta)
        state.order = checkpoint.extra.get("order")
        return state


@dataclass
class RunResult:
    run_dir: Path
    status: str
    summary: dict[str, Any]


def record_in_run(trainer: Any, key: str, record: dict[str, Any] | None, line: str) -> None:
    """Keep ``record`` in the run's summary.json under ``key`` and ``line`` in its train.log
    (where a setting decided at start came from: lr auto, the epochs, the budget)."""
    if record is None:
        return
    trainer.summary_extra[key] = record
    log_path = getattr(trainer.metrics, "log_path", None)  # None: a run kept in memory
    if log_path is not None:
        with log_path.open("a") as handle:
            handle.write(line + "\n")


def keep_summary_records(trainer: Any, keys: tuple[str, ...]) -> None:
    """On resume: carry summary.json's records (``lr_auto``, ``epochs_cv``, ...) into the
    summaries still to come."""
    try:
        summary = json.loads((trainer.run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return
    for key in keys:
        record = summary.get(key) if isinstance(summary, dict) else None
        if isinstance(record, dict):
            trainer.summary_extra[key] = record
