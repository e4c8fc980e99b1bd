"""Checkpoints: weights, optimizer state and config in one safetensors file, saved atomically."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy

from conv1d_cli.errors import CheckpointError
from conv1d_cli.rundir.atomic import (
    atomic_write_bytes,
    json_default,
)
from conv1d_cli.version import __version__

CHECKPOINT_FORMAT = "conv1d-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class Checkpoint:
    """What a checkpoint file holds: tensors by prefix and JSON metadata."""

    model_state: dict[str, np.ndarray]
    optimizer_state: dict[str, np.ndarray]
    meta: dict[str, Any]
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Atomically write ``checkpoint`` as one .safetensors file (no pickle anywhere)."""
    tensors: dict[str, np.ndarray] = {}
    for prefix, group in (
        ("model.", checkpoint.model_state),
        ("optim.", checkpoint.optimizer_state),
        ("extra.", checkpoint.extra),
    ):
        for name, array in group.items():
            # Not np.ascontiguousarray: it turns a 0-d array (a step counter) into shape (1,).
            tensors[prefix + name] = np.require(array, requirements="C")
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "format_version": str(CHECKPOINT_VERSION),
        "conv1d_version": __version__,
        "meta": json.dumps(checkpoint.meta, default=json_default),
    }
    atomic_write_bytes(Path(path), safetensors.numpy.save(tensors, metadata=metadata))


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint, refusing anything truncated, foreign or newer than this tool."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file")
    data = path.read_bytes()
    header = _read_header(path, data)
    metadata = header.get("__metadata__") or {}
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a conv1d checkpoint")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise CheckpointError(f"{path}: unreadable checkpoint format version") from None
    if version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version}, newer than this conv1d "
            f"({__version__}, format {CHECKPOINT_VERSION}); upgrade conv1d to read it"
        )
    try:
        tensors = safetensors.numpy.load(data)
        meta = json.loads(metadata["meta"])
    except Exception as exc:  # the library's own error types vary between versions
        raise CheckpointError(f"{path} is corrupt: {_first_line(exc)}") from None
    groups: dict[str, dict[str, np.ndarray]] = {"model.": {}, "optim.": {}, "extra.": {}}
    for name, array in tensors.items():
        prefix = name[: name.index(".") + 1] if "." in name else ""
        if prefix not in groups:
            raise CheckpointError(f"{path} holds an unexpected tensor {name!r}")
        groups[prefix][name[len(prefix) :]] = array
    return Checkpoint(groups["model."], groups["optim."], meta, groups["extra."], path)


def load_weights(model: Any, checkpoint: Checkpoint) -> None:
    """Put the checkpoint's weights into ``model``; a mismatch is one CheckpointError line."""
    try:
        model.load_state_dict(checkpoint.model_state)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(
            f"{checkpoint.path}: weights do not fit the network of its config: {exc}"
        ) from None


def _read_header(path: Path, data: bytes) -> dict[str, Any]:
    if len(data) < 8:
        raise CheckpointError(f"{path} is truncated or not a checkpoint ({len(data)} bytes)")
    header_len = int.from_bytes(data[:8], "little")
    if header_len > len(data) - 8:
        raise CheckpointError(f"{path} is truncated or not a checkpoint (bad header length)")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{path} is not a checkpoint (no safetensors header)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is not a checkpoint (no safetensors header)")
    end = 8 + header_len
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not offsets or end + offsets[1] > len(data):
            raise CheckpointError(f"{path} is truncated (tensor {name!r} is cut off)")
    return header


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def resolve_checkpoint(target: Path, which: str = "best") -> Path:
    """A checkpoint file as given, or ``<run>/checkpoints/<which>.safetensors`` for a run dir."""
    target = Path(target)
    if target.is_dir():
        candidate = target / "checkpoints" / f"{which}.safetensors"
        if candidate.is_file():
            return candidate
        fallback = target / "checkpoints" / "last.safetensors"
        if candidate.name != fallback.name and fallback.is_file():
            return fallback
        raise CheckpointError(f"{target} holds no checkpoints/{which}.safetensors")
    if not target.exists():
        raise CheckpointError(f"no checkpoint or run directory at {target}")
    return target
