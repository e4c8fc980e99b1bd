"""YAML for configs: a PyYAML loader without YAML 1.1's surprises, and a dumper that matches it.

PyYAML follows YAML 1.1, where ``lr: 1e-3`` is the text '1e-3', ``seed: 010`` is 8, ``name: no``
is False and a repeated key silently keeps its last value. ``ConfigLoader`` (a SafeLoader) reads:

- numbers by YAML 1.2's core schema: ``1e-3``, ``1E5``, ``.5``, ``-2.5e-4``, ``.inf`` are floats,
  ``010`` is ten, ``0x1f`` and ``0o17`` are hex and octal; ``1_000``, ``1:30``, ``0b101`` and dates
  stay text;
- booleans: ``true``/``false``. YAML 1.1's ``yes``/``no``/``on``/``off`` (in the cases YAML 1.1
  allows) stay booleans too, so ``plots: no`` keeps working, but they get a tag of their own and
  ``read_yaml`` records where each was written and how: when one lands in a field that wants
  text (``name: no``), the config error says YAML read the word as a boolean and to quote it
  (``name: "no"``). They are never silently turned into text, nor text into them;
- a repeated key, at any depth, as an error naming the key and both lines.

``read_yaml``, the entry point, builds plain data from ``ConfigLoader``'s node tree itself, so it
also knows each key's path and line (errors point at them), reads mapping keys as the text
written (``on:`` is the key 'on'), accepts only the core tags (!!str, !!int, !!float, !!bool,
!!null, !!map, !!seq) and merge keys (``<<``), and refuses alias cycles and documents that expand
to more than ``MAX_NODES`` values. ``dump_yaml`` quotes any text the loader would read otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from conv1d_cli.errors import ConfigError

KeyPath = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (_CORE + t for t in ("str", "int", "float", "bool", "null"))
MAP, SEQ, MERGE = _CORE + "map", _CORE + "seq", _CORE + "merge"
# yes/no/on/off get a tag of their own, so the reader can tell them from true/false.
YAML11_BOOL = "tag:conv1d,2024:yaml11-bool"

_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_TRUE_FALSE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_YES_NO = re.compile(r"^(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$")
_SCALAR_TAGS = {STR, INT, FLOAT, BOOL, NULL, YAML11_BOOL}

MAX_NODES = 100_000  # after expanding aliases: stops "billion laughs" documents
MAX_DEPTH = 100


def _construct_int(loader: yaml.SafeLoader, node: ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text[:2] in ("0o", "0x"):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text)  # decimal even with leading zeros (YAML 1.1 would read 010 as octal)


def _construct_bool(loader: yaml.SafeLoader, node: ScalarNode) -> bool:
    return loader.bool_values[loader.construct_scalar(node).lower()]


class ConfigLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 numbers, tagged yes/no/on/off and no duplicate keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            for key, first, second in _duplicates(node):
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (lines {first} and {second})"
                )
        return super().construct_mapping(node, deep)


# Keep YAML 1.1's null and merge resolvers; replace its bool, int and float ones; drop the rest
# (timestamps, and '=' which SafeLoader cannot even construct).
ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag in (NULL, MERGE)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(BOOL, _TRUE_FALSE, list("tTfF"))
ConfigLoader.add_implicit_resolver(YAML11_BOOL, _YES_NO, list("yYnNoO"))
ConfigLoader.add_implicit_resolver(INT, _INT, list("-+0123456789"))
ConfigLoader.add_implicit_resolver(FLOAT, _FLOAT, list("-+0123456789."))
ConfigLoader.add_constructor(INT, _construct_int)
ConfigLoader.add_constructor(BOOL, _construct_bool)
ConfigLoader.add_constructor(YAML11_BOOL, _construct_bool)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _key_text(node: Node) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def _duplicates(node: MappingNode) -> list[tuple[str, int, int]]:
    """(key, first line, repeated line) for each key written twice in one mapping."""
    seen: dict[str, int] = {}
    found = []
    for key_node, _ in node.value:
        key = _key_text(key_node)
        if key is None or key_node.tag == MERGE:
            continue
        if key in seen:
            found.append((key, seen[key], _line(key_node)))
        else:
            seen[key] = _line(key_node)
    return found


def format_key_path(path: KeyPath) -> str:
    """``('model', 'layers', 2, 'kernel')`` -> ``model.layers[2].kernel``, as all messages say."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "(top level)"


@dataclass
class YamlDoc:
    """A parsed document: plain data, each key's line, and where yes/no/on/off were written."""

    data: Any
    empty: bool = False  # nothing but whitespace and comments
    lines: dict[KeyPath, int] = field(default_factory=dict)
    words: dict[KeyPath, str] = field(default_factory=dict)  # path -> 'no', 'Yes', 'off', ...


def _position(exc: yaml.YAMLError, text: str) -> tuple[int, int] | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return mark.line + 1, mark.column + 1
    if isinstance(exc, yaml.reader.ReaderError):  # bad characters: only an offset is known
        before = text[: exc.position]
        return before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
    return None


def _syntax_message(exc: yaml.YAMLError, text: str, single_line: bool) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.context.startswith("expected"):
            problem = f"{exc.context}, {exc.problem}"  # "expected a single document ..., but"
    elif isinstance(exc, yaml.reader.ReaderError):
        problem = f"character {chr(exc.character)!r} is not allowed in YAML"
    else:
        problem = str(exc)
    where = _position(exc, text)
    if where is None:
        return f"YAML syntax error: {problem}"
    place = f"column {where[1]}" if single_line else f"line {where[0]}, column {where[1]}"
    return f"{place}: YAML syntax error: {problem}"


def read_yaml(text: str, source: str, single_line: bool = False) -> YamlDoc:
    """Parse one YAML document by the rules above; every problem is a one-line ``ConfigError``.

    ``source`` starts each message; ``single_line`` reports positions as a column only (``--set``).
    """
    try:
        loader = ConfigLoader(text)  # checks for unprintable characters already
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: {_syntax_message(exc, text, single_line)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: the YAML is nested too deeply") from None
    if node is None:
        return YamlDoc(None, empty=True)
    builder = _Builder(loader, source)
    data = builder.build(node, ())
    if builder.errors:
        raise ConfigError(f"{source}: " + "; ".join(builder.errors))
    return YamlDoc(data, lines=builder.lines, words=builder.words)


class _Builder:
    """Node tree -> plain data, tracking each value's key path (PyYAML's constructor cannot)."""

    def __init__(self, loader: ConfigLoader, source: str) -> None:
        self.loader, self.source = loader, source
        self.lines: dict[KeyPath, int] = {}
        self.words: dict[KeyPath, str] = {}
        self.errors: list[str] = []
        self.budget = MAX_NODES
        self.open: set[int] = set()  # collections being built: an alias to one is a cycle

    def fail(self, node: Node, problem: str) -> ConfigError:
        return ConfigError(
            f"{self.source}: line {_line(node)}, column {node.start_mark.column + 1}: {problem}"
        )

    def build(self, node: Node, path: KeyPath) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise self.fail(node, f"the document expands to more than {MAX_NODES} values")
        if len(path) > MAX_DEPTH:
            raise self.fail(node, f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.open:
            raise self.fail(node, "an alias refers to a collection that contains it")
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode) and node.tag == SEQ:
                return [self.item(child, (*path, i)) for i, child in enumerate(node.value)]
            if isinstance(node, MappingNode) and node.tag == MAP:
                return self.mapping(node, path)
            raise self.fail(node, f"unsupported YAML tag {node.tag}")
        finally:
            self.open.discard(id(node))

    def item(self, node: Node, path: KeyPath) -> Any:
        self.lines[path] = _line(node)
        return self.build(node, path)

    def scalar(self, node: ScalarNode, path: KeyPath) -> Any:
        if node.tag not in _SCALAR_TAGS:
            raise self.fail(node, f"unsupported YAML tag {node.tag}")
        try:
            value = self.loader.construct_object(node)
        except (yaml.YAMLError, ValueError, KeyError, TypeError, OverflowError):
            kind = {INT: "integer", FLOAT: "number", STR: "text", NULL: "null"}.get(node.tag)
            raise self.fail(
                node, f"{node.value[:40]!r} is not a valid {kind or 'boolean'}"
            ) from None
        if node.tag == YAML11_BOOL:
            self.words[path] = node.value
        return value

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        own: dict[str, Any] = {}
        # Merged mappings first, so the mapping's own keys (and their lines) win. A repeated
        # key is recorded as an error; the document is refused once it is read.
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                for source in self.merge_sources(value_node):
                    for key, value in self.build(source, path).items():
                        merged.setdefault(key, value)
        for key, first, second in _duplicates(node):
            self.errors.append(
                f"{format_key_path((*path, key))}: duplicate key (lines {first} and {second})"
            )
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                continue
            key = _key_text(key_node)
            if key is None:
                raise self.fail(
                    key_node, "a mapping key must be a plain name, not a list or mapping"
                )
            self.lines[(*path, key)] = _line(key_node)
            own[key] = self.build(value_node, (*path, key))
        return {**{k: v for k, v in merged.items() if k not in own}, **own}

    def merge_sources(self, node: Node) -> list[Node]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        if not all(isinstance(s, MappingNode) for s in sources):
            raise self.fail(node, "a merge key (<<) takes a mapping or a list of mappings")
        return sources


# ------------------------------------------------------------------------------------ dumping
class _FlowList(list):
    """A list of plain values: written inline, [1, 784]."""


class _FlowMap(dict):
    """A flat mapping inside a list (a layer): written inline, {type: relu}."""


class ConfigDumper(yaml.SafeDumper):
    """SafeDumper that quotes every text ``ConfigLoader`` (or plain PyYAML) would read otherwise."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a config file never needs anchors


# The dumper quotes a string when its resolvers would read it back as something else: it keeps
# YAML 1.1's (for readers using plain PyYAML) and adds ours ('1e-3' and '0o17' must be quoted).
ConfigDumper.add_implicit_resolver(INT, _INT, list("-+0123456789"))
ConfigDumper.add_implicit_resolver(FLOAT, _FLOAT, list("-+0123456789."))
ConfigDumper.add_representer(
    _FlowList, lambda d, v: d.represent_sequence(SEQ, list(v), flow_style=True)
)
ConfigDumper.add_representer(
    _FlowMap, lambda d, v: d.represent_mapping(MAP, dict(v), flow_style=True)
)


def _is_plain(value: Any) -> bool:
    return not isinstance(value, dict | list | tuple)


def _styled(value: Any, in_list: bool = False) -> Any:
    if isinstance(value, dict):
        items = {k: _styled(v) for k, v in value.items()}
        flat = all(_is_plain(v) or isinstance(v, _FlowList) for v in items.values())
        return _FlowMap(items) if in_list and flat else items
    if isinstance(value, list | tuple):
        if all(_is_plain(v) for v in value):
            return _FlowList(value)
        return [_styled(v, in_list=True) for v in value]
    return value


def dump_yaml(data: Any) -> str:
    """Block-style YAML in the mapping's own key order; short lists and layers written inline."""
    return yaml.dump(
        _styled(data),
        Dumper=ConfigDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,  # never wrap a long layer line
    )
