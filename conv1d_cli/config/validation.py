"""What the config schema allows at a key path, and pydantic's errors said in our words.

Every problem becomes ``key.path[index].key (line N): what is wrong, what is allowed``; a
``_Slot`` is one place in the schema (a type with its constraints and default).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from conv1d_cli.config.schema import Config
from conv1d_cli.config.yamlio import KeyPath, format_key_path


# ================================================================== schema navigation
# Error messages, did-you-mean suggestions and --set all need to know what the schema allows at
# a key path; a _Slot is one such place: a type with its constraints (and default, for fields).
@dataclass(frozen=True)
class _Slot:
    tp: Any
    meta: tuple[Any, ...] = ()
    default: Any = PydanticUndefined
    tag_key: str | None = None  # set for a tagged union (layers, optimizer, schedule)


def _slot(tp: Any, meta: Sequence[Any] = (), default: Any = PydanticUndefined) -> _Slot:
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
    return _Slot(tp, tuple(constraints), default, tag_key)


def _field_slot(field: FieldInfo, with_default: bool = False) -> _Slot:
    default = field.get_default(call_default_factory=True) if with_default else PydanticUndefined
    slot = _slot(field.annotation, field.metadata, default)
    if isinstance(field.discriminator, str):
        return _Slot(slot.tp, slot.meta, slot.default, field.discriminator)
    return slot


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _members(slot: _Slot) -> list[_Slot]:
    if slot.tag_key or not _is_union(slot.tp):
        return [slot]
    return [_slot(arg) for arg in get_args(slot.tp)]


def _tags(slot: _Slot) -> dict[str, type[BaseModel]]:
    """A tagged union's tags and their models: {'conv1d': Conv1dLayer, ...}."""
    tags: dict[str, type[BaseModel]] = {}
    for model in get_args(slot.tp):
        for tag in get_args(model.model_fields[slot.tag_key].annotation):
            tags[tag] = model
    return tags


def _member_tag(slot: _Slot, mapping: Any) -> str | None:
    """The tag a mapping gives a tagged union, else the field's default tag; None if unknown."""
    tag = mapping.get(slot.tag_key) if isinstance(mapping, dict) else None
    if tag is None and slot.default is not PydanticUndefined:
        tag = getattr(slot.default, slot.tag_key, None)
    return tag if isinstance(tag, str) and tag in _tags(slot) else None


def _member(slot: _Slot, mapping: Any) -> type[BaseModel] | None:
    tag = _member_tag(slot, mapping)
    return None if tag is None else _tags(slot)[tag]


def _child(slot: _Slot, key: str | int) -> _Slot | None:
    """The slot one key below, or None when the schema has no such key."""
    tp = slot.tp
    if slot.tag_key:  # member unknown: a key of any member will do
        models = dict.fromkeys(_tags(slot).values())
        return next((c for m in models if (c := _child(_Slot(m), key))), None)
    if _is_union(tp):
        return next((c for m in _members(slot) if (c := _child(m, key))), None)
    if _is_model(tp):
        field = tp.model_fields.get(key) if isinstance(key, str) else None
        return _field_slot(field, with_default=True) if field else None
    origin, args = get_origin(tp), get_args(tp)
    if origin is list and isinstance(key, int):
        return _slot(args[0])
    if origin is tuple and isinstance(key, int) and 0 <= key < len(args):
        return _slot(args[key])
    if origin is dict:
        return _slot(args[1])
    return _Slot(Any) if tp is Any else None


def _keys(slot: _Slot) -> list[str]:
    if slot.tag_key:
        return list(
            dict.fromkeys(k for m in dict.fromkeys(_tags(slot).values()) for k in m.model_fields)
        )
    if _is_union(slot.tp):
        return list(dict.fromkeys(k for m in _members(slot) for k in _keys(m)))
    return list(slot.tp.model_fields) if _is_model(slot.tp) else []


def _kind(slot: _Slot) -> str | None:
    """'map' or 'list' when the slot holds a collection --set can reach into, else None."""
    if slot.tag_key or _is_model(slot.tp) or get_origin(slot.tp) is dict or slot.tp is Any:
        return "map"
    if get_origin(slot.tp) in (list, tuple):
        return "list"
    if _is_union(slot.tp):
        return next((k for m in _members(slot) if (k := _kind(m))), None)
    return None


def _admits(slot: _Slot, *kinds: type) -> bool:
    """Whether a value of one of ``kinds`` (or an Any) can go in the slot; Literal counts as str."""
    for m in _members(slot):
        tp = str if get_origin(m.tp) is Literal else m.tp
        if tp is Any or tp in kinds:
            return True
    return False


def _bools_for_numbers(value: Any, slot: _Slot, path: KeyPath = ()) -> list[tuple[KeyPath, _Slot]]:
    """Booleans where the schema wants a number: pydantic's lax mode would read true as 1, so
    `epochs: yes` would silently train one epoch. Found before validation, reported with it."""
    if isinstance(value, bool):
        return [(path, slot)] if _admits(slot, int, float) and not _admits(slot, bool) else []
    if slot.tag_key and isinstance(value, dict):
        model = _member(slot, value)
        slot = _Slot(model) if model else _Slot(Any)
    if not isinstance(value, dict | list):
        return []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    found = []
    for key, item in items:
        if (child := _child(slot, key)) is not None:
            found += _bools_for_numbers(item, child, (*path, key))
    return found


def _literals(slot: _Slot) -> list[Any]:
    if slot.tag_key:
        return list(_tags(slot))
    return [v for m in _members(slot) if get_origin(m.tp) is Literal for v in get_args(m.tp)]


# ======================================================================== messages
def _bounds(meta: tuple[Any, ...]) -> str:
    low = next(((f"{m.gt:g}", "(", ">") for m in meta if isinstance(m, at.Gt)), None)
    low = low or next(((f"{m.ge:g}", "[", ">=") for m in meta if isinstance(m, at.Ge)), None)
    high = next(((f"{m.lt:g}", ")", "<") for m in meta if isinstance(m, at.Lt)), None)
    high = high or next(((f"{m.le:g}", "]", "<=") for m in meta if isinstance(m, at.Le)), None)
    if low and high:
        return f" in {low[1]}{low[0]}, {high[0]}{high[1]}"
    if low or high:
        value, _, op = low or high
        return f" {op} {value}"
    return ""


def _plural(text: str) -> str:
    for one, many in (("an integer", "integers"), ("a number", "numbers")):
        if text.startswith(one):
            return many + text[len(one) :]
    return f"items, each {text}"


def _describe(slot: _Slot) -> str:
    """What the schema allows at a slot, in words: 'an integer > 0', 'one of: valid, same'."""
    tp, origin = slot.tp, get_origin(slot.tp)
    if slot.tag_key:
        return f"a mapping whose {slot.tag_key} is one of: {', '.join(_tags(slot))}"
    if _is_union(tp):
        text = " or ".join(_describe(m) for m in _members(slot) if m.tp is not type(None))
        return text + " or null" if type(None) in get_args(tp) else text
    if tp in (int, float):
        return ("an integer" if tp is int else "a number") + _bounds(slot.meta)
    if origin is Literal:
        return "one of: " + ", ".join(str(v) for v in get_args(tp))
    if origin is tuple:
        items = [_describe(_slot(a)) for a in get_args(tp)]
        if len(set(items)) == 1:
            return f"a list of {len(items)} {_plural(items[0])}"
        return "a list [" + ", ".join(items) + "]"
    if origin is list:
        least = next((m.min_length for m in slot.meta if isinstance(m, at.MinLen)), 0)
        return f"a list of at least {least} item{'s' * (least > 1)}" if least else "a list"
    if origin is dict or _is_model(tp):
        return "a mapping"
    names = {type(None): "null", bool: "true or false", str: "text"}
    return names.get(tp, "any value")


def _show(value: Any) -> str:
    """A value as a message shows it: short, one line."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item{'s' * (len(value) != 1)}" if value else "an empty list"
    return "a mapping" if isinstance(value, Mapping) else f"a {type(value).__name__}"


def _suggest(word: Any, options: Sequence[Any]) -> str:
    if not isinstance(word, str) or len(word) > 100:  # difflib is quadratic
        return ""
    match = difflib.get_close_matches(word, [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


_UNION_NOUNS = {"optimizer": "optimizer", "schedule": "schedule"}
_UNION_NOUNS |= dict.fromkeys(("layers", "branches"), "layer type")  # blocks' lists too


def _noun(path: KeyPath) -> str:
    name = next((k for k in reversed(path) if isinstance(k, str)), "")
    return _UNION_NOUNS.get(name, f"{name} type")


@dataclass
class _Where:
    """A pydantic error location mapped onto the schema."""

    path: KeyPath
    slot: _Slot | None
    parent: _Slot | None = None
    parent_tag: str | None = None  # the tag that selected the parent model
    in_union: bool = False  # the error is about one member of an untagged union (padding)
    at_key: bool = False  # the error is about a mapping key itself


def _locate(loc: tuple[Any, ...], root: type[BaseModel] = Config) -> _Where:
    where = _Where((), _Slot(root))
    tag = None
    for item in loc:
        slot = where.slot
        if slot is None:
            where.path += (item,)
        elif slot.tag_key and isinstance(item, str) and item in _tags(slot):
            where.slot, tag = _Slot(_tags(slot)[item]), item  # pydantic names the member taken
        elif item == "[key]":
            where.at_key = True
            break
        elif (
            isinstance(item, str) and len([m for m in _members(slot) if m.tp is not type(None)]) > 1
        ):
            where.in_union = True  # an untagged union: 'constrained-int' names the member tried
            break
        else:
            where.parent, where.parent_tag = slot, tag
            where.slot, tag = _child(slot, item), None
            where.path += (item,)
    return where


@dataclass
class _Origins:
    """Where each value came from ('line 7', '--set train.epochs=0') and yes/no spellings."""

    places: dict[KeyPath, str]
    words: dict[KeyPath, str]

    def of(self, path: KeyPath) -> str | None:
        for end in range(len(path), 0, -1):
            if path[:end] in self.places:
                return self.places[path[:end]]
        return None

    def forget(self, path: KeyPath) -> None:
        for table in (self.places, self.words):
            for key in [k for k in table if k[: len(path)] == path]:
                del table[key]


def _bool_word(path: KeyPath, value: bool, slot: _Slot, origins: _Origins) -> str | None:
    """The yes/no/on/off explanation, when YAML turned such a word into a boolean."""
    word = origins.words.get(path)
    if word is None:
        return None
    if not _admits(slot, str):
        return f"YAML read {word} as the boolean {str(value).lower()}, expected {_describe(slot)}"
    place = origins.of(path) or ""
    if place.startswith("--set"):
        quoted = f"--set '{format_key_path(path)}=\"{word}\"'"
    else:
        quoted = f'{path[-1]}: "{word}"'
    return (
        f"YAML read {word} as the boolean {str(value).lower()}, quote it to mean the text: {quoted}"
    )


def _problem(err: Any, where: _Where, origins: _Origins) -> tuple[KeyPath, str]:
    """One pydantic error -> (key path, what is wrong and what is allowed)."""
    kind, value, path, slot = err["type"], err.get("input"), where.path, where.slot
    if kind == "config_rule":
        return tuple(err["ctx"]["loc"]), err["ctx"]["message"]
    if kind == "extra_forbidden" and where.parent is not None:
        keys = _keys(where.parent)
        owner = f" for {_noun(path[:-1])} {where.parent_tag!r}" if where.parent_tag else ""
        hint = _suggest(path[-1], keys)
        return path, f"unknown key{owner}{hint}, allowed keys: {', '.join(keys)}"
    if slot is None:  # beyond the schema (cannot happen for a known error type): pydantic's words
        return path, err["msg"][:1].lower() + err["msg"][1:]
    if kind in ("union_tag_invalid", "union_tag_not_found") and slot.tag_key:
        tags, tag_path = ", ".join(_tags(slot)), (*path, slot.tag_key)
        tag = value.get(slot.tag_key) if isinstance(value, dict) else None
        if kind == "union_tag_not_found":
            return tag_path, f"missing, expected one of: {tags}"
        if isinstance(tag, bool) and (said := _bool_word(tag_path, tag, _Slot(str), origins)):
            return tag_path, said
        if isinstance(tag, str):
            hint = _suggest(tag, list(_tags(slot)))
            return tag_path, f"unknown {_noun(path)} {tag!r}{hint}, allowed: {tags}"
        return tag_path, f"got {_show(tag)}, expected one of: {tags}"
    if slot.tag_key and isinstance(value, str) and value in _tags(slot):
        return path, f"got {value!r}, write it as a mapping: {{{slot.tag_key}: {value}}}"
    if where.at_key:
        return path, f"the key {_show(value)} must be text"
    parent = where.parent
    if kind == "missing" and parent and any(get_origin(m.tp) is tuple for m in _members(parent)):
        return path[:-1], f"got {_show(value)}, expected {_describe(parent)}"  # a short tuple
    if kind == "missing":
        return path, f"missing, expected {_describe(slot)}"
    if isinstance(value, bool) and (said := _bool_word(path, value, slot, origins)):
        return path, said
    hint = _suggest(value, _literals(slot))
    wants_text = any(m.tp is str for m in _members(slot))
    if isinstance(value, int | float) and not isinstance(value, bool) and wants_text:
        hint = " (quote it to mean text)"  # name: 1e3
    return path, f"got {_show(value)}{hint}, expected {_describe(slot)}"


def _translate(exc: ValidationError, origins: _Origins, root: type = Config) -> list[Any]:
    problems: list[tuple[KeyPath, str]] = []
    union_paths: set[KeyPath] = set()
    for err in exc.errors():
        where = _locate(err["loc"], root)
        if where.in_union:  # pydantic reports each member of `padding`'s union: say it once
            if where.path in union_paths:
                continue
            union_paths.add(where.path)
        problems.append(_problem(err, where, origins))
    return problems


def _bool_problem(path: KeyPath, slot: _Slot, value: bool, origins: _Origins) -> str:
    said = _bool_word(path, value, slot, origins)
    return said or f"got {_show(value)}, expected {_describe(slot)}"


def _format(problems: list[tuple[KeyPath, str]], origins: _Origins) -> list[str]:
    """'key.path (line N): problem', ordered by line (file order), duplicates dropped."""

    def line(item: tuple[KeyPath, str]) -> int:
        place = origins.of(item[0]) or ""
        return int(place[5:]) if place.startswith("line ") else 1 << 30

    messages: list[str] = []
    for path, problem in sorted(problems, key=line):
        place = origins.of(path)
        text = f"{format_key_path(path)}{f' ({place})' if place else ''}: {problem}"
        if text not in messages:
            messages.append(text)
    return messages


MAX_ERRORS = 20


def _join(source: str, errors: list[str]) -> str:
    shown = errors[:MAX_ERRORS]
    more = f"; and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
    head = f"{source}: {len(errors)} errors: " if len(errors) > 1 else f"{source}: "
    return (head + "; ".join(shown) + more).replace("\n", " ")
