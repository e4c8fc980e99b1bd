"""A shape-only pass over the config: the engine's ``LayerInfo`` rows without allocating weights.

Layers without weights (activations, pooling, flatten, dropout) and BatchNorm (2 x channels) are
built for real through the builder's table, which costs nothing. A convolution or dense layer is
built at width 1 (its output length then comes from the engine's own arithmetic for padding,
stride and dilation), and its full width and parameter count are put back from the config: a
conv of 100,000 channels costs the memory of a conv of one. Kinds this pass does not know (the
blocks to come) are built for real and read through their own ``output_shape`` and ``params``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conv1d_cli.nn.model import LayerInfo


def config_rows(
    model_cfg: Any, input_shape: tuple[int, ...], dtype: str = "float32"
) -> list[LayerInfo] | None:
    """One LayerInfo per configured layer, or None when a layer does not fit its input."""
    from conv1d_cli import build, nn

    ctx = build.BuildContext(
        rng=np.random.default_rng(0),
        dtype=np.dtype(dtype),
        initializer=nn.get_initializer("zeros"),  # the width-1 proxies need no random draws
    )
    shape = tuple(int(d) for d in input_shape)
    rows = []
    try:
        for index, spec in enumerate(model_cfg.layers):
            row = _row(index, spec, shape, ctx, build.LAYER_FACTORIES)
            if row is None:
                return None
            rows.append(row)
            shape = row.output_shape
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # the builder names the problem in its own words
    return rows


def _row(
    index: int, spec: Any, shape: tuple[int, ...], ctx: Any, factories: dict
) -> LayerInfo | None:
    kind = spec.type
    if kind == "conv1d":
        if len(shape) != 2:
            return None
        in_channels, length = shape
        proxy = factories[kind](spec.model_copy(update={"channels": 1}), (1, length), ctx)
        out_length = proxy.output_shape((1, length))[1]
        out_shape = (spec.channels, out_length)
        n_params = spec.channels * in_channels * spec.kernel + (spec.channels if spec.bias else 0)
        macs = out_length * spec.channels * in_channels * spec.kernel
        text = f"conv1d, {spec.channels:,} channels, kernel {spec.kernel}"
        return LayerInfo(index, "Conv1d", out_shape, n_params, macs, text)
    if kind in ("dense", "linear"):
        if len(shape) != 1:
            return None
        n_params = shape[0] * spec.units + (spec.units if spec.bias else 0)
        text = f"{kind}, {spec.units:,} units"
        return LayerInfo(index, "Dense", (spec.units,), n_params, shape[0] * spec.units, text)
    layer = factories[kind](spec, shape, ctx)
    out_shape = tuple(int(d) for d in layer.output_shape(shape))
    n_params = sum(int(p.size) for p in layer.params.values())
    return LayerInfo(index, type(layer).__name__, out_shape, n_params, 0, kind)
