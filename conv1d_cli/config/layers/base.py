"""What every layer kind declares: its config schema (a pydantic model) and how it builds.

A kind is one ``LayerSpec`` subclass registered with ``@register``: its fields are the YAML keys,
its ``type`` Literal the tag(s) in ``type:``, its ``engine`` the ``nn.Layer`` class it builds, its
``build`` that layer for a per-sample input shape. The schema (``LayerConfig``), the builder,
``conv1d summary`` and the error wording all read the same table, ``LAYER_SPECS``; the tables
keyed by engine class outside config/ (fast path, ONNX emitters, PyTorch mirror) are checked
against it by tests/test_layer_kinds.py.
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
    """One layer kind's config keys; subclasses set ``type: Literal[...]``, ``engine`` and
    ``build``.

    ``engine`` is the ``nn.Layer`` class ``build`` returns (exactly that class: the fast path,
    the ONNX emitters and the PyTorch mirror look layers up by ``type(layer)``); ``@register``
    refuses a kind without one. ``is_activation = True`` marks kinds without settings that a
    block may name as its ``activation``.
    """

    engine: ClassVar[type[nn.Layer]]
    is_activation: ClassVar[bool] = False

    def build(self, input_shape: Shape, ctx: BuildContext) -> nn.Layer:
        """The engine layer for per-sample ``input_shape``; ValueError says what does not fit."""
        raise NotImplementedError

    def children(self) -> list[tuple[str, Sequence[LayerSpec]]]:
        """Nested layer lists with their key path suffix ('.layers', '.branches[1]')."""
        return []


LAYER_SPECS: dict[str, type[LayerSpec]] = {}


def register(spec: type[LayerSpec]) -> type[LayerSpec]:
    """Class decorator: every tag of ``spec``'s ``type`` Literal selects it; ``spec.engine``
    must be an ``nn.Layer`` class."""
    engine = getattr(spec, "engine", None)
    if not (isinstance(engine, type) and issubclass(engine, nn.Layer)):
        raise TypeError(
            f"layer kind {spec.__name__} names no engine class: set "
            "engine: ClassVar[type[nn.Layer]] = <the nn class its build returns>"
        )
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
            if type(layer) is not spec.engine:  # a bug in the spec, not in the config
                raise TypeError(
                    f"{type(spec).__name__}.build returned {type(layer).__name__}, "
                    f"not its engine {spec.engine.__name__}"
                )
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
