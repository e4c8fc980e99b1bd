"""Checkpoints: weights, optimizer state and config in one safetensors file, saved atomically."""

from __future__ import annotations

import json
import math
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


# safetensors' dtype names and their item sizes: a header names one of these or is corrupt.
DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit on the JSON header
GROUPS = ("model.", "optim.", "extra.")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the header describes it: dtype name (``F32``), shape, bytes in the file."""

    dtype: str
    shape: tuple[int, ...]
    nbytes: int


@dataclass(frozen=True)
class CheckpointHeader:
    """What a checkpoint says it holds, read from its header alone (no tensor is read).

    ``tensors`` maps full names (``model.0.W``) to their dtype and shape, in file order; every
    entry was checked against the file's size, so loading allocates exactly ``data_bytes``.
    """

    path: Path
    tensors: dict[str, TensorInfo]
    meta: dict[str, Any]
    data_bytes: int

    def group(self, prefix: str) -> dict[str, TensorInfo]:
        """The tensors of one group without its prefix: ``group("model.")`` -> {"0.W": ...}."""
        return {k[len(prefix) :]: v for k, v in self.tensors.items() if k.startswith(prefix)}


def read_checkpoint_header(path: Path) -> CheckpointHeader:
    """Read and check a checkpoint's header: format, version, metadata JSON, and every tensor's
    dtype, shape and place in the file. Reads the header bytes only; CheckpointError if wrong."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file")
    size = path.stat().st_size
    with path.open("rb") as file:
        prefix = file.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"{path} is truncated or not a checkpoint ({size} bytes)")
        header_len = int.from_bytes(prefix, "little")
        if header_len > size - 8 or header_len > MAX_HEADER_BYTES:
            raise CheckpointError(f"{path} is truncated or not a checkpoint (bad header length)")
        raw = file.read(header_len)
    header = _parse_header(path, raw)
    meta = _conv1d_metadata(path, header.pop("__metadata__", None))
    data_bytes = size - 8 - header_len
    tensors = {name: _tensor_info(path, name, info, data_bytes) for name, info in header.items()}
    _check_layout(path, header, data_bytes)
    return CheckpointHeader(path, tensors, meta, data_bytes)


def load_checkpoint(path: Path, header: CheckpointHeader | None = None) -> Checkpoint:
    """Read a checkpoint, refusing anything truncated, foreign or newer than this tool.

    ``header``: the file's ``read_checkpoint_header`` when the caller has it already.
    """
    header = header or read_checkpoint_header(path)
    path = header.path
    try:
        tensors = safetensors.numpy.load(path.read_bytes())
    except Exception as exc:  # the library's own error types vary between versions
        raise CheckpointError(f"{path} is corrupt: {_first_line(exc)}") from None
    groups: dict[str, dict[str, np.ndarray]] = {prefix: {} for prefix in GROUPS}
    for name, array in tensors.items():
        prefix = name[: name.index(".") + 1]  # the header check saw every name's prefix
        groups[prefix][name[len(prefix) :]] = array
    return Checkpoint(groups["model."], groups["optim."], header.meta, groups["extra."], path)


def load_weights(model: Any, checkpoint: Checkpoint) -> None:
    """Put the checkpoint's weights into ``model``; a mismatch is one CheckpointError line."""
    try:
        model.load_state_dict(checkpoint.model_state)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(
            f"{checkpoint.path}: weights do not fit the network of its config: {exc}"
        ) from None


def _parse_header(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{path} is not a checkpoint (no safetensors header)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is not a checkpoint (no safetensors header)")
    return header


def _conv1d_metadata(path: Path, metadata: Any) -> dict[str, Any]:
    """The header's ``__metadata__`` -> the run's ``meta`` dict, after format and version."""
    metadata = metadata if isinstance(metadata, dict) else {}
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a conv1d checkpoint")
    try:
        version = int(metadata.get("format_version", ""))
    except (ValueError, TypeError):
        raise CheckpointError(f"{path}: unreadable checkpoint format version") from None
    if version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version}, newer than this conv1d "
            f"({__version__}, format {CHECKPOINT_VERSION}); upgrade conv1d to read it"
        )
    text = metadata.get("meta")
    try:
        meta = json.loads(text) if isinstance(text, str) else None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path} is corrupt: its metadata is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} is corrupt: its metadata is not a JSON object")
    return meta


def _tensor_info(path: Path, name: str, info: Any, data_bytes: int) -> TensorInfo:
    if not any(name.startswith(prefix) for prefix in GROUPS):
        raise CheckpointError(f"{path} holds an unexpected tensor {name!r}")
    if not isinstance(info, dict):
        raise CheckpointError(f"{path} is corrupt: tensor {name!r} has no dtype, shape, offsets")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in DTYPE_SIZES:
        raise CheckpointError(f"{path} is corrupt: tensor {name!r} has dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise CheckpointError(f"{path} is corrupt: tensor {name!r} has shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
        raise CheckpointError(f"{path} is corrupt: tensor {name!r} has offsets {offsets!r}")
    begin, end = offsets
    if end > data_bytes:
        raise CheckpointError(f"{path} is truncated (tensor {name!r} is cut off)")
    nbytes = math.prod(shape) * DTYPE_SIZES[dtype]
    if end - begin != nbytes:
        raise CheckpointError(
            f"{path} is corrupt: tensor {name!r} of shape {tuple(shape)} ({dtype}) needs "
            f"{nbytes:,} bytes but its offsets span {end - begin:,}"
        )
    return TensorInfo(dtype, tuple(shape), nbytes)


def _check_layout(path: Path, header: dict[str, Any], data_bytes: int) -> None:
    """The tensors tile the data exactly (as safetensors requires): no gap, overlap or tail."""
    position = 0
    for begin, end, name in sorted((*info["data_offsets"], n) for n, info in header.items()):
        if begin != position:
            raise CheckpointError(f"{path} is corrupt: tensor {name!r} overlaps or leaves a gap")
        position = end
    if position != data_bytes:
        raise CheckpointError(f"{path} is corrupt: {data_bytes - position:,} bytes after the data")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


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
