"""Reading a config: YAML file or mapping -> ``--set`` overrides -> one validation -> ``Config``.

Every problem is one ``ConfigError`` line: the source, then each error as
``key.path[index].key (line N): what is wrong, what is allowed``, several joined with "; ".
YAML's own rules (numbers, yes/no, duplicate keys) are in ``conv1d_cli.config.yamlio``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic_core import to_jsonable_python

from conv1d_cli.config.schema import DATA_KINDS_BY_SUFFIX, Config
from conv1d_cli.config.slots import (
    Slot,
    child_slot,
    member_model,
    member_tag,
    slot_keys,
    slot_kind,
    union_tags,
)
from conv1d_cli.config.validation import (
    Origins,
    describe,
    join_errors,
    show,
    suggest,
    union_noun,
    validate,
)
from conv1d_cli.config.yamlio import KeyPath, dump_yaml, format_key_path, read_yaml
from conv1d_cli.errors import ConfigError

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


def apply_override(raw: dict[str, Any], text: str, origins: Origins) -> None:
    """Set one ``--set`` value in the raw mapping, checking each key against the schema."""
    keys, value, words = _parse_override(text)
    label = f"--set {text}"
    node: Any = raw
    slot, path = Slot(Config), ()
    for depth, key in enumerate(keys):
        union, owner = (slot, "") if slot.tag_key else (None, "")
        if union is not None and (tag := member_tag(union, node)) is not None:
            slot = Slot(union_tags(union)[tag])  # judge keys against the selected member
            owner = f" for {union_noun(path)} {tag!r}"
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
        child = child_slot(slot, step)
        if child is None:
            keys_here = slot_keys(slot)
            allowed = f", allowed keys: {', '.join(keys_here)}" if keys_here else ""
            raise ConfigError(
                f"{label}: {format_key_path((*path, step))} is not a config key{owner}"
                f"{suggest(step, keys_here)}{allowed}"
            )
        path = (*path, step)
        if depth == len(keys) - 1:
            if union is not None and step == union.tag_key:
                _drop_old_defaults(node, union, value, path[:-1], origins)
            node[step] = value
            break
        below = node.get(step) if isinstance(node, dict) else node[step]
        kind, here = slot_kind(child), format_key_path(path)
        if kind is None:
            raise ConfigError(f"{label}: {here} is {describe(child)}, it has no keys below it")
        if kind == "list" and not isinstance(below, list):
            what = "not set" if below is None else show(below)
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
    node: dict[str, Any], union: Slot, tag: Any, path: KeyPath, origins: Origins
) -> None:
    """Switching ``type``: drop keys the new member lacks whose values are just the old defaults.

    A fully resolved config (a checkpoint's, or --print-config output) spells out adam's betas;
    ``--set optimizer.type=sgd`` must not trip over them. A key the user set to anything else
    stays, and validation reports that it does not fit the new type.
    """
    old = member_model(union, node)
    new = union_tags(union).get(tag) if isinstance(tag, str) else None
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


def read_text(path: Path, source: str) -> str:
    """A config or sweep file's text; missing, unreadable, huge or not UTF-8: a ConfigError."""
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


def _validate(
    raw: Any,
    source: str,
    overrides: Sequence[str],
    origins: Origins,
    kind_follows_path: bool = False,
) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping of config keys (name, seed, data, "
            f"model, ...), got {show(raw)}"
        )
    errors = []
    for text in overrides:
        try:
            apply_override(raw, text, origins)
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError(join_errors(source, errors))
    if kind_follows_path:
        _kind_from_new_path(raw, overrides)
    return validate(raw, Config, source, origins)


def _kind_from_new_path(raw: dict[str, Any], overrides: Sequence[str]) -> None:
    """A stored config's file kind follows ``--set data.path=...`` given without data.dataset.

    A run trained on x.ts stores ``dataset: ts`` (the kind its suffix gave); pointed at y.tsv,
    the suffix decides again (DATA_KINDS_BY_SUFFIX, the rule for a config that leaves dataset
    out). Only file kinds change, and only to a known suffix: with another suffix (a csv named
    .txt) the stored kind stays.
    """
    keys = {tuple(_parse_override(text)[0]) for text in overrides}
    data = raw.get("data")
    if ("data", "path") not in keys or ("data", "dataset") in keys or not isinstance(data, dict):
        return
    path, kind = data.get("path"), data.get("dataset")
    if kind not in DATA_KINDS_BY_SUFFIX.values() or data.get("source", "auto") != "auto":
        return
    if isinstance(path, str) and (suffix := Path(path).suffix.lower()) in DATA_KINDS_BY_SUFFIX:
        data["dataset"] = DATA_KINDS_BY_SUFFIX[suffix]


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML config, apply ``--set KEY=VALUE`` overrides in order, validate once.

    ``name: null`` (or no name) becomes the file's stem here: a config read from a file always
    has a name. Raises ``ConfigError`` (one line naming the file and every bad key path).
    """
    path = Path(path)
    source = str(path)
    doc = read_yaml(read_text(path, source), source)
    if doc.empty:
        raise ConfigError(f"{source}: the file is empty; a config needs at least model.layers")
    origins = Origins({p: f"line {n}" for p, n in doc.lines.items()}, dict(doc.words))
    return apply_name_default(_validate(doc.data, source, overrides, origins), path)


def load_config_dict(
    raw: Mapping[str, Any],
    source: str,
    overrides: Sequence[str] = (),
    *,
    kind_follows_path: bool = True,
) -> Config:
    """``load_config`` for a mapping already parsed (a checkpoint's config); ``source`` names it.

    The name is left as it is (a mapping has no file stem to default to). For a stored config
    (``kind_follows_path``), ``--set data.path=...`` without data.dataset lets the new file's
    suffix pick a file kind again (.ts -> .tsv); a config a person wrote keeps its dataset, as
    ``load_config`` does.
    """
    origins = Origins({}, {})
    return _validate(_plain(raw), source, overrides, origins, kind_follows_path=kind_follows_path)


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


# ======================================================================== a run's config
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def resolve_config(
    config_path: Path,
    overrides: Sequence[str] = (),
    name: str | None = None,
    runs_dir: str | None = None,
) -> Config:
    """Load and validate the config; apply --name/--runs-dir; name the run (``run_name``)."""
    cfg = load_config(config_path, overrides)
    update: dict[str, Any] = {}
    named = any(_parse_override(text)[0] == ["name"] for text in overrides)  # --set name=...
    run_name = name or (cfg.name if named else None)
    run_name = run_name or run_name_for(cfg.name or Path(config_path).stem, cfg.data.path)
    if not RUN_NAME.fullmatch(run_name):
        raise ConfigError(
            f"name {run_name!r}: a run name may hold letters, digits, '.', '_' and '-' and "
            "must start with a letter or digit (it becomes a folder name)"
        )
    update["name"] = run_name
    if runs_dir is not None:
        update["output"] = cfg.output.model_copy(update={"runs_dir": runs_dir})
    return cfg.model_copy(update=update)


def run_name_for(config_name: str, data_path: str | None) -> str:
    """The default run name: the config's name, plus the data file's stem when data.path is a
    file (``resnet1d`` on ``GunPoint_TRAIN.ts`` -> ``resnet1d-GunPoint``).

    The archive's ``_TRAIN`` is dropped: the run reads the ``_TEST`` file beside it too, so it
    ran on the problem (GunPoint), not on one of its halves. A folder (IDX files), no path, or a
    stem equal to the config's name (signals.yaml on signals.npz) adds nothing.
    """
    if not data_path:
        return config_name
    path = Path(data_path)
    if path.suffix.lower() not in DATA_KINDS_BY_SUFFIX and not path.is_file():
        return config_name
    stem = re.sub(r"_(TRAIN|train)$", "", path.stem)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")  # it becomes part of a folder name
    if not stem or stem.lower() == config_name.lower():
        return config_name
    return f"{config_name}-{stem}"
