"""A shape-only pass over the config: the engine's ``LayerInfo`` rows without allocating weights.

Kinds without weights (activations, pooling, flatten, dropout) and BatchNorm (2 x channels) are
built for real from their spec (``conv1d_cli/specs``), which costs nothing. A convolution or
dense layer is built at width 1 (its output length then comes from the engine's own arithmetic
for padding, stride and dilation), and its full width and parameter count are put back from the
spec: a conv of 100,000 channels costs the memory of a conv of one. A block (residual, parallel)
is first sized from its children's rows, by the same pass; only when its weights fit is it built
for real, and its rows are then the engine's own (``Sequential.summary``). A block too big to
build ends the pass: its children's rows already exceed the memory, which is what is reported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from conv1d_cli.nn.model import LayerInfo, layer_rows

Shape = tuple[int, ...]


class _TooBigToBuild(Exception):
    def __init__(self, rows: list[LayerInfo]) -> None:
        self.rows = rows


def config_rows(
    model_cfg: Any,
    input_shape: Shape,
    dtype: str = "float32",
    n_classes: int | None = None,
    budget_bytes: float = math.inf,
) -> list[LayerInfo] | None:
    """LayerInfo rows like ``model.summary`` gives (blocks followed by their children), or None
    when a layer does not fit its input (the builder then names the problem in its words).

    ``budget_bytes``: a block whose children's weights and gradients pass it is not built; the
    rows end with those children (enough to refuse). A last dense without units gets
    ``n_classes``, as in ``build_model``.
    """
    return shape_rows(model_cfg, input_shape, dtype, n_classes, budget_bytes)[0]


def shape_rows(
    model_cfg: Any,
    input_shape: Shape,
    dtype: str = "float32",
    n_classes: int | None = None,
    budget_bytes: float = math.inf,
) -> tuple[list[LayerInfo] | None, bool]:
    """``config_rows`` and whether they are the whole network (False: the pass stopped at a
    block too big to build, the rows are that block's and its children's)."""
    from conv1d_cli import nn
    from conv1d_cli.build.objects import resolve_units
    from conv1d_cli.config.layers import BuildContext

    ctx = BuildContext(
        rng=np.random.default_rng(0),
        dtype=np.dtype(dtype),
        initializer=nn.get_initializer("zeros"),  # the width-1 proxies need no random draws
    )
    specs = list(resolve_units(model_cfg, n_classes or 1).layers)
    pass_ = _ShapePass(ctx, np.dtype(dtype).itemsize, budget_bytes)
    try:
        rows, _ = pass_.sequence(specs, tuple(int(d) for d in input_shape), "", 0)
    except _TooBigToBuild as stop:
        return stop.rows, False
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, False
    return rows, True


class _ShapePass:
    def __init__(self, ctx: Any, itemsize: int, budget_bytes: float) -> None:
        self.ctx, self.itemsize, self.budget = ctx, itemsize, budget_bytes
        self.rows_so_far: list[LayerInfo] = []

    def sequence(
        self, specs: list[Any], shape: Shape, prefix: str, depth: int
    ) -> tuple[list[LayerInfo], Shape]:
        rows: list[LayerInfo] = []
        for index, spec in enumerate(specs):
            new, shape = self.layer(index, spec, shape, f"{prefix}{index}", depth)
            rows += new
        return rows, shape

    def layer(
        self, index: int, spec: Any, shape: Shape, path: str, depth: int
    ) -> tuple[list[LayerInfo], Shape]:
        kind = spec.type
        if kind == "conv1d":
            if len(shape) != 2:
                raise ValueError("conv1d needs (channels, length)")
            in_channels, length = shape
            proxy = spec.model_copy(update={"channels": 1}).build((1, length), self.ctx)
            out_length = proxy.output_shape((1, length))[1]
            out = (spec.channels, out_length)
            weights = spec.channels * in_channels * spec.kernel
            n_params = weights + (spec.channels if spec.bias else 0)
            macs = out_length * weights
            text = f"conv1d, {spec.channels:,} channels, kernel {spec.kernel}"
            return [LayerInfo(index, "Conv1d", out, n_params, macs, text, path, depth)], out
        if kind in ("dense", "linear"):
            if len(shape) != 1:
                raise ValueError("dense needs (features,)")
            macs = shape[0] * spec.units
            n_params = macs + (spec.units if spec.bias else 0)
            text = f"{kind}, {spec.units:,} units"
            row = LayerInfo(index, "Dense", (spec.units,), n_params, macs, text, path, depth)
            return [row], (spec.units,)
        if spec.children():
            self._check_block_fits(spec, shape, path, depth)
        layer = spec.build(shape, self.ctx)
        rows = layer_rows(layer, shape, index, path, depth)  # the engine's own rows
        return rows, tuple(int(d) for d in layer.output_shape(shape))

    def _check_block_fits(self, spec: Any, shape: Shape, path: str, depth: int) -> None:
        children: list[LayerInfo] = []
        for suffix, specs in spec.children():
            name = suffix.lstrip(".").replace("[", ".").replace("]", "")
            rows, _ = self.sequence(list(specs), shape, f"{path}.{name}.", depth + 1)
            children += rows
        n_params = sum(row.n_params for row in children if row.depth == depth + 1)
        if 2 * n_params * self.itemsize > self.budget:  # weights + gradients at build time
            block = LayerInfo(0, spec.type, shape, n_params, 0, spec.type, path, depth)
            raise _TooBigToBuild([block, *children])
