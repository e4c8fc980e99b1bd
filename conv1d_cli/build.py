"""Config -> objects: the network, the loss, the optimizer and the learning-rate schedule.

Lookup tables keyed by the config's ``type`` (no string if/elif chains); layers and optimizers
take plain arguments and never see the config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from conv1d_cli import config as cfgs
from conv1d_cli import nn, optim, schedules
from conv1d_cli.errors import ConfigError


@dataclass(frozen=True)
class BuildContext:
    """What every parametrised layer needs besides its own settings."""

    rng: np.random.Generator
    dtype: np.dtype
    initializer: Callable[..., np.ndarray]


def _require_sequence_input(kind: str, shape: tuple[int, ...]) -> int:
    if len(shape) != 2:
        raise ValueError(
            f"{kind} expects (channels, length) input, got {shape}; "
            "a layer that flattens cannot be followed by a convolution or pooling"
        )
    return shape[0]


def _require_flat_input(kind: str, shape: tuple[int, ...]) -> int:
    if len(shape) != 1:
        raise ValueError(
            f"{kind} expects (features,) input, got {shape}; add a flatten "
            "(or globalavgpool1d) layer before it"
        )
    return shape[0]


def _conv1d(spec: cfgs.Conv1dLayer, shape: tuple[int, ...], ctx: BuildContext) -> nn.Layer:
    padding = tuple(spec.padding) if isinstance(spec.padding, tuple) else spec.padding
    return nn.Conv1d(
        _require_sequence_input("conv1d", shape),
        spec.channels,
        spec.kernel,
        stride=spec.stride,
        padding=padding,
        padding_mode=spec.padding_mode,
        dilation=spec.dilation,
        bias=spec.bias,
        initializer=ctx.initializer,
        dtype=ctx.dtype,
        rng=ctx.rng,
    )


def _dense(spec: cfgs.DenseLayer, shape: tuple[int, ...], ctx: BuildContext) -> nn.Layer:
    return nn.Dense(
        _require_flat_input(spec.type, shape),
        spec.units,
        bias=spec.bias,
        initializer=ctx.initializer,
        dtype=ctx.dtype,
        rng=ctx.rng,
    )


def _pool(layer_class: type) -> Callable[..., nn.Layer]:
    def factory(spec: Any, shape: tuple[int, ...], ctx: BuildContext) -> nn.Layer:
        _require_sequence_input(spec.type, shape)
        return layer_class(spec.kernel, stride=spec.stride, padding=spec.padding)

    return factory


def _on_sequence(make: Callable[[], nn.Layer], kind: str) -> Callable[..., nn.Layer]:
    def factory(spec: Any, shape: tuple[int, ...], ctx: BuildContext) -> nn.Layer:
        _require_sequence_input(kind, shape)
        return make()

    return factory


def _batchnorm(spec: cfgs.BatchNorm1dLayer, shape: tuple[int, ...], ctx: BuildContext) -> nn.Layer:
    return nn.BatchNorm1d(shape[0], momentum=spec.momentum, eps=spec.eps, dtype=ctx.dtype)


LAYER_FACTORIES: dict[str, Callable[[Any, tuple[int, ...], BuildContext], nn.Layer]] = {
    "conv1d": _conv1d,
    "dense": _dense,
    "linear": _dense,
    "relu": lambda spec, shape, ctx: nn.ReLU(),
    "leakyrelu": lambda spec, shape, ctx: nn.LeakyReLU(spec.negative_slope),
    "tanh": lambda spec, shape, ctx: nn.Tanh(),
    "sigmoid": lambda spec, shape, ctx: nn.Sigmoid(),
    "gelu": lambda spec, shape, ctx: nn.GELU(approximate=spec.approximate),
    "maxpool1d": _pool(nn.MaxPool1d),
    "avgpool1d": _pool(nn.AvgPool1d),
    "globalavgpool1d": _on_sequence(nn.GlobalAvgPool1d, "globalavgpool1d"),
    "flatten": _on_sequence(nn.Flatten, "flatten"),
    "dropout": lambda spec, shape, ctx: nn.Dropout(spec.rate, rng=ctx.rng),
    "batchnorm1d": _batchnorm,
}


def build_model(
    model_cfg: cfgs.ModelConfig,
    input_shape: tuple[int, ...],
    n_classes: int,
    rng: np.random.Generator,
    dtype: str = "float32",
) -> nn.Sequential:
    """Build the network for samples of ``input_shape`` (C, L); every shape is checked first.

    Raises ConfigError naming the layer index when a layer does not fit its input, when a
    layer's output would be empty, or when the last layer's width is not ``n_classes``.
    """
    ctx = BuildContext(
        rng=rng,
        dtype=np.dtype(dtype),
        initializer=nn.get_initializer(model_cfg.init, sigma=model_cfg.init_sigma),
    )
    shape = tuple(int(d) for d in input_shape)
    layers: list[nn.Layer] = []
    for index, spec in enumerate(model_cfg.layers):
        try:
            layer = LAYER_FACTORIES[spec.type](spec, shape, ctx)
            out_shape = tuple(int(d) for d in layer.output_shape(shape))
        except ValueError as exc:
            raise ConfigError(
                f"model.layers[{index}] ({spec.type}) on input {_fmt(shape)}: {exc}"
            ) from None
        layers.append(layer)
        shape = out_shape
    if shape != (n_classes,):
        last = len(model_cfg.layers) - 1
        raise ConfigError(
            f"model.layers[{last}] ({model_cfg.layers[last].type}): the network outputs "
            f"{_fmt(shape)} per sample but the data has {n_classes} classes; end with "
            f"{{type: dense, units: {n_classes}}}"
        )
    return nn.Sequential(layers)


def _fmt(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


LOSSES: dict[str, Callable[[cfgs.LossConfig], Any]] = {
    "cross_entropy": lambda cfg: nn.SoftmaxCrossEntropy(label_smoothing=cfg.label_smoothing),
}

OPTIMIZERS: dict[str, type] = {
    "sgd": optim.SGD,
    "momentum": optim.Momentum,
    "adagrad": optim.AdaGrad,
    "rmsprop": optim.RMSProp,
    "adam": optim.Adam,
    "adamw": optim.AdamW,
}


def build_loss(loss_cfg: cfgs.LossConfig) -> Any:
    return LOSSES[loss_cfg.type](loss_cfg)


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
    ``onecycle`` peaks at ``optimizer.lr``.
    """
    total = max(1, steps_per_epoch * epochs)
    return SCHEDULES[schedule_cfg.type](schedule_cfg, base_lr, steps_per_epoch, total)
