"""What the config schema allows at a key path: a ``Slot`` is one place in a pydantic model tree.

Error messages, did-you-mean suggestions and ``--set`` all need to know what the schema allows
at a key path; a slot is one such place: a type with its constraints (and default, for fields).
Any root model works (``Config`` for configs, ``SweepSpec`` for sweep files).
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from conv1d_cli.config.yamlio import KeyPath


@dataclass(frozen=True)
class Slot:
    """One place in the schema: a type, its constraints, its default, its union's tag key."""

    tp: Any
    meta: tuple[Any, ...] = ()
    default: Any = PydanticUndefined
    tag_key: str | None = None  # set for a tagged union (layers, optimizer, schedule)


def slot_of(tp: Any, meta: Sequence[Any] = (), default: Any = PydanticUndefined) -> Slot:
    """The slot of a type annotation, ``Annotated`` layers unwrapped into constraints."""
    tag_key = None
    constraints = list(meta)
    while get_origin(tp) is Annotated:
        tp, *extra = get_args(tp)
        for item in extra:
            if isinstance(item, FieldInfo):
                constraints += item.metadata
                tag_key = tag_key or item.discriminator
            else:
                constraints.append(item)
    return Slot(tp, tuple(constraints), default, tag_key)


def _field_slot(field: FieldInfo, with_default: bool = False) -> Slot:
    default = field.get_default(call_default_factory=True) if with_default else PydanticUndefined
    slot = slot_of(field.annotation, field.metadata, default)
    if isinstance(field.discriminator, str):
        return Slot(slot.tp, slot.meta, slot.default, field.discriminator)
    return slot


def is_union(tp: Any) -> bool:
    """Whether a type is ``A | B`` (or ``Union[A, B]``)."""
    return get_origin(tp) in (Union, types.UnionType)


def is_model(tp: Any) -> bool:
    """Whether a type is a pydantic model class."""
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def members(slot: Slot) -> list[Slot]:
    """An untagged union's members as slots; any other slot alone."""
    if slot.tag_key or not is_union(slot.tp):
        return [slot]
    return [slot_of(arg) for arg in get_args(slot.tp)]


def union_tags(slot: Slot) -> dict[str, type[BaseModel]]:
    """A tagged union's tags and their models: {'conv1d': Conv1dLayer, ...}."""
    tags: dict[str, type[BaseModel]] = {}
    for model in get_args(slot.tp):
        for tag in get_args(model.model_fields[slot.tag_key].annotation):
            tags[tag] = model
    return tags


def member_tag(slot: Slot, mapping: Any) -> str | None:
    """The tag a mapping gives a tagged union, else the field's default tag; None if unknown."""
    tag = mapping.get(slot.tag_key) if isinstance(mapping, dict) else None
    if tag is None and slot.default is not PydanticUndefined:
        tag = getattr(slot.default, slot.tag_key, None)
    return tag if isinstance(tag, str) and tag in union_tags(slot) else None


def member_model(slot: Slot, mapping: Any) -> type[BaseModel] | None:
    """The tagged union's model a mapping selects (``member_tag``'s model); None if unknown."""
    tag = member_tag(slot, mapping)
    return None if tag is None else union_tags(slot)[tag]


def child_slot(slot: Slot, key: str | int) -> Slot | None:
    """The slot one key below, or None when the schema has no such key."""
    tp = slot.tp
    if slot.tag_key:  # member unknown: a key of any member will do
        models = dict.fromkeys(union_tags(slot).values())
        return next((c for m in models if (c := child_slot(Slot(m), key))), None)
    if is_union(tp):
        return next((c for m in members(slot) if (c := child_slot(m, key))), None)
    if is_model(tp):
        field = tp.model_fields.get(key) if isinstance(key, str) else None
        return _field_slot(field, with_default=True) if field else None
    origin, args = get_origin(tp), get_args(tp)
    if origin is list and isinstance(key, int):
        return slot_of(args[0])
    if origin is tuple and isinstance(key, int) and 0 <= key < len(args):
        return slot_of(args[key])
    if origin is dict:
        return slot_of(args[1])
    return Slot(Any) if tp is Any else None


def slot_keys(slot: Slot) -> list[str]:
    """The keys a mapping at the slot may have (any member's, for a union), in schema order."""
    if slot.tag_key:
        return list(
            dict.fromkeys(
                k for m in dict.fromkeys(union_tags(slot).values()) for k in m.model_fields
            )
        )
    if is_union(slot.tp):
        return list(dict.fromkeys(k for m in members(slot) for k in slot_keys(m)))
    return list(slot.tp.model_fields) if is_model(slot.tp) else []


def slot_kind(slot: Slot) -> str | None:
    """'map' or 'list' when the slot holds a collection --set can reach into, else None."""
    if slot.tag_key or is_model(slot.tp) or get_origin(slot.tp) is dict or slot.tp is Any:
        return "map"
    if get_origin(slot.tp) in (list, tuple):
        return "list"
    if is_union(slot.tp):
        return next((k for m in members(slot) if (k := slot_kind(m))), None)
    return None


def admits(slot: Slot, *kinds: type) -> bool:
    """Whether a value of one of ``kinds`` (or an Any) can go in the slot; Literal counts as str."""
    for m in members(slot):
        tp = str if get_origin(m.tp) is Literal else m.tp
        if tp is Any or tp in kinds:
            return True
    return False


def bools_for_numbers(value: Any, slot: Slot, path: KeyPath = ()) -> list[tuple[KeyPath, Slot]]:
    """Booleans where the schema wants a number: pydantic's lax mode would read true as 1, so
    `epochs: yes` would silently train one epoch. Found before validation, reported with it."""
    if isinstance(value, bool):
        return [(path, slot)] if admits(slot, int, float) and not admits(slot, bool) else []
    if slot.tag_key and isinstance(value, dict):
        model = member_model(slot, value)
        slot = Slot(model) if model else Slot(Any)
    if not isinstance(value, dict | list):
        return []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    found = []
    for key, item in items:
        if (child := child_slot(slot, key)) is not None:
            found += bools_for_numbers(item, child, (*path, key))
    return found


def literals(slot: Slot) -> list[Any]:
    """The texts a slot allows (a Literal's values, a tagged union's tags), for did-you-mean."""
    if slot.tag_key:
        return list(union_tags(slot))
    return [v for m in members(slot) if get_origin(m.tp) is Literal for v in get_args(m.tp)]
