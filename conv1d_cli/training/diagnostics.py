"""A warning when training is stuck at chance, naming the causes that can be measured.

Checked once per run, at the end of the first epoch that is at least the third and has at least
50 optimizer steps behind it (tiny data sets take a few more epochs). Training accuracy within
``margin`` of chance (the largest class's share of the training split, what predicting one class
scores; margin = 10% of the distance from chance to 1) counts as stuck. The measurements:

- ReLU units that never fire: for each ReLU layer (those inside blocks too), the channels (or
  features) whose output is 0 for every position of every sample of a fixed batch (the first 256
  training samples, the model in eval mode, one forward pass). Nothing is drawn from the
  trainer's generator, so exact resume still holds.
- inputs all of one sign: the normalized training split is all >= 0 (or all <= 0), what
  ``normalize: scale`` makes of signals, and what lets every first-layer ReLU die together.
- a learning rate outside the range usually used with the optimizer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conv1d_cli.nn import ReLU, Sequential

CHECK_EPOCH = 3
CHECK_STEPS = 50
PROBE_SAMPLES = 256
SHOWN_LAYERS = 4  # ReLU layers with dead units named in the warning, in forward order
MARGIN = 0.1  # of the distance from chance to perfect accuracy
USUAL_LR = {
    "adam": (1e-4, 1e-2),
    "adamw": (1e-4, 1e-2),
    "rmsprop": (1e-4, 1e-2),
    "adagrad": (1e-3, 1e-1),
    "sgd": (1e-3, 1.0),
    "momentum": (1e-3, 0.5),
}


def check_due(epoch: int, step: int, steps_per_epoch: int) -> bool:
    """True at the first epoch end with epoch >= 3 and step >= 50 (stateless, so resume-safe)."""

    def ready(e: int, s: int) -> bool:
        return e >= CHECK_EPOCH and s >= CHECK_STEPS

    return ready(epoch, step) and not ready(epoch - 1, step - steps_per_epoch)


def chance_level(y_train: np.ndarray, n_classes: int) -> float:
    """The accuracy of always predicting the largest class of y_train (N,)."""
    if len(y_train) == 0:
        return 1.0 / max(n_classes, 1)
    return float(np.bincount(y_train, minlength=n_classes).max() / len(y_train))


def named_relus(layers: Any, prefix: str = "") -> list[tuple[str, ReLU]]:
    """(name, layer) for every ReLU in ``layers``, blocks included, named like the parameters:
    "1", "0.layers.2", "0.activation", "2.branches.1.0"."""
    found = []
    for index, layer in enumerate(layers):
        found += _relus_in(layer, f"{prefix}{index}")
    return found


def _relus_in(layer: Any, name: str) -> list[tuple[str, ReLU]]:
    if isinstance(layer, ReLU):
        return [(name, layer)]
    if isinstance(layer, Sequential):
        return named_relus(layer, f"{name}.")
    children = getattr(layer, "named_children", None)  # blocks (nn/blocks.py)
    if children is None:
        return []
    return [found for child, sub in children() for found in _relus_in(sub, f"{name}.{child}")]


def relu_activity(model: Any, x: np.ndarray) -> list[tuple[str, int, int, int]]:
    """(layer name, units never firing, units always firing, units) per ReLU layer, on x
    (B, C, L), in the order the forward pass reaches them; ReLUs inside blocks are named like
    their parameters ("0.layers.2", "0.activation").

    A unit that always fires (positive at every position of every sample) acts as a linear map:
    with inputs all of one sign most units either never or always fire, and neither kind lets
    the network tell shapes apart.

    A unit is a channel of a (B, C, L) activation or a feature of a (B, F) one. The model runs
    once, in eval mode (dropout off, batch norm on its running statistics), each ReLU's output
    recorded on the way; the model is restored after.
    """
    was_training = model.training
    found: dict[str, tuple[str, int, int, int]] = {}

    def recording(name: str, relu: ReLU) -> Any:
        def forward(h: np.ndarray) -> np.ndarray:
            y = ReLU.forward(relu, h)
            positive = y > 0
            axes = (0, 2) if y.ndim == 3 else (0,)
            fired, always = positive.any(axis=axes), positive.all(axis=axes)
            found[name] = (
                name,
                int(np.count_nonzero(~fired)),
                int(np.count_nonzero(always)),
                fired.size,
            )
            return y

        return forward

    relus = named_relus(model.layers)
    model.eval()
    try:
        for name, relu in relus:  # an instance attribute shadows the class's forward
            relu.forward = recording(name, relu)
        model.forward(x)
    finally:
        for _, relu in relus:
            relu.__dict__.pop("forward", None)
        model.train(was_training)
    return list(found.values())


def stuck_warning(model: Any, data: Any, cfg: Any, epoch: int, train_acc: float) -> str | None:
    """One warning line when train_acc is within the margin of chance, else None."""
    chance = chance_level(data.y_train, data.n_classes)
    margin = MARGIN * (1.0 - chance)
    if train_acc > chance + margin:
        return None
    causes = []
    probe = data.x_train[:PROBE_SAMPLES].astype(np.dtype(cfg.train.dtype), copy=False)
    activity = relu_activity(model, probe)
    n_dead, n_units = sum(row[1] for row in activity), sum(row[3] for row in activity)
    if n_dead:
        dead = [row for row in activity if row[1]]
        named = "; ".join(
            f"layer {name}: {never} of {units}" + (f", {always} always fire" if always else "")
            for name, never, always, units in dead[:SHOWN_LAYERS]
        )
        if len(dead) > SHOWN_LAYERS:
            named += f"; {len(dead) - SHOWN_LAYERS} more layers"
        causes.append(
            f"{n_dead} of {n_units} ReLU units ({n_dead / n_units:.0%}) never fire on "
            f"{len(probe)} training samples ({named})"
        )
    low, high = float(data.x_train.min()), float(data.x_train.max())
    if low >= 0 or high <= 0:
        sign = ">= 0" if low >= 0 else "<= 0"
        causes.append(
            f"the inputs are all {sign} (data.normalize: {data.normalization['method']}; "
            "standardize or per_sample centres them)"
        )
    kind, lr = cfg.optimizer.type, cfg.optimizer.lr
    usual = USUAL_LR.get(kind)
    if usual is not None and not usual[0] <= lr <= usual[1]:
        causes.append(
            f"optimizer.lr {lr:g} is outside the usual {usual[0]:g}..{usual[1]:g} for {kind}"
        )
    if not causes:
        causes.append(
            "none of dead ReLUs, one-sign inputs or an unusual optimizer.lr measured; "
            "more epochs or a larger optimizer.lr may help"
        )
    return (
        f"warning: training looks stuck: train_acc {train_acc:.3f} after epoch {epoch} is within "
        f"{margin:.3f} of chance ({chance:.3f}, always the largest class); likely causes: "
        + "; ".join(causes)
    )


def warn_if_stuck(trainer: Any, row: dict[str, float]) -> None:
    """The trainer's hook after each epoch: at the check epoch, warn on stderr and in train.log."""
    state = trainer.state
    if "train_acc" not in row or not check_due(state.epoch, state.step, trainer.steps_per_epoch):
        return
    line = stuck_warning(trainer.model, trainer.data, trainer.cfg, state.epoch, row["train_acc"])
    if line is None:
        return
    trainer.reporter.message(line)
    with trainer.metrics.log_path.open("a") as handle:
        handle.write(line + "\n")
