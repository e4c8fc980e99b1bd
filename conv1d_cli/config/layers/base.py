"""What every layer kind declares: its config schema (a pydantic model) and how it builds.

A kind is one ``LayerSpec`` subclass registered with ``@register``: its fields are the YAML keys,
its ``type`` Literal the tag(s) in ``type:``, its ``build`` the engine layer for a per-sample
input shape. The schema (``LayerConfig``), the builder, ``conv1d summary`` and the error wording
all read the same table, ``LAYER_SPECS``; adding a layer is one class here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from conv1d_cli import nn
from conv1d_cli.errors import ConfigError

PositiveFloat = Annotated[float, Field(gt=0)]
UnitInterval = Annotated[float, Field(ge=0, lt=1)]
Shape = tuple[int, ...]


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors and a loaded config never changes."""

    # inf and nan are never meaningful settings (and would not survive a JSON checkpoint).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class BuildContext:
    """What every layer needs besides its own settings; ``path`` names it in messages."""

    rng: np.random.Generator
    dtype: np.dtype
    initializer: Callable[..., np.ndarray]
    path: str = "model.layers"

    def at(self, path: str) -> BuildContext:
        return dataclasses.replace(self, path=path)


class LayerSpec(StrictModel):
    """One layer kind's config keys; subclasses set ``type: Literal[...]`` and ``build``.

    ``is_activation = True`` marks kinds without settings that a block may name as its
    ``activation``.
    """

    is_activation: ClassVar[bool] = False

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        """The engine layer for per-sample ``input_shape``; ValueError says what does not fit."""
        raise NotImplementedError

    def children(self) -> list[tuple[str, Sequence[LayerSpec]]]:
        """Nested layer lists with their key path suffix ('.layers', '.branches[1]')."""
        return []


LAYER_SPECS: dict[str, type[LayerSpec]] = {}


def register(spec: type[LayerSpec]) -> type[LayerSpec]:
    """Class decorator: every tag of ``spec``'s ``type`` Literal selects it."""
    for tag in get_args(spec.model_fields["type"].annotation):
        if tag in LAYER_SPECS:
            raise ValueError(f"layer type {tag!r} is declared twice")
        LAYER_SPECS[tag] = spec
    return spec


def activation_kinds() -> tuple[str, ...]:
    return tuple(tag for tag, spec in LAYER_SPECS.items() if spec.is_activation)


def fmt_shape(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def build_sequence(
    specs: Sequence[LayerSpec], input_shape: Shape, ctx: BuildContext
) -> tuple[nn.Sequential, Shape]:
    """Build ``specs`` in order from ``input_shape``; (network, per-sample output shape).

    Raises ConfigError naming the layer's key path (``model.layers[3].layers[1] (conv1d) on
    input (16, 40): ...``) when a layer does not fit its input or its output would be empty.
    """
    shape = tuple(int(d) for d in input_shape)
    layers: list[nn.Layer] = []
    for index, spec in enumerate(specs):
        where = f"{ctx.path}[{index}]"
        try:
            layer = spec.build(shape, ctx.at(where))
            out_shape = tuple(int(d) for d in layer.output_shape(shape))
        except ValueError as exc:
            raise ConfigError(f"{where} ({spec.type}) on input {fmt_shape(shape)}: {exc}") from None
        layers.append(layer)
        shape = out_shape
    return nn.Sequential(layers), shape


def require_sequence_input(kind: str, shape: Shape) -> int:
    """The channel count of a (channels, length) input, else ValueError."""
    if len(shape) != 2:
        raise ValueError(
            f"{kind} expects (channels, length) input, got {shape}; "
            "a layer that flattens cannot be followed by a convolution or pooling"
        )
    return shape[0]


def require_flat_input(kind: str, shape: Shape) -> int:
    """The width of a (features,) input, else ValueError."""
    if len(shape) != 1:
        raise ValueError(
            f"{kind} expects (features,) input, got {shape}; add a flatten "
            "(or globalavgpool1d) layer before it"
        )
    return shape[0]


def iter_specs(specs: Sequence[LayerSpec], path: str) -> list[tuple[str, LayerSpec]]:
    """Every spec with its key path, depth first (blocks before their insides)."""
    found = []
    for index, spec in enumerate(specs):
        where = f"{path}[{index}]"
        found.append((where, spec))
        for suffix, inner in spec.children():
            found += iter_specs(inner, where + suffix)
    return found


def union_of(specs: Any) -> Any:
    """The tagged union of the registered kinds, in registration order (messages list them)."""
    from typing import Union

    return Annotated[Union[tuple(dict.fromkeys(specs))], Field(discriminator="type")]  # noqa: UP007
