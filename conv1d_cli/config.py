"""The experiment config: pydantic v2 models (the schema), YAML loading and ``--set`` overrides.

Config flows one way: model defaults -> YAML file -> dotted ``--set`` overrides -> frozen
``Config``. Unknown keys are errors; every default is explicit here.

Public functions: ``load_config`` (a YAML file), ``load_config_dict`` (an already parsed mapping,
e.g. the config inside a checkpoint), ``parse_override``, ``config_to_yaml``, ``config_diff`` and
``apply_name_default``. Every problem is one ``ConfigError`` line: the source, then each error as
``key.path[index].key (line N): what is wrong, what is allowed``, several joined with "; ".
YAML's own rules (numbers, yes/no, duplicate keys) are in ``conv1d_cli.yamlio``.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError, PydanticUndefined, to_jsonable_python

from conv1d_cli.errors import ConfigError
from conv1d_cli.yamlio import KeyPath, dump_yaml, format_key_path, read_yaml

PositiveFloat = Annotated[float, Field(gt=0)]
UnitInterval = Annotated[float, Field(ge=0, lt=1)]


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors and a loaded config never changes."""

    # inf and nan are never meaningful settings (and would not survive a JSON checkpoint).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# --------------------------------------------------------------------------------------- data
class DataConfig(StrictModel):
    dataset: Literal["mnist", "fashion-mnist", "mnist1d", "digits", "npz", "csv"] = "mnist"
    # auto: mnist -> embedded; fashion-mnist -> data.path, data home, /usr/share/datasets, OpenML.
    source: Literal["auto", "embedded", "openml", "idx", "npz"] = "auto"
    path: str | None = None
    val_split: UnitInterval = 0.1
    # Used only where the data has no official test split (embedded MNIST, digits, npz without
    # x_test).
    test_split: Annotated[float, Field(gt=0, lt=1)] = 0.2
    # (channels, length) of one sample as handed to the network; None keeps the dataset's own.
    view: tuple[PositiveInt, PositiveInt] | None = None
    normalize: Literal["scale", "standardize", "none"] = "scale"
    limit: PositiveInt | None = None
    label_column: str = "label"
    # Training-time augmentation: random shifts of up to `shift` pixels/samples, Gaussian noise std.
    shift: NonNegativeInt = 0
    noise: NonNegativeFloat = 0.0
    # Arguments for mnist1d's generator (num_samples, train_split, final_seq_length, seed, ...).
    mnist1d: dict[str, Any] = Field(default_factory=dict)


# ------------------------------------------------------------------------------------- layers
Padding = NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt] | Literal["valid", "same"]


class Conv1dLayer(StrictModel):
    type: Literal["conv1d"]
    channels: PositiveInt
    kernel: PositiveInt
    stride: PositiveInt = 1
    padding: Padding = 0
    padding_mode: Literal["zeros", "replicate", "reflect", "circular"] = "zeros"
    dilation: PositiveInt = 1
    bias: bool = True


class DenseLayer(StrictModel):
    type: Literal["dense", "linear"]
    units: PositiveInt
    bias: bool = True


class ReLULayer(StrictModel):
    type: Literal["relu"]


class LeakyReLULayer(StrictModel):
    type: Literal["leakyrelu"]
    negative_slope: NonNegativeFloat = 0.01


class TanhLayer(StrictModel):
    type: Literal["tanh"]


class SigmoidLayer(StrictModel):
    type: Literal["sigmoid"]


class GELULayer(StrictModel):
    type: Literal["gelu"]
    approximate: Literal["none", "tanh"] = "none"


class MaxPool1dLayer(StrictModel):
    type: Literal["maxpool1d"]
    kernel: PositiveInt = 2
    stride: PositiveInt | None = None  # None: same as kernel
    padding: NonNegativeInt = 0


class AvgPool1dLayer(StrictModel):
    type: Literal["avgpool1d"]
    kernel: PositiveInt = 2
    stride: PositiveInt | None = None
    padding: NonNegativeInt = 0


class GlobalAvgPool1dLayer(StrictModel):
    type: Literal["globalavgpool1d"]


class FlattenLayer(StrictModel):
    type: Literal["flatten"]


class DropoutLayer(StrictModel):
    type: Literal["dropout"]
    rate: UnitInterval = 0.5


class BatchNorm1dLayer(StrictModel):
    type: Literal["batchnorm1d"]
    momentum: Annotated[float, Field(gt=0, le=1)] = 0.1
    eps: PositiveFloat = 1e-5


LayerConfig = Annotated[
    Conv1dLayer
    | DenseLayer
    | ReLULayer
    | LeakyReLULayer
    | TanhLayer
    | SigmoidLayer
    | GELULayer
    | MaxPool1dLayer
    | AvgPool1dLayer
    | GlobalAvgPool1dLayer
    | FlattenLayer
    | DropoutLayer
    | BatchNorm1dLayer,
    Field(discriminator="type"),
]


class ModelConfig(StrictModel):
    init: Literal["he", "he_uniform", "xavier", "xavier_uniform", "gaussian", "zeros"] = "he"
    init_sigma: PositiveFloat = 0.01  # standard deviation of the `gaussian` initializer
    layers: list[LayerConfig] = Field(min_length=1)


# ---------------------------------------------------------------------------- loss, optimizer
class LossConfig(StrictModel):
    type: Literal["cross_entropy"] = "cross_entropy"
    label_smoothing: UnitInterval = 0.0


class _OptimizerBase(StrictModel):
    lr: PositiveFloat = 0.001
    weight_decay: NonNegativeFloat = 0.0
    clip_grad_norm: PositiveFloat | None = None


class SGDConfig(_OptimizerBase):
    type: Literal["sgd"]


class MomentumConfig(_OptimizerBase):
    type: Literal["momentum"]
    momentum: UnitInterval = 0.9
    nesterov: bool = False


class AdaGradConfig(_OptimizerBase):
    type: Literal["adagrad"]
    eps: PositiveFloat = 1e-10


class RMSPropConfig(_OptimizerBase):
    type: Literal["rmsprop"]
    alpha: UnitInterval = 0.99
    eps: PositiveFloat = 1e-8


class AdamConfig(_OptimizerBase):
    type: Literal["adam"]
    betas: tuple[UnitInterval, UnitInterval] = (0.9, 0.999)
    eps: PositiveFloat = 1e-8


class AdamWConfig(_OptimizerBase):
    type: Literal["adamw"]
    betas: tuple[UnitInterval, UnitInterval] = (0.9, 0.999)
    eps: PositiveFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.01


OptimizerConfig = Annotated[
    SGDConfig | MomentumConfig | AdaGradConfig | RMSPropConfig | AdamConfig | AdamWConfig,
    Field(discriminator="type"),
]


# -------------------------------------------------------------------------------- schedules
class ConstantSchedule(StrictModel):
    type: Literal["constant"]


class StepSchedule(StrictModel):
    type: Literal["step"]
    step_epochs: PositiveInt = 10  # multiply the rate by gamma every step_epochs epochs
    gamma: Annotated[float, Field(gt=0, le=1)] = 0.1


class CosineSchedule(StrictModel):
    type: Literal["cosine"]
    warmup_epochs: NonNegativeFloat = 0.0
    min_lr: NonNegativeFloat = 0.0


class OneCycleSchedule(StrictModel):
    type: Literal["onecycle"]
    pct_start: Annotated[float, Field(gt=0, lt=1)] = 0.3
    div_factor: PositiveFloat = 25.0
    final_div_factor: PositiveFloat = 1e4


ScheduleConfig = Annotated[
    ConstantSchedule | StepSchedule | CosineSchedule | OneCycleSchedule,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------------------- train, output
class EarlyStoppingConfig(StrictModel):
    patience: PositiveInt = 5
    min_delta: NonNegativeFloat = 0.0


class TrainConfig(StrictModel):
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 64
    eval_batch_size: PositiveInt = 1000
    dtype: Literal["float32", "float64"] = "float32"
    early_stopping: EarlyStoppingConfig | None = None


class OutputConfig(StrictModel):
    runs_dir: str = "runs"
    monitor: Literal["val_acc", "val_loss", "train_acc", "train_loss"] = "val_acc"
    plots: bool = True


class Config(StrictModel):
    name: str | None = None  # None: the config file's stem
    seed: NonNegativeInt = 0
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    loss: LossConfig = Field(default_factory=LossConfig)
    optimizer: OptimizerConfig = Field(default_factory=lambda: AdamConfig(type="adam"))
    schedule: ScheduleConfig = Field(default_factory=lambda: ConstantSchedule(type="constant"))
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="before")
    @classmethod
    def _default_union_types(cls, data: Any) -> Any:
        """``optimizer: {lr: 0.01}`` keeps the default type (adam), like ``--set optimizer.lr``."""
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                section = data.get(name)
                tag_key = field.discriminator
                if (
                    isinstance(tag_key, str)
                    and isinstance(section, dict)
                    and tag_key not in section
                ):
                    default = field.get_default(call_default_factory=True)
                    data = {**data, name: {tag_key: getattr(default, tag_key), **section}}
        return data

    @model_validator(mode="after")
    def _monitor_needs_validation(self) -> Config:
        if self.output.monitor.startswith("val_") and self.data.val_split == 0:
            raise PydanticCustomError(
                "config_rule",
                "{message}",
                {
                    "loc": ("output", "monitor"),
                    "message": f"{self.output.monitor} needs a validation split but "
                    "data.val_split is 0, allowed without one: train_acc, train_loss",
                },
            )
        return self


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


_UNION_NOUNS = {"layers": "layer type", "optimizer": "optimizer", "schedule": "schedule"}


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


def _locate(loc: tuple[Any, ...]) -> _Where:
    where = _Where((), _Slot(Config))
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


def _translate(exc: ValidationError, origins: _Origins) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []
    union_paths: set[KeyPath] = set()
    for err in exc.errors():
        where = _locate(err["loc"])
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


# ======================================================================== --set overrides
_SEGMENT = re.compile(r"([^.\[\]\s=]+)((?:\[\d+\])*)")


def _parse_override(text: str) -> tuple[list[str], Any, dict[KeyPath, str]]:
    label = f"--set {text}"
    key_text, equals, value_text = text.partition("=")
    key_text = key_text.strip()
    if not equals:
        raise ConfigError(f"{label}: expected KEY=VALUE, e.g. --set optimizer.lr=0.01")
    if not key_text:
        raise ConfigError(f"{label}: the key before '=' is empty")
    keys: list[str] = []
    for segment in key_text.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise ConfigError(
                f"{label}: {key_text!r} is not a dotted key like optimizer.lr or "
                "model.layers[0].channels (or model.layers.0.channels)"
            )
        keys += [match[1], *re.findall(r"\d+", match[2])]
    doc = read_yaml(value_text, f"{label}: the value", single_line=True)
    return keys, doc.data, dict(doc.words)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'model.layers[0].channels=16'`` -> ``(['model', 'layers', '0', 'channels'], 16)``.

    Keys are dotted; list items are ``[i]`` or ``.i``. The value is read as YAML by the config
    loader's rules (``1e-3`` is a number, ``[28, 28]`` a list, nothing after '=' is null).
    """
    keys, value, _ = _parse_override(text)
    return keys, value


def _apply_override(raw: dict[str, Any], text: str, origins: _Origins) -> None:
    """Set one ``--set`` value in the raw mapping, checking each key against the schema."""
    keys, value, words = _parse_override(text)
    label = f"--set {text}"
    node: Any = raw
    slot, path = _Slot(Config), ()
    for depth, key in enumerate(keys):
        union, owner = (slot, "") if slot.tag_key else (None, "")
        if union is not None and (tag := _member_tag(union, node)) is not None:
            slot = _Slot(_tags(union)[tag])  # judge keys against the selected member
            owner = f" for {_noun(path)} {tag!r}"
        if isinstance(node, list):
            if not key.isdecimal() or int(key) >= len(node):
                indices = f"an index 0 to {len(node) - 1}" if node else "nothing (it is empty)"
                raise ConfigError(
                    f"{label}: {format_key_path(path)} is a list of {len(node)} items, so the "
                    f"key after it can be {indices}; set the whole list to change its length"
                )
            step: str | int = int(key)
        else:
            step = key
        child = _child(slot, step)
        if child is None:
            keys_here = _keys(slot)
            allowed = f", allowed keys: {', '.join(keys_here)}" if keys_here else ""
            raise ConfigError(
                f"{label}: {format_key_path((*path, step))} is not a config key{owner}"
                f"{_suggest(step, keys_here)}{allowed}"
            )
        path = (*path, step)
        if depth == len(keys) - 1:
            if union is not None and step == union.tag_key:
                _drop_old_defaults(node, union, value, path[:-1], origins)
            node[step] = value
            break
        below = node.get(step) if isinstance(node, dict) else node[step]
        kind, here = _kind(child), format_key_path(path)
        if kind is None:
            raise ConfigError(f"{label}: {here} is {_describe(child)}, it has no keys below it")
        if kind == "list" and not isinstance(below, list):
            what = "not set" if below is None else _show(below)
            raise ConfigError(
                f"{label}: {here} is {what} in the config, so it has no items to set; "
                f"set it whole, e.g. --set {here}=[...]"
            )
        any_list = child.tp is Any and isinstance(below, list)  # data.mnist1d.x.0=1
        if kind == "map" and not isinstance(below, dict) and not any_list:
            below = node[step] = {}  # a section the YAML left out or set to null: defaults apply
        node, slot = below, child
    origins.forget(path)
    origins.places[path] = label
    origins.words.update({(*path, *p): w for p, w in words.items()})


def _drop_old_defaults(
    node: dict[str, Any], union: _Slot, tag: Any, path: KeyPath, origins: _Origins
) -> None:
    """Switching ``type``: drop keys the new member lacks whose values are just the old defaults.

    A fully resolved config (a checkpoint's, or --print-config output) spells out adam's betas;
    ``--set optimizer.type=sgd`` must not trip over them. A key the user set to anything else
    stays, and validation reports that it does not fit the new type.
    """
    old, new = _member(union, node), _tags(union).get(tag) if isinstance(tag, str) else None
    if old is None or new is None or old is new:
        return
    for name in list(node):
        field = old.model_fields.get(name)
        if field is None or field.is_required() or name in new.model_fields:
            continue
        if to_jsonable_python(field.get_default(call_default_factory=True)) == node[name]:
            del node[name]
            origins.forget((*path, name))


# ======================================================================== public functions
MAX_BYTES = 1_000_000  # a config is a few hundred bytes; anything this large is a wrong file


def _read_text(path: Path, source: str) -> str:
    try:
        if path.is_dir():
            raise ConfigError(f"{source}: is a directory, not a YAML config file")
        if path.exists() and not path.is_file():
            raise ConfigError(f"{source}: is not a regular file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file") from None
    except PermissionError:
        raise ConfigError(f"{source}: cannot read the file: permission denied") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{source}: cannot read the file: {reason}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{source}: {len(data)} bytes is too large for a config file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{source}: not UTF-8 text (byte {exc.start} cannot be decoded)"
        ) from None


def _plain(value: Any) -> Any:
    """A private, mutable copy: mappings as dicts, tuples as lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _validate(raw: Any, source: str, overrides: Sequence[str], origins: _Origins) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping of config keys (name, seed, data, "
            f"model, ...), got {_show(raw)}"
        )
    errors = []
    for text in overrides:
        try:
            _apply_override(raw, text, origins)
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError(_join(source, errors))
    problems = [
        (path, _bool_problem(path, slot, _get(raw, path), origins))
        for path, slot in _bools_for_numbers(raw, _Slot(Config))
    ]
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        problems += _translate(exc, origins)
    if problems:
        raise ConfigError(_join(source, _format(problems, origins)))
    return cfg


def _get(raw: Any, path: KeyPath) -> Any:
    for key in path:
        raw = raw[key]
    return raw


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML config, apply ``--set KEY=VALUE`` overrides in order, validate once.

    ``name: null`` (or no name) becomes the file's stem here: a config read from a file always
    has a name. Raises ``ConfigError`` (one line naming the file and every bad key path).
    """
    path = Path(path)
    source = str(path)
    doc = read_yaml(_read_text(path, source), source)
    if doc.empty:
        raise ConfigError(f"{source}: the file is empty; a config needs at least model.layers")
    origins = _Origins({p: f"line {n}" for p, n in doc.lines.items()}, dict(doc.words))
    return apply_name_default(_validate(doc.data, source, overrides, origins), path)


def load_config_dict(raw: Mapping[str, Any], source: str, overrides: Sequence[str] = ()) -> Config:
    """``load_config`` for a mapping already parsed (a checkpoint's config); ``source`` names it.

    The name is left as it is (a mapping has no file stem to default to).
    """
    return _validate(_plain(raw), source, overrides, _Origins({}, {}))


def apply_name_default(cfg: Config, path: str | Path) -> Config:
    """``name: null`` -> the config file's stem (configs/mnist.yaml -> mnist)."""
    return cfg if cfg.name is not None else cfg.model_copy(update={"name": Path(path).stem})


def config_to_yaml(cfg: Config) -> str:
    """The fully resolved config, every default spelled out, in the schema's key order.

    ``load_config`` reads it back to an equal ``Config`` (and plain ``yaml.safe_load`` to the
    same values): text that YAML would read as a number or boolean is quoted.
    """
    return dump_yaml(cfg.model_dump(mode="json"))


def config_diff(a: Config, b: Config) -> list[str]:
    """Key paths whose values differ, in schema order (a whole list when its length differs)."""
    found: list[str] = []
    _diff(a.model_dump(mode="json"), b.model_dump(mode="json"), (), found)
    return found


def _diff(x: Any, y: Any, path: KeyPath, found: list[str]) -> None:
    if isinstance(x, dict) and isinstance(y, dict):
        for key in [*x, *(k for k in y if k not in x)]:
            if key in x and key in y:
                _diff(x[key], y[key], (*path, key), found)
            else:
                found.append(format_key_path((*path, key)))
    elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y) and x != y:
        if all(not isinstance(v, dict | list) for v in x + y):
            found.append(format_key_path(path))  # view: [1, 784] is one value
        else:
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                _diff(u, v, (*path, i), found)
    elif x != y or type(x) is not type(y):
        found.append(format_key_path(path))
