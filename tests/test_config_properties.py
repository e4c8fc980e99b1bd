"""Property: whatever YAML or --set text comes in, the loader gives a Config or a ConfigError.

Any other exception (a KeyError in the error translator, a RecursionError, a yaml error that got
through) is a bug: the CLI would print a traceback instead of one line.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from conv1d_cli.config import Config, config_to_yaml, load_config, load_config_dict
from conv1d_cli.errors import ConfigError

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

VALID: dict[str, Any] = {
    "name": "prop",
    "data": {"dataset": "digits", "val_split": 0.2, "view": [1, 64]},
    "model": {
        "layers": [
            {"type": "conv1d", "channels": 4, "kernel": 3, "padding": "same"},
            {"type": "relu"},
            {"type": "flatten"},
            {"type": "dense", "units": 10},
        ]
    },
    "optimizer": {"type": "adam", "lr": 0.001},
    "train": {"epochs": 2, "early_stopping": {"patience": 2}},
}


def _schema_words() -> list[str]:
    """Every key and choice of the schema: random documents should hit real keys often."""
    words: set[str] = set()
    seen: set[type] = set()  # blocks hold layer lists: the schema is recursive

    def visit(tp: Any) -> None:
        if isinstance(tp, type):
            if tp in seen:
                return
            seen.add(tp)
        if get_origin(tp) is Literal:
            words.update(v for v in get_args(tp) if isinstance(v, str))
        for arg in get_args(tp):
            visit(arg)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            for name, field in tp.model_fields.items():
                words.add(name)
                visit(field.annotation)

    visit(Config)
    return sorted(words)


WORDS = _schema_words()
keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=8))
yaml_words = st.sampled_from(
    ["no", "yes", "on", "off", "true", "1e-3", ".5", "0x1f", "010", "~", "null", "[1, 2]", "{}"]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    yaml_words,
    st.sampled_from(WORDS),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=6)
    ),
    max_leaves=30,
)

# Values that often fit: so that some override lists load and the success path is exercised too.
plausible = st.one_of(
    st.integers(0, 100).map(str),
    st.floats(0, 1).map(repr),
    st.sampled_from(WORDS),
    st.sampled_from(["null", "[1, 64]", "{type: sgd}", "{patience: 1}", "no", "true", "1e-3"]),
)


def _outcome(run) -> Config | None:
    """Run the loader: a Config, or None for a well-formed ConfigError; anything else fails."""
    try:
        cfg = run()
    except ConfigError as exc:
        assert "\n" not in str(exc), str(exc)
        return None
    assert isinstance(cfg, Config)
    return cfg


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("prop") / "c.yaml"


@SETTINGS
@given(doc=documents)
def test_random_yaml_documents(config_file, doc):
    config_file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    cfg = _outcome(lambda: load_config(config_file))
    if cfg is not None:  # whatever loads also survives the round trip
        config_file.write_text(config_to_yaml(cfg), encoding="utf-8")
        again = load_config(config_file)
        assert again == cfg or _has_nan(cfg.data.mnist1d)


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


@SETTINGS
@given(text=st.text(max_size=200))
def test_random_text(config_file, text):
    config_file.write_text(text, encoding="utf-8")
    _outcome(lambda: load_config(config_file))


@settings(SETTINGS, max_examples=50)
@given(data=st.binary(max_size=100))
def test_random_bytes(config_file, data):
    config_file.write_bytes(data)
    _outcome(lambda: load_config(config_file))


def _mutate(raw: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    """Put ``value`` somewhere along ``path`` inside a copy of a valid config."""
    raw = copy.deepcopy(raw)
    node: Any = raw
    for step in path[:-1]:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and node:
            node = node[hash(str(step)) % len(node)]
    if isinstance(node, dict):
        node[path[-1]] = value
    elif isinstance(node, list) and node:
        node[hash(str(path[-1])) % len(node)] = value
    return raw


@SETTINGS
@given(path=st.lists(keys, min_size=1, max_size=4), value=st.one_of(documents, plausible))
def test_mutated_valid_configs(path, value):
    raw = _mutate(VALID, path, value)
    _outcome(lambda: load_config_dict(raw, "mutated"))


dotted = st.lists(
    st.one_of(st.sampled_from(WORDS), st.integers(0, 5).map(str)), min_size=1, max_size=4
)


def _paths(value: Any, prefix: str = "") -> list[str]:
    """The dotted key of every value in a resolved config, lists indexed both ways."""
    found = [prefix] if prefix else []
    if isinstance(value, dict | list):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            if isinstance(key, int):
                found += _paths(item, f"{prefix}[{key}]") + _paths(item, f"{prefix}.{key}")
            else:
                found += _paths(item, f"{prefix}.{key}" if prefix else key)
    return found


RESOLVED = load_config_dict(VALID, "v").model_dump(mode="json")
KNOWN_PATHS = sorted(set(_paths(RESOLVED)))


def _value_at(path: str) -> Any:
    value: Any = RESOLVED
    for key in path.replace("[", ".").replace("]", "").split("."):
        value = value[int(key)] if isinstance(value, list) else value[key]
    return value


def _like(path: str) -> st.SearchStrategy[str]:
    """A --set for ``path`` whose value has the type of the current one: it usually fits."""
    value = _value_at(path)
    if isinstance(value, bool):
        values = st.sampled_from(["true", "false", "no", "yes", "off"])
    elif isinstance(value, int):
        values = st.integers(0, 50).map(str)
    elif isinstance(value, float):
        values = st.floats(0, 1).map(repr)
    elif isinstance(value, str):
        values = st.one_of(st.just(value), st.sampled_from(WORDS))
    else:
        values = st.just(yaml.safe_dump(value, default_flow_style=True, width=10**6).strip())
    return values.map(lambda v: f"{path}={v}")


typos = st.builds(lambda p, i: p[:i] + p[i + 1 :], st.sampled_from(KNOWN_PATHS), st.integers(0, 30))
override_keys = st.one_of(
    st.sampled_from(KNOWN_PATHS),
    typos,
    dotted.map(".".join),
    st.builds(lambda a, i, b: f"{a}[{i}].{b}", st.sampled_from(WORDS), st.integers(0, 5), keys),
    st.text(max_size=15),
)
override_values = st.one_of(
    yaml_words,
    st.text(max_size=15),
    scalars.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip()),
    documents.map(lambda v: yaml.safe_dump(v, default_flow_style=True, width=10**6).strip()),
)
overrides = st.one_of(
    st.sampled_from(KNOWN_PATHS).flatmap(_like),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KNOWN_PATHS), plausible),
    st.builds(lambda k, v: f"{k}={v}", override_keys, override_values),
    st.text(max_size=30),
)


@SETTINGS
@given(sets=st.lists(overrides, max_size=4))
def test_random_overrides(config_file, sets):
    config_file.write_text(yaml.safe_dump(VALID), encoding="utf-8")
    _outcome(lambda: load_config(config_file, sets))
    _outcome(lambda: load_config_dict(VALID, "stored", sets))
