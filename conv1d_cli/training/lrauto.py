"""``optimizer.lr: auto``: the finder's suggestion becomes the run's rate when the run starts.

The sweep runs on a throwaway copy (``lrfind.find_lr``: its own network and generator from the
config's seed), so the run then trains exactly as if the number had been written in the config.
The number replaces ``auto`` in the resolved config (config.yaml and every checkpoint say it);
summary.json's ``lr_auto`` and one train.log line say where it came from; ``--resume`` keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conv1d_cli.config import Config
from conv1d_cli.training.lrfind import LRSweep, find_lr
from conv1d_cli.training.state import record_in_run


def is_auto(cfg: Config) -> bool:
    return cfg.optimizer.lr == "auto"


def with_lr(cfg: Config, lr: float) -> Config:
    """``cfg`` with ``optimizer.lr`` set to ``lr`` (a number, or ``auto``)."""
    return cfg.model_copy(update={"optimizer": cfg.optimizer.model_copy(update={"lr": lr})})


def settle_lr(
    cfg: Config, data: Any, note: Callable[[str], None] | None = None
) -> tuple[Config, LRSweep | None]:
    """``cfg`` with ``optimizer.lr: auto`` replaced by the finder's suggestion on ``data``
    (3 significant digits: what config.yaml shows is what trains), and the sweep; a config with
    a number comes back as it is, with None."""
    if not is_auto(cfg):
        return cfg, None
    sweep = find_lr(cfg, data)
    lr = float(f"{sweep.suggested_lr:.3g}")
    if note is not None:
        note(lr_auto_line(lr, sweep))
    return with_lr(cfg, lr), sweep


def lr_auto_line(lr: float, sweep: LRSweep) -> str:
    return f"lr auto: suggested {lr:g} from a sweep of {sweep.batches} batches"


def record_lr_auto(trainer: Any, sweep: LRSweep | None) -> None:
    """Say in the run's train.log and summary.json (``lr_auto``) where its rate came from."""
    if sweep is None:
        return
    lr = float(trainer.cfg.optimizer.lr)
    record = {
        "suggested_lr": lr,
        "batches": sweep.batches,
        "sweep": [float(sweep.lrs[0]), float(sweep.lrs[-1])],
        "diverged": sweep.diverged,
    }
    record_in_run(trainer, "lr_auto", record, lr_auto_line(lr, sweep))


def resume_lr(given: Config, stored: Config) -> Config:
    """A config given to ``--resume`` that says ``auto`` means the run's settled rate."""
    if is_auto(given) and not is_auto(stored):
        return with_lr(given, stored.optimizer.lr)
    return given
