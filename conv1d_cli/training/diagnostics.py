"""A warning when training is stuck (at chance, or no better than the mean), naming the causes
that can be measured.

Checked once per run, at the end of the first epoch that is at least the third and has at least
50 optimizer steps behind it (tiny data sets take a few more epochs). What counts as stuck:

- classification: training accuracy within ``margin`` of chance (the largest class's share of
  the training split, what predicting one class scores; margin = 10% of the distance from chance
  to 1);
- regression: training R^2 <= 0.05, no better than always predicting the training mean.

The measurements:

- ReLU units that never fire: for each ReLU layer (those inside blocks too), the channels (or
  features) whose output is 0 for every position of every sample of a fixed batch (the first 256
  training samples, the model in eval mode, one forward pass). Nothing is drawn from the
  trainer's generator, so exact resume still holds.
- inputs all of one sign: the normalized training split is all >= 0 (or all <= 0), what
  ``normalize: scale`` makes of signals, and what lets every first-layer ReLU die together.
- a learning rate outside the range usually used with the optimizer.
- regression only: targets with outliers (a training target more than ``OUTLIER_STDS`` standard
  deviations from its mean pulls a squared loss towards it), and outputs that barely vary over
  the same fixed batch (std below ``FLAT_OUTPUT`` of the targets' std: the network predicts about
  the mean whatever the input).
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
STUCK_R2 = 0.05  # regression: a training R^2 at most this is no better than the mean
OUTLIER_STDS = 6.0  # |standardized target| beyond this: an outlier (normal data: ~4 in 10^5)
FLAT_OUTPUT = 0.05  # outputs' std below this share of the targets' std: a constant network
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
    return probe(model, x)[0]


def probe(model: Any, x: np.ndarray) -> tuple[list[tuple[str, int, int, int]], np.ndarray]:
    """``relu_activity`` of x (B, C, L) and the model's outputs (B, K) of the same pass."""
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
        outputs = np.array(model.forward(x), dtype=np.float64)  # a copy: buffers are reused
    finally:
        for _, relu in relus:
            relu.__dict__.pop("forward", None)
        model.train(was_training)
    return list(found.values()), outputs


def stuck_warning(model: Any, data: Any, cfg: Any, epoch: int, train_acc: float) -> str | None:
    """One warning line when train_acc is within the margin of chance, else None."""
    chance = chance_level(data.y_train, data.n_classes)
    margin = MARGIN * (1.0 - chance)
    if train_acc > chance + margin:
        return None
    probe_x = _probe_batch(data, cfg)
    activity, _ = probe(model, probe_x)
    causes = _shared_causes(activity, len(probe_x), data, cfg)
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


def regression_stuck_warning(
    model: Any, data: Any, cfg: Any, epoch: int, train_r2: float
) -> str | None:
    """One warning line when train_r2 <= ``STUCK_R2``, else None (also for NaN: targets
    constant over the split have no R^2, and nothing to learn).

    Besides the shared measurements: the largest |standardized training target| (outliers),
    and the spread of the network's outputs on the probe batch (B, K) against the targets'
    (standardized targets have std 1, so the outputs' std is already that share).
    """
    if not train_r2 <= STUCK_R2:
        return None
    probe_x = _probe_batch(data, cfg)
    activity, outputs = probe(model, probe_x)
    causes = _shared_causes(activity, len(probe_x), data, cfg)
    names = list(data.target_names) or ["target"]
    y = np.asarray(data.y_train, dtype=np.float64).reshape(len(data.y_train), -1)
    if y.size:
        furthest = np.abs(y).max(axis=0)  # (K,) in stds of the training split
        worst = int(np.argmax(furthest))
        if furthest[worst] > OUTLIER_STDS:
            which = f" ({names[worst]})" if len(names) > 1 else ""
            causes.append(
                f"the targets have outliers: one lies {furthest[worst]:.1f} std from the "
                f"mean{which}, and a squared loss chases it (loss.type: huber or mae is "
                "pulled less)"
            )
    spread = outputs.std(axis=0) if len(outputs) > 1 else np.zeros(outputs.shape[1:])
    if spread.size and float(spread.max()) < FLAT_OUTPUT:
        causes.append(
            f"the outputs barely vary: over {len(probe_x)} training samples their std is "
            f"{float(spread.max()):.1%} of the targets' (the network predicts one value whatever "
            "the input)"
        )
    if not causes:
        causes.append(
            "none of dead ReLUs, one-sign inputs, an unusual optimizer.lr, outlying targets or "
            "constant outputs measured; more epochs or a larger optimizer.lr may help, or the "
            "signals may not hold the target"
        )
    return (
        f"warning: training looks stuck: train_r2 {train_r2:.3f} after epoch {epoch} is no "
        f"better than predicting the mean (R^2 <= {STUCK_R2:g}); likely causes: "
        + "; ".join(causes)
    )


def _probe_batch(data: Any, cfg: Any) -> np.ndarray:
    """The fixed batch every measurement uses: the first training samples (B, C, L)."""
    return data.x_train[:PROBE_SAMPLES].astype(np.dtype(cfg.train.dtype), copy=False)


def _shared_causes(
    activity: list[tuple[str, int, int, int]], n_probe: int, data: Any, cfg: Any
) -> list[str]:
    """The causes both tasks measure: dead ReLUs, one-sign inputs, an unusual learning rate."""
    causes = []
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
            f"{n_probe} training samples ({named})"
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
    return causes


def warn_if_stuck(trainer: Any, row: dict[str, float]) -> None:
    """The trainer's hook after each epoch: at the check epoch, warn on stderr and in train.log."""
    state = trainer.state
    if not check_due(state.epoch, state.step, trainer.steps_per_epoch):
        return
    args = (trainer.model, trainer.data, trainer.cfg, state.epoch)
    if "train_acc" in row:
        line = stuck_warning(*args, row["train_acc"])
    elif "train_r2" in row:
        line = regression_stuck_warning(*args, row["train_r2"])
    else:
        return
    if line is None:
        return
    trainer.reporter.message(line)
    with trainer.metrics.log_path.open("a") as handle:
        handle.write(line + "\n")
