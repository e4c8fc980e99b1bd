"""Block kinds: layers that hold layer lists (``residual``, ``parallel``); they nest.

Their ``layers``/``branches`` items are any registered kind (``LayerConfig``, bound in
``layers/__init__.py`` once every kind is registered), blocks included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from conv1d_cli import nn
from conv1d_cli.config.layers import plain  # noqa: F401 (the plain kinds register first)
from conv1d_cli.config.layers.base import (
    LAYER_SPECS,
    BuildContext,
    LayerSpec,
    Shape,
    activation_kinds,
    build_sequence,
    fmt_shape,
    register,
)

if TYPE_CHECKING:
    LayerConfig = LayerSpec

# The kinds without required settings a block may apply after its output (relu, gelu, ...).
Activation = Literal[activation_kinds()]  # type: ignore[valid-type]


@register
class ResidualLayer(LayerSpec):
    """act(layers(x) + shortcut(x)): identity shortcut where shapes match, else projection."""

    type: Literal["residual"]
    engine: ClassVar[type[nn.Layer]] = nn.Residual
    layers: list[LayerConfig] = Field(min_length=1)
    # auto: identity when the layers keep the shape, else a 1x1 conv with the block's stride.
    shortcut: Literal["auto", "identity", "projection"] = "auto"
    # batchnorm on the shortcut: after the projection's conv (which then has no bias), or alone
    # on an identity shortcut.
    shortcut_batchnorm: bool = False
    activation: Activation | None = None  # applied to the sum

    def children(self) -> list[tuple[str, Sequence[LayerSpec]]]:
        return [(".layers", self.layers)]

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        body, out = build_sequence(self.layers, input_shape, ctx.at(f"{ctx.path}.layers"))
        shape = tuple(int(d) for d in input_shape)
        shortcut = None
        if self.shortcut == "projection" or (self.shortcut == "auto" and out != shape):
            shortcut = self._projection(body, shape, out, ctx)
        elif out != shape:
            raise ValueError(
                f"shortcut: identity needs the layers to keep the input shape, they give "
                f"{fmt_shape(out)}; use shortcut: auto or projection"
            )
        elif self.shortcut_batchnorm:  # the identity, normalized (dl-4-tsc's ResNet, block 3)
            shortcut = nn.Sequential([nn.BatchNorm1d(shape[0], dtype=ctx.dtype)])
        act = None
        if self.activation is not None:
            act = LAYER_SPECS[self.activation](type=self.activation).build(out, ctx)
        return nn.Residual(body, shortcut, act)

    def _projection(
        self, body: nn.Sequential, shape: Shape, out: Shape, ctx: BuildContext
    ) -> nn.Sequential:
        """1x1 conv (stride: the product of the layers' strides), optionally batchnorm."""
        if len(shape) != 2 or len(out) != 2:
            raise ValueError(
                f"the layers change the shape {fmt_shape(shape)} -> {fmt_shape(out)}, and a "
                "projection shortcut (a 1x1 conv) needs (channels, length) on both sides; "
                "keep the shape inside the block"
            )
        stride = nn.blocks.total_stride(body)
        conv = nn.Conv1d(
            shape[0], out[0], 1, stride=stride, bias=not self.shortcut_batchnorm,
            initializer=ctx.initializer, dtype=ctx.dtype, rng=ctx.rng,
        )  # fmt: skip
        layers: list[nn.Layer] = [conv]
        if self.shortcut_batchnorm:
            layers.append(nn.BatchNorm1d(out[0], dtype=ctx.dtype))
        projection = nn.Sequential(layers)
        got = projection.output_shape(shape)
        if got != out:
            raise ValueError(
                f"the layers give {fmt_shape(out)} but the projection shortcut (1x1 conv, "
                f"stride {stride}) gives {fmt_shape(got)}; pad the convolutions and pools "
                "(padding: same) so that lengths only shrink by the strides"
            )
        return projection


@register
class ParallelLayer(LayerSpec):
    """Branches on the same input, concatenated along channels (an empty branch: the input)."""

    type: Literal["parallel"]
    engine: ClassVar[type[nn.Layer]] = nn.Parallel
    branches: list[list[LayerConfig]] = Field(min_length=1)

    def children(self) -> list[tuple[str, Sequence[LayerSpec]]]:
        return [(f".branches[{i}]", branch) for i, branch in enumerate(self.branches)]

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        built = [
            build_sequence(branch, input_shape, ctx.at(f"{ctx.path}.branches[{i}]"))
            for i, branch in enumerate(self.branches)
        ]
        shapes = [shape for _, shape in built]
        if len({(len(s), s[1:]) for s in shapes}) != 1:
            listed = ", ".join(fmt_shape(s) for s in shapes)
            raise ValueError(
                f"the branches give {listed}; they must differ only in channels to be "
                "concatenated (pad the convolutions and pools: padding: same)"
            )
        return nn.Parallel([branch for branch, _ in built])
