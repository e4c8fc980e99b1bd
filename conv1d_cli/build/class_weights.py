"""``loss.class_weight`` resolved once the data is known, and kept with the run.

``balanced`` is scikit-learn's rule (``compute_class_weight("balanced")``): n_samples /
(n_classes * count of the class) on the training split, so every class adds the same total
weight to the loss. A mapping names classes by their names; classes it leaves out weigh 1.
The resolved weights go into the checkpoint's data meta and summary.json as {class: weight},
so ``conv1d eval`` and ``--resume`` use these very numbers, not a recount.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from conv1d_cli.build.objects import build_loss
from conv1d_cli.config import Config
from conv1d_cli.errors import ConfigError, DataError


def resolve_class_weight(
    setting: str | Mapping[Any, float] | None, class_names: Sequence[str], y_train: np.ndarray
) -> np.ndarray | None:
    """(K,) float64 weights for ``loss.class_weight`` (None: unweighted); y_train (N,) class
    indices. A ConfigError names unknown classes; a DataError a class the training split lacks."""
    if setting is None:
        return None
    names = [str(name) for name in class_names]
    if setting == "balanced":
        counts = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=len(names))
        missing = [name for name, count in zip(names, counts, strict=True) if count == 0]
        if missing:
            raise DataError(
                f"loss.class_weight: balanced needs every class in the training split; "
                f"{', '.join(missing)} has no training sample (give weights by name instead)"
            )
        return len(y_train) / (len(names) * counts.astype(np.float64))
    unknown = [str(key) for key in setting if str(key) not in names]
    if unknown:
        raise ConfigError(
            f"loss.class_weight: unknown class {', '.join(unknown)}; the classes are "
            f"{', '.join(names)}"
        )
    given = {str(key): float(value) for key, value in setting.items()}
    return np.array([given.get(name, 1.0) for name in names], dtype=np.float64)


def weights_by_class(
    weights: np.ndarray | None, class_names: Sequence[str]
) -> dict[str, float] | None:
    """{class name: weight} for the checkpoint and summary.json; None when unweighted."""
    if weights is None:
        return None
    return {str(name): float(w) for name, w in zip(class_names, weights, strict=True)}


def stored_weights(
    stored: Mapping[str, float] | None, class_names: Sequence[str]
) -> np.ndarray | None:
    """(K,) weights from ``weights_by_class``'s mapping (a checkpoint's), in class order."""
    if not stored:
        return None
    return np.array([float(stored[str(name)]) for name in class_names], dtype=np.float64)


def run_loss(cfg: Config, data: Any, stored: Mapping[str, float] | None = None) -> Any:
    """The run's loss for ``cfg`` (task settled) and ``data`` (a Dataset): class weights from
    ``stored`` (a resumed run's checkpoint) or resolved on the training split."""
    weights = None
    if cfg.loss.class_weight is not None:
        weights = stored_weights(stored, data.class_names)
        if weights is None:
            weights = resolve_class_weight(cfg.loss.class_weight, data.class_names, data.y_train)
    return build_loss(cfg.loss, data.task, weights)


def loss_weights(loss_fn: Any, class_names: Sequence[str]) -> dict[str, float] | None:
    """The weights a loss was built with as {class name: weight}; None when it has none."""
    return weights_by_class(getattr(loss_fn, "class_weight", None), class_names)
