"""Config -> objects: the network, the loss, the optimizer and the learning-rate schedule.

Lookup tables keyed by the config's ``type`` (no string if/elif chains): layer kinds build from
their own declarations (``conv1d_cli/config/layers``); layers and optimizers take plain
arguments and never see the config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from conv1d_cli import config as cfgs
from conv1d_cli import nn
from conv1d_cli.config.layers import BuildContext, build_sequence, fmt_shape
from conv1d_cli.errors import ConfigError
from conv1d_cli.parallel.dataparallel import DataParallel, cores_allowed
from conv1d_cli.task import TASKS
from conv1d_cli.training import optim, schedules


def resolve_units(model_cfg: cfgs.ModelConfig, n_classes: int) -> cfgs.ModelConfig:
    """The model config with a last ``dense`` that left ``units`` out given ``n_classes`` (the
    network's output width: classes, or regression targets)."""
    last = model_cfg.layers[-1]
    if last.type not in ("dense", "linear") or last.units is not None:
        return model_cfg
    layers = [*model_cfg.layers[:-1], last.model_copy(update={"units": n_classes})]
    return model_cfg.model_copy(update={"layers": layers})


def build_model(
    model_cfg: cfgs.ModelConfig,
    input_shape: tuple[int, ...],
    n_classes: int,
    rng: np.random.Generator,
    dtype: str = "float32",
    outputs_text: str | None = None,
) -> nn.Sequential:
    """Build the network for samples of ``input_shape`` (C, L); every shape is checked first.

    Each layer builds from its own spec (``conv1d_cli/specs``); a last ``dense`` without units
    gets ``n_classes``. Raises ConfigError naming the layer's key path when a layer does not fit
    its input, when a layer's output would be empty, or when the network's output width is not
    ``n_classes`` (``outputs_text`` names it in the message: "3 classes", "1 target").
    """
    ctx = BuildContext(
        rng=rng,
        dtype=np.dtype(dtype),
        initializer=nn.get_initializer(model_cfg.init, sigma=model_cfg.init_sigma),
    )
    specs = resolve_units(model_cfg, n_classes).layers
    model, shape = build_sequence(specs, input_shape, ctx)
    if shape != (n_classes,):
        index = len(specs) - 1
        raise ConfigError(
            f"model.layers[{index}] ({specs[index].type}): the network outputs "
            f"{fmt_shape(shape)} per sample but the data has "
            f"{outputs_text or f'{n_classes} classes'}; end with "
            f"{{type: dense, units: {n_classes}}} (or leave units out)"
        )
    return model


def build_network(cfg: cfgs.Config, data: Any, rng: np.random.Generator) -> nn.Sequential:
    """The config's network for ``data`` (a Dataset): its sample shape in, one output per class
    or target. A regression network's last dense starts at the training mean (weights zero, bias
    the mean standardized target): before any epoch it predicts the mean exactly, the bar every
    epoch is measured against (cross-validation's epoch 0)."""
    words = TASKS[data.task].describe_targets(data.n_outputs, data.target_names)
    model = build_model(cfg.model, data.sample_shape, data.n_outputs, rng, cfg.train.dtype, words)
    if data.task == "regression":
        start_at_mean(model, data.y_train)
    return model


def start_at_mean(model: nn.Sequential, y_train: np.ndarray) -> None:
    """Zero the last layer's weights and set its bias to the mean of ``y_train`` (N, K), when
    that layer is a dense with a bias (without one it keeps its initial weights)."""
    head = model.layers[-1] if len(model) else None
    params = getattr(head, "params", {})
    if not isinstance(head, nn.Dense) or "b" not in params or not len(y_train):
        return
    params["W"][...] = 0
    params["b"][...] = np.asarray(y_train, dtype=np.float64).mean(axis=0)


# (loss config, resolved class weights (K,) or None) -> the loss; settle_task refuses class
# weights for the regression losses.
LOSSES: dict[str, Callable[[cfgs.LossConfig, Any], Any]] = {
    "cross_entropy": lambda cfg, w: nn.SoftmaxCrossEntropy(cfg.label_smoothing, class_weight=w),
    "mse": lambda cfg, w: nn.MeanSquaredError(),
    "mae": lambda cfg, w: nn.MeanAbsoluteError(),
    "huber": lambda cfg, w: nn.HuberLoss(delta=cfg.delta),
}

OPTIMIZERS: dict[str, type] = {
    "sgd": optim.SGD,
    "momentum": optim.Momentum,
    "adagrad": optim.AdaGrad,
    "rmsprop": optim.RMSProp,
    "adam": optim.Adam,
    "adamw": optim.AdamW,
}


def build_loss(
    loss_cfg: cfgs.LossConfig, task: str = "classification", class_weight: Any = None
) -> Any:
    """The loss ``loss_cfg.type`` names; ``auto`` is the task's default (see conv1d_cli/task).
    ``class_weight``: (K,) weights resolved from ``loss_cfg.class_weight`` (build/class_weights)."""
    kind = TASKS[task].default_loss if loss_cfg.type == "auto" else loss_cfg.type
    return LOSSES[kind](loss_cfg, class_weight)


def build_optimizer(opt_cfg: Any) -> optim.Optimizer:
    """The optimizer named by ``opt_cfg.type``; config field names are its keyword arguments."""
    settings = opt_cfg.model_dump(exclude={"type"})
    return OPTIMIZERS[opt_cfg.type](**settings)


SCHEDULES: dict[str, Callable[[Any, float, int, int], Any]] = {
    "constant": lambda cfg, lr, per_epoch, total: schedules.ConstantLR(lr),
    "step": lambda cfg, lr, per_epoch, total: schedules.StepLR(
        lr, step_size=cfg.step_epochs * per_epoch, gamma=cfg.gamma
    ),
    "cosine": lambda cfg, lr, per_epoch, total: schedules.CosineLR(
        lr, total_steps=total, warmup_steps=round(cfg.warmup_epochs * per_epoch), min_lr=cfg.min_lr
    ),
    "onecycle": lambda cfg, lr, per_epoch, total: schedules.OneCycleLR(
        lr,
        total_steps=total,
        pct_start=cfg.pct_start,
        div_factor=cfg.div_factor,
        final_div_factor=cfg.final_div_factor,
    ),
}


def build_schedule(schedule_cfg: Any, base_lr: float, steps_per_epoch: int, epochs: int) -> Any:
    """A schedule whose ``lr_at(step)`` is a pure function of the optimizer step.

    Epoch-based settings (``step_epochs``, ``warmup_epochs``) are converted to steps here;
    ``onecycle`` peaks at ``optimizer.lr``. The decay spans ``schedule.epochs`` when set (a run
    stopped at cross-validation's epoch keeps its folds' rates), else ``epochs``.
    """
    total = max(1, steps_per_epoch * (getattr(schedule_cfg, "epochs", None) or epochs))
    return SCHEDULES[schedule_cfg.type](schedule_cfg, base_lr, steps_per_epoch, total)


def build_data_parallel(
    model: nn.Sequential, workers: int, note: Callable[[str], None]
) -> DataParallel:
    """``train.workers`` -> the model trained on that many processes (dataparallel.py).

    ``note`` gets one line when the run may use fewer cores than workers (its processes then
    take turns); a process or system that cannot start workers is a ConfigError naming the key.
    """
    cores = cores_allowed()
    if cores < workers:  # e.g. a template (2 workers) on a 1-core machine
        note(
            f"note: train.workers is {workers} but this run may use {cores} "
            f"core{'s' if cores != 1 else ''}: its processes take turns, slower than "
            f"train.workers={cores}"
        )
    try:
        return DataParallel(model, workers)
    except ValueError as exc:  # a daemonic process, no POSIX semaphores
        raise ConfigError(f"train.workers: {exc}") from exc
