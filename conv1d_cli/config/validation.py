"""Pydantic's errors said in our words, and ``validate``: raw mapping -> model, or one error line.

Every problem becomes ``key.path[index].key (line N): what is wrong, what is allowed``; what the
schema allows at a key path comes from ``conv1d_cli.config.slots``. The root model is an
argument (``Config`` for configs, ``SweepSpec`` for sweep files).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ValidationError

from conv1d_cli.config.slots import (
    Slot,
    admits,
    bools_for_numbers,
    child_slot,
    is_model,
    is_union,
    literals,
    members,
    slot_keys,
    slot_of,
    union_tags,
)
from conv1d_cli.config.yamlio import KeyPath, format_key_path
from conv1d_cli.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)
Problem = tuple[KeyPath, str]  # (key path, what is wrong and what is allowed)


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


def describe(slot: Slot) -> str:
    """What the schema allows at a slot, in words: 'an integer > 0', 'one of: valid, same'."""
    tp, origin = slot.tp, get_origin(slot.tp)
    if slot.tag_key:
        return f"a mapping whose {slot.tag_key} is one of: {', '.join(union_tags(slot))}"
    if is_union(tp):
        text = " or ".join(describe(m) for m in members(slot) if m.tp is not type(None))
        return text + " or null" if type(None) in get_args(tp) else text
    if tp in (int, float):
        return ("an integer" if tp is int else "a number") + _bounds(slot.meta)
    if origin is Literal:
        return "one of: " + ", ".join(str(v) for v in get_args(tp))
    if origin is tuple:
        items = [describe(slot_of(a)) for a in get_args(tp)]
        if len(set(items)) == 1:
            return f"a list of {len(items)} {_plural(items[0])}"
        return "a list [" + ", ".join(items) + "]"
    if origin is list:
        least = next((m.min_length for m in slot.meta if isinstance(m, at.MinLen)), 0)
        return f"a list of at least {least} item{'s' * (least > 1)}" if least else "a list"
    if origin is dict or is_model(tp):
        return "a mapping"
    names = {type(None): "null", bool: "true or false", str: "text"}
    return names.get(tp, "any value")


def show(value: Any) -> str:
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


def suggest(word: Any, options: Sequence[Any]) -> str:
    """The hint ``(did you mean 'x'?)`` when a word is close to one of the options, else ''."""
    if not isinstance(word, str) or len(word) > 100:  # difflib is quadratic
        return ""
    match = difflib.get_close_matches(word, [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


_UNION_NOUNS = {"optimizer": "optimizer", "schedule": "schedule"}
_UNION_NOUNS |= dict.fromkeys(("layers", "branches"), "layer type")  # blocks' lists too


def union_noun(path: KeyPath) -> str:
    """What a tagged union at the path holds, for messages: 'layer type', 'optimizer'."""
    name = next((k for k in reversed(path) if isinstance(k, str)), "")
    return _UNION_NOUNS.get(name, f"{name} type")


@dataclass
class _Where:
    """A pydantic error location mapped onto the schema."""

    path: KeyPath
    slot: Slot | None
    parent: Slot | None = None
    parent_tag: str | None = None  # the tag that selected the parent model
    in_union: bool = False  # the error is about one member of an untagged union (padding)
    at_key: bool = False  # the error is about a mapping key itself


def _locate(loc: tuple[Any, ...], root: type[BaseModel]) -> _Where:
    where = _Where((), Slot(root))
    tag = None
    for item in loc:
        slot = where.slot
        if slot is None:
            where.path += (item,)
        elif slot.tag_key and isinstance(item, str) and item in union_tags(slot):
            where.slot, tag = Slot(union_tags(slot)[item]), item  # pydantic names the member taken
        elif item == "[key]":
            where.at_key = True
            break
        elif (
            isinstance(item, str) and len([m for m in members(slot) if m.tp is not type(None)]) > 1
        ):
            where.in_union = True  # an untagged union: 'constrained-int' names the member tried
            break
        else:
            where.parent, where.parent_tag = slot, tag
            where.slot, tag = child_slot(slot, item), None
            where.path += (item,)
    return where


@dataclass
class Origins:
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


def _bool_word(path: KeyPath, value: bool, slot: Slot, origins: Origins) -> str | None:
    """The yes/no/on/off explanation, when YAML turned such a word into a boolean."""
    word = origins.words.get(path)
    if word is None:
        return None
    if not admits(slot, str):
        return f"YAML read {word} as the boolean {str(value).lower()}, expected {describe(slot)}"
    place = origins.of(path) or ""
    if place.startswith("--set"):
        quoted = f"--set '{format_key_path(path)}=\"{word}\"'"
    else:
        quoted = f'{path[-1]}: "{word}"'
    return (
        f"YAML read {word} as the boolean {str(value).lower()}, quote it to mean the text: {quoted}"
    )


def _problem(err: Any, where: _Where, origins: Origins) -> Problem:
    """One pydantic error -> (key path, what is wrong and what is allowed)."""
    kind, value, path, slot = err["type"], err.get("input"), where.path, where.slot
    if kind == "config_rule":
        return tuple(err["ctx"]["loc"]), err["ctx"]["message"]
    if kind == "extra_forbidden" and where.parent is not None:
        keys = slot_keys(where.parent)
        owner = f" for {union_noun(path[:-1])} {where.parent_tag!r}" if where.parent_tag else ""
        hint = suggest(path[-1], keys)
        return path, f"unknown key{owner}{hint}, allowed keys: {', '.join(keys)}"
    if slot is None:  # beyond the schema (cannot happen for a known error type): pydantic's words
        return path, err["msg"][:1].lower() + err["msg"][1:]
    if kind in ("union_tag_invalid", "union_tag_not_found") and slot.tag_key:
        tags, tag_path = ", ".join(union_tags(slot)), (*path, slot.tag_key)
        tag = value.get(slot.tag_key) if isinstance(value, dict) else None
        if kind == "union_tag_not_found":
            return tag_path, f"missing, expected one of: {tags}"
        if isinstance(tag, bool) and (said := _bool_word(tag_path, tag, Slot(str), origins)):
            return tag_path, said
        if isinstance(tag, str):
            hint = suggest(tag, list(union_tags(slot)))
            return tag_path, f"unknown {union_noun(path)} {tag!r}{hint}, allowed: {tags}"
        return tag_path, f"got {show(tag)}, expected one of: {tags}"
    if slot.tag_key and isinstance(value, str) and value in union_tags(slot):
        return path, f"got {value!r}, write it as a mapping: {{{slot.tag_key}: {value}}}"
    if where.at_key:
        return path, f"the key {show(value)} must be text"
    parent = where.parent
    if kind == "missing" and parent and any(get_origin(m.tp) is tuple for m in members(parent)):
        return path[:-1], f"got {show(value)}, expected {describe(parent)}"  # a short tuple
    if kind == "missing":
        return path, f"missing, expected {describe(slot)}"
    if isinstance(value, bool) and (said := _bool_word(path, value, slot, origins)):
        return path, said
    hint = suggest(value, literals(slot))
    wants_text = any(m.tp is str for m in members(slot))
    if isinstance(value, int | float) and not isinstance(value, bool) and wants_text:
        hint = " (quote it to mean text)"  # name: 1e3
    return path, f"got {show(value)}{hint}, expected {describe(slot)}"


def _translate(exc: ValidationError, origins: Origins, root: type[BaseModel]) -> list[Problem]:
    problems: list[Problem] = []
    union_paths: set[KeyPath] = set()
    for err in exc.errors():
        where = _locate(err["loc"], root)
        if where.in_union:  # pydantic reports each member of `padding`'s union: say it once
            if where.path in union_paths:
                continue
            union_paths.add(where.path)
        problems.append(_problem(err, where, origins))
    return problems


def _bool_problem(path: KeyPath, slot: Slot, value: bool, origins: Origins) -> str:
    said = _bool_word(path, value, slot, origins)
    return said or f"got {show(value)}, expected {describe(slot)}"


def _format(problems: list[Problem], origins: Origins) -> list[str]:
    """'key.path (line N): problem', ordered by line (file order), duplicates dropped."""

    def line(item: Problem) -> int:
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


def join_errors(source: str, errors: list[str]) -> str:
    """One ConfigError line: the source, then the errors joined with '; ' (at most MAX_ERRORS)."""
    shown = errors[:MAX_ERRORS]
    more = f"; and {len(errors) - MAX_ERRORS} more" if len(errors) > MAX_ERRORS else ""
    head = f"{source}: {len(errors)} errors: " if len(errors) > 1 else f"{source}: "
    return (head + "; ".join(shown) + more).replace("\n", " ")


def _get(raw: Any, path: KeyPath) -> Any:
    for key in path:
        raw = raw[key]
    return raw


def validate(
    raw: Any,
    root: type[Model],
    source: str,
    origins: Origins,
    before: Sequence[Problem] = (),
    after: Sequence[Problem] = (),
) -> Model:
    """Raw mapping -> ``root`` model, or one ``ConfigError`` naming ``source`` and every problem.

    Booleans where a number belongs are problems too (pydantic would read true as 1). A caller's
    own checks join in: ``before`` and ``after`` pydantic's problems, all then ordered by line.
    """
    problems = [
        (path, _bool_problem(path, slot, _get(raw, path), origins))
        for path, slot in bools_for_numbers(raw, Slot(root))
    ]
    problems += before
    try:
        model = root.model_validate(raw)
    except ValidationError as exc:
        problems += _translate(exc, origins, root)
    problems += after
    if problems:
        raise ConfigError(join_errors(source, _format(problems, origins)))
    return model
