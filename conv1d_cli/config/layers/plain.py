"""The plain layer kinds: each one's YAML keys and the engine layer it builds."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveInt

from conv1d_cli import nn
from conv1d_cli.config.layers.base import (
    BuildContext,
    LayerSpec,
    PositiveFloat,
    Shape,
    UnitInterval,
    register,
    require_flat_input,
    require_sequence_input,
)

# 'causal': all dilation*(kernel-1) padding on the left (output t sees inputs <= t).
Padding = (
    NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt] | Literal["valid", "same", "causal"]
)


@register
class Conv1dLayer(LayerSpec):
    type: Literal["conv1d"]
    engine: ClassVar[type[nn.Layer]] = nn.Conv1d
    channels: PositiveInt
    kernel: PositiveInt
    stride: PositiveInt = 1
    padding: Padding = 0
    padding_mode: Literal["zeros", "replicate", "reflect", "circular"] = "zeros"
    dilation: PositiveInt = 1
    bias: bool = True

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        padding = tuple(self.padding) if isinstance(self.padding, tuple) else self.padding
        return nn.Conv1d(
            require_sequence_input("conv1d", input_shape),
            self.channels,
            self.kernel,
            stride=self.stride,
            padding=padding,
            padding_mode=self.padding_mode,
            dilation=self.dilation,
            bias=self.bias,
            initializer=ctx.initializer,
            dtype=ctx.dtype,
            rng=ctx.rng,
        )


@register
class DenseLayer(LayerSpec):
    type: Literal["dense", "linear"]
    engine: ClassVar[type[nn.Layer]] = nn.Dense
    # null only on the network's last layer: it becomes the number of classes of the data.
    units: PositiveInt | None = None
    bias: bool = True

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        if self.units is None:  # the config check allows this only where the builder fills it
            raise ValueError("units is missing; only the network's last layer may leave it out")
        return nn.Dense(
            require_flat_input(self.type, input_shape),
            self.units,
            bias=self.bias,
            initializer=ctx.initializer,
            dtype=ctx.dtype,
            rng=ctx.rng,
        )


class _Activation(LayerSpec):
    """A kind without settings that blocks may also name as their ``activation``."""

    is_activation: ClassVar[bool] = True

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        return self.engine()


@register
class ReLULayer(_Activation):
    type: Literal["relu"]
    engine: ClassVar[type[nn.Layer]] = nn.ReLU


@register
class LeakyReLULayer(_Activation):
    type: Literal["leakyrelu"]
    engine: ClassVar[type[nn.Layer]] = nn.LeakyReLU
    negative_slope: NonNegativeFloat = 0.01

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        return nn.LeakyReLU(self.negative_slope)


@register
class TanhLayer(_Activation):
    type: Literal["tanh"]
    engine: ClassVar[type[nn.Layer]] = nn.Tanh


@register
class SigmoidLayer(_Activation):
    type: Literal["sigmoid"]
    engine: ClassVar[type[nn.Layer]] = nn.Sigmoid


@register
class GELULayer(_Activation):
    type: Literal["gelu"]
    engine: ClassVar[type[nn.Layer]] = nn.GELU
    approximate: Literal["none", "tanh"] = "none"

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        return nn.GELU(approximate=self.approximate)


class _Pool(LayerSpec):
    type: str  # each kind narrows it to its Literal (declared first: messages list keys in order)
    kernel: PositiveInt = 2
    stride: PositiveInt | None = None  # None: same as kernel
    padding: NonNegativeInt = 0

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        require_sequence_input(self.type, input_shape)
        return self.engine(self.kernel, stride=self.stride, padding=self.padding)


@register
class MaxPool1dLayer(_Pool):
    type: Literal["maxpool1d"]
    engine: ClassVar[type[nn.Layer]] = nn.MaxPool1d


@register
class AvgPool1dLayer(_Pool):
    type: Literal["avgpool1d"]
    engine: ClassVar[type[nn.Layer]] = nn.AvgPool1d


@register
class GlobalAvgPool1dLayer(LayerSpec):
    type: Literal["globalavgpool1d"]
    engine: ClassVar[type[nn.Layer]] = nn.GlobalAvgPool1d

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        require_sequence_input(self.type, input_shape)
        return nn.GlobalAvgPool1d()


@register
class FlattenLayer(LayerSpec):
    type: Literal["flatten"]
    engine: ClassVar[type[nn.Layer]] = nn.Flatten

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        require_sequence_input(self.type, input_shape)
        return nn.Flatten()


@register
class DropoutLayer(LayerSpec):
    type: Literal["dropout"]
    engine: ClassVar[type[nn.Layer]] = nn.Dropout
    rate: UnitInterval = 0.5

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        return nn.Dropout(self.rate, rng=ctx.rng)


@register
class BatchNorm1dLayer(LayerSpec):
    type: Literal["batchnorm1d"]
    engine: ClassVar[type[nn.Layer]] = nn.BatchNorm1d
    momentum: Annotated[float, Field(gt=0, le=1)] = 0.1
    eps: PositiveFloat = 1e-5

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        return nn.BatchNorm1d(input_shape[0], momentum=self.momentum, eps=self.eps, dtype=ctx.dtype)
