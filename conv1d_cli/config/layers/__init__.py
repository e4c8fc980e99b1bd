"""Layer kinds: one declaration each (schema + build), and the tagged union the config uses.

- ``base``: ``LayerSpec``, ``@register`` and ``LAYER_SPECS``, building a layer list.
- ``plain``: the kinds without inner layers; ``blocks``: ``residual`` and ``parallel``.

The schema, the builder, the shape checks, ``--set`` and the error messages (did-you-mean,
allowed keys) all read ``LAYER_SPECS``. To add a layer kind, write:

1. its engine class in ``conv1d_cli/nn/`` (an ``nn.Layer``: forward, backward, output_shape);
2. one ``@register``ed ``LayerSpec`` subclass in ``plain.py`` (or ``blocks.py``): its keys as
   pydantic fields, ``type: Literal[...]``, ``engine: ClassVar[type[nn.Layer]]`` (the class
   ``build`` returns; ``@register`` refuses a kind without it) and ``build(input_shape, ctx)``;
3. its inference fast-path rule in ``RULES`` (``conv1d_cli/inference/fastpath.py``), or the
   explicit statement ``RULES[nn.YourLayer] = plain_forward`` (its own eval forward);
4. its ONNX emitter in ``EMITTERS`` (``conv1d_cli/inference/export/onnx_export.py``);
5. its PyTorch mirror in ``MIRRORS`` (``benchmarks/torch_mirror.py``, for the benchmarks);
6. a case naming it in ``LAYER_CASES`` (tests/test_onnx_export.py; tests/test_fastpath.py runs
   them too), so its emitter and rule are compared with the engine.

tests/test_layer_kinds.py fails for a kind that misses any of 3-6.
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
