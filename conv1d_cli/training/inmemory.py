"""The Trainer's loop without a run directory: epoch rows and the best weights kept in memory.

The scikit-learn estimator trains with it; the learning-rate finder, the time budget's speed
probe and cross-validation's folds train throwaway copies of a run with it (nothing written).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.build.class_weights import run_loss
from conv1d_cli.build.objects import build_network, build_optimizer
from conv1d_cli.config import Config
from conv1d_cli.training.loop import Trainer


class MemoryLog:
    """Stands in for MetricsLog: keeps the epoch rows in memory, writes no file."""

    # The stuck warning appends its line to the run's train.log; in memory there is none (the
    # line still reaches the reporter, shown with verbose=1).
    log_path = Path(os.devnull)

    def __init__(self, run_dir: Path, scores: tuple[str, ...] = ()) -> None:
        self.rows: list[dict[str, float]] = []

    def truncate_to_epoch(self, epoch: int) -> list[dict[str, float]]:
        return []

    def append(self, row: dict[str, float], line: str) -> None:
        self.rows.append(dict(row))


class InMemoryTrainer(Trainer):
    """The Trainer's loop with its files replaced: the best weights are kept in memory."""

    metrics_log_type = MemoryLog
    best_state: dict[str, np.ndarray] | None = None
    label = "fit"  # what trained, for a divergence: "a cross-validation fold", ...

    def _save(self, kind: str, row: dict[str, float]) -> None:
        if kind == "best":
            self.best_state = self.model.state_dict()

    def _write_summary(self, test: Any = None, extra: Any = None) -> dict[str, Any]:
        return {"status": self.state.status, "epochs_completed": self.state.epoch}

    def _plot(self) -> None:
        pass

    def _test_metrics(self) -> None:
        if self.best_state is not None:  # end on the best weights, like conv1d eval
            self.model.load_state_dict(self.best_state)

    def _diverged(self, epoch: int, loss: float) -> None:
        from conv1d_cli.errors import TrainingDiverged

        raise TrainingDiverged(
            f"training diverged ({self.label}): the loss became {loss} at epoch {epoch}, batch "
            f"{self.state.batch + 1}. Lower optimizer.lr or set optimizer.clip_grad_norm"
        )

    def _interrupt(self) -> None:
        raise KeyboardInterrupt  # nothing to resume: there is no run directory


def throwaway_config(cfg: Config, **train: Any) -> Config:
    """A run's config for a copy whose results are not the run (a fold, a probe): no early
    stopping, folds, time budget or plots, monitoring train_loss; ``train``: more train keys."""
    changes = {"early_stopping": None, "cv_folds": 0, "max_minutes": None, **train}
    output = cfg.output.model_copy(update={"plots": False, "monitor": "train_loss"})
    return cfg.model_copy(update={"train": cfg.train.model_copy(update=changes), "output": output})


def throwaway_trainer(
    cfg: Config, data: Any, trainer_type: type[InMemoryTrainer] = InMemoryTrainer
) -> InMemoryTrainer:
    """``trainer_type`` for ``cfg`` on ``data`` (a Dataset), starting from the network and the
    generator the run itself would (``build_network`` from ``default_rng(cfg.seed)``)."""
    rng = np.random.default_rng(cfg.seed)
    model = build_network(cfg, data, rng)
    optimizer = build_optimizer(cfg.optimizer)
    return trainer_type(cfg, model, run_loss(cfg, data), optimizer, data, rng, Path("(in memory)"))
