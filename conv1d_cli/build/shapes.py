"""A shape-only pass over the config: the engine's ``LayerInfo`` rows and every parameter's shape
(by its state-dict name, ``0.W``) without allocating weights.

Kinds without weights (activations, pooling, flatten, dropout) are built for real from their
spec (``conv1d_cli/config/layers``), which costs nothing. Convolution, dense and batchnorm layers
are sized from their spec (``SIZED``): a conv's output length comes from the engine's own
padding and length arithmetic, so a conv of 10^9 channels or taps costs nothing. A block
(residual, parallel) is first sized from its children's rows, by the same pass; only when its
weights fit is it built for real, and its rows and tensors are then the engine's own. A block too
big to build ends the pass: its children's rows already exceed the memory, which is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from conv1d_cli.nn.model import LayerInfo, layer_rows

Shape = tuple[int, ...]


class _TooBigToBuild(Exception):
    def __init__(self, rows: list[LayerInfo]) -> None:
        self.rows = rows


@dataclass
class NetworkShapes:
    """What the shape-only pass knows of a network, nothing allocated.

    ``rows``: LayerInfo rows like ``model.summary`` (blocks followed by their children).
    ``tensors``: every parameter and buffer the network holds, by its state-dict name
    (``0.W``, ``3.layers.1.gamma``) -> shape, in network order. ``complete``: False when the pass
    stopped at a block too big to build (rows and tensors then end with that block's children;
    its shortcut's tensors and the later layers' are unknown). ``error``: set (and the rest
    partial) when a layer does not fit its input: "model.layers[2]: <why>".
    """

    rows: list[LayerInfo] = field(default_factory=list)
    tensors: dict[str, Shape] = field(default_factory=dict)
    complete: bool = True
    error: str | None = None
    workspace: int = 0  # values per sample of the largest padded input a conv makes


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
    found = network_shapes(model_cfg, input_shape, dtype, n_classes, budget_bytes)
    return (None, False) if found.error is not None else (found.rows, found.complete)


def network_shapes(
    model_cfg: Any,
    input_shape: Shape,
    dtype: str = "float32",
    n_classes: int | None = None,
    budget_bytes: float = math.inf,
) -> NetworkShapes:
    """The shape-only pass: rows and every parameter's shape; see ``NetworkShapes``."""
    from conv1d_cli import nn
    from conv1d_cli.build.objects import resolve_units
    from conv1d_cli.config.layers import BuildContext

    ctx = BuildContext(
        rng=np.random.default_rng(0),
        dtype=np.dtype(dtype),
        initializer=nn.get_initializer("zeros"),  # the real builds here draw nothing random
    )
    specs = list(resolve_units(model_cfg, n_classes or 1).layers)
    pass_ = _ShapePass(ctx, np.dtype(dtype).itemsize, budget_bytes)
    try:
        rows, _ = pass_.sequence(specs, tuple(int(d) for d in input_shape), "", 0)
    except _TooBigToBuild as stop:
        # The stopped block (maybe inside others) counts as one of the network's own layers,
        # after those sized before it: its parameters are then counted once, as a layer's.
        shift = stop.rows[0].depth
        rows = [*pass_.done, *(replace(row, depth=row.depth - shift) for row in stop.rows)]
        return NetworkShapes(rows, pass_.tensors, False, None, pass_.workspace)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        where = _config_key(pass_.path)
        return NetworkShapes(pass_.done, pass_.tensors, False, f"{where}: {exc}")
    return NetworkShapes(rows, pass_.tensors, workspace=pass_.workspace)


def _config_key(path: str) -> str:
    """ "3.layers.1" -> "model.layers[3].layers[1]"."""
    parts = path.split(".") if path else []
    return "model.layers" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts)


class _ShapePass:
    def __init__(self, ctx: Any, itemsize: int, budget_bytes: float) -> None:
        self.ctx, self.itemsize, self.budget = ctx, itemsize, budget_bytes
        self.done: list[LayerInfo] = []  # the rows of the network's layers sized so far
        self.tensors: dict[str, Shape] = {}
        self.path = ""  # the layer being sized, for the message when it does not fit
        self.workspace = 0

    def sequence(
        self, specs: list[Any], shape: Shape, prefix: str, depth: int
    ) -> tuple[list[LayerInfo], Shape]:
        rows: list[LayerInfo] = []
        for index, spec in enumerate(specs):
            new, shape = self.layer(index, spec, shape, f"{prefix}{index}", depth)
            rows += new
            if depth == 0:
                self.done += new
        return rows, shape

    def layer(
        self, index: int, spec: Any, shape: Shape, path: str, depth: int
    ) -> tuple[list[LayerInfo], Shape]:
        self.path = path
        sized = SIZED.get(spec.type)
        if sized is not None:  # weights sized from the spec, never allocated
            row, tensors, workspace = sized(spec, shape, index, path, depth)
            self.workspace = max(self.workspace, workspace)
            self.tensors.update({f"{path}.{name}": dims for name, dims in tensors.items()})
            return [row], row.output_shape
        if spec.children():
            self._check_block_fits(spec, shape, path, depth)
            self.path = path
        layer = spec.build(shape, self.ctx)
        rows = layer_rows(layer, shape, index, path, depth)  # the engine's own rows
        state = {**layer.params, **layer.buffers}
        self.tensors.update({f"{path}.{name}": a.shape for name, a in state.items()})
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


Sized = tuple[LayerInfo, dict[str, Shape], int]  # row, tensors, padded input values


def _conv1d(spec: Any, shape: Shape, index: int, path: str, depth: int) -> Sized:
    """A conv's row and weights from the engine's own padding and length arithmetic (as
    ``nn.Conv1d.output_shape``): a huge kernel or channel count allocates nothing. Its padded
    input is a workspace of its own: 'same' padding of a huge dilation keeps the output short."""
    from conv1d_cli.nn import functional as fn

    if len(shape) != 2:
        raise ValueError(f"conv1d needs (channels, length) input, got {shape}")
    in_channels, length = shape
    padding = tuple(spec.padding) if isinstance(spec.padding, list | tuple) else spec.padding
    k, s, d = spec.kernel, spec.stride, spec.dilation
    left, right = fn.resolve_padding(padding, length, k, s, d)
    fn.check_padding(length, left, right, spec.padding_mode)
    out_length = fn.conv_output_length(length, k, s, (left, right), d)
    out = (spec.channels, out_length)
    tensors: dict[str, Shape] = {"W": (spec.channels, in_channels, k)}
    if spec.bias:
        tensors["b"] = (spec.channels,)
    weights = spec.channels * in_channels * k
    n_params = weights + (spec.channels if spec.bias else 0)
    text = f"conv1d, {spec.channels:,} channels, kernel {k}"
    row = LayerInfo(index, "Conv1d", out, n_params, out_length * weights, text, path, depth)
    return row, tensors, in_channels * (length + left + right) if left or right else 0


def _dense(spec: Any, shape: Shape, index: int, path: str, depth: int) -> Sized:
    if len(shape) != 1:
        raise ValueError(f"{spec.type} needs (features,) input, got {shape}; flatten first")
    if spec.units is None:
        raise ValueError("units is missing; only the network's last layer may leave it out")
    tensors: dict[str, Shape] = {"W": (shape[0], spec.units)}
    if spec.bias:
        tensors["b"] = (spec.units,)
    macs = shape[0] * spec.units
    n_params = macs + (spec.units if spec.bias else 0)
    text = f"{spec.type}, {spec.units:,} units"
    return LayerInfo(index, "Dense", (spec.units,), n_params, macs, text, path, depth), tensors, 0


def _batchnorm1d(spec: Any, shape: Shape, index: int, path: str, depth: int) -> Sized:
    """BatchNorm1d's row as the engine gives it (``BatchNorm1d(C)``, 2C parameters, two (C,)
    running statistics), without its four (C,) arrays: C may be a crafted 10^9."""
    if len(shape) not in (1, 2):
        raise ValueError(f"batchnorm1d expects (channels,) or (channels, length), got {shape}")
    c = shape[0]
    names = ("gamma", "beta", "running_mean", "running_var")
    row = LayerInfo(index, "BatchNorm1d", shape, 2 * c, 0, f"BatchNorm1d({c})", path, depth)
    return row, dict.fromkeys(names, (c,)), 0


# The kinds whose weights scale with their settings: sized here, never built by this pass.
SIZED = {"conv1d": _conv1d, "dense": _dense, "linear": _dense, "batchnorm1d": _batchnorm1d}
