"""Layer kinds: one declaration each (schema + build), and the tagged union the config uses.

To add a layer kind: write its engine class in ``conv1d_cli/nn/``, then one ``@register``ed
``LayerSpec`` subclass in ``config/layers/plain.py`` (its keys as pydantic fields,
``type: Literal``, ``build(input_shape, ctx)``). The schema, the builder, the shape checks,
``--set`` and the error messages (did-you-mean, allowed keys) all read the ``LAYER_SPECS`` table.
"""

from __future__ import annotations

from conv1d_cli.config.layers import (
    blocks,
    plain,  # noqa: F401 (registers the plain kinds, then the blocks)
)
from conv1d_cli.config.layers.base import (
    LAYER_SPECS,
    BuildContext,
    LayerSpec,
    PositiveFloat,
    StrictModel,
    UnitInterval,
    build_sequence,
    fmt_shape,
    iter_specs,
    register,
    union_of,
)
from conv1d_cli.config.layers.blocks import ParallelLayer, ResidualLayer
from conv1d_cli.config.layers.plain import (
    AvgPool1dLayer,
    BatchNorm1dLayer,
    Conv1dLayer,
    DenseLayer,
    DropoutLayer,
    FlattenLayer,
    GELULayer,
    GlobalAvgPool1dLayer,
    LeakyReLULayer,
    MaxPool1dLayer,
    Padding,
    ReLULayer,
    SigmoidLayer,
    TanhLayer,
)

# One item of a ``layers:`` list: any registered kind, selected by its ``type``.
LayerConfig = union_of(LAYER_SPECS.values())
for _block in (blocks.ResidualLayer, blocks.ParallelLayer):
    _block.model_rebuild(_types_namespace={"LayerConfig": LayerConfig})

__all__ = [
    "LAYER_SPECS",
    "AvgPool1dLayer",
    "BatchNorm1dLayer",
    "BuildContext",
    "Conv1dLayer",
    "DenseLayer",
    "DropoutLayer",
    "FlattenLayer",
    "GELULayer",
    "GlobalAvgPool1dLayer",
    "LayerConfig",
    "LayerSpec",
    "LeakyReLULayer",
    "MaxPool1dLayer",
    "Padding",
    "ParallelLayer",
    "PositiveFloat",
    "ReLULayer",
    "ResidualLayer",
    "SigmoidLayer",
    "StrictModel",
    "TanhLayer",
    "UnitInterval",
    "build_sequence",
    "fmt_shape",
    "iter_specs",
    "register",
    "union_of",
]
