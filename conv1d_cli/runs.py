"""Run directories, the per-epoch metrics file, and atomic checkpoint save/load.

Nothing a user made is ever overwritten or left half-written: run directories get a fresh
suffix instead of reusing a name, and every file write goes to a temporary file in the same
folder that is flushed, fsynced and renamed over the target (atomic.py: a kill at any moment or a
full disk leaves either the old file or the new one).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy

from conv1d_cli import __version__
from conv1d_cli.atomic import (  # noqa: F401 (re-exported: the run-file writers live there)
    STORAGE_ERRORS,
    atomic_write_bytes,
    atomic_write_text,
    current_umask,
    json_default,
    write_json,
    writing,
)
from conv1d_cli.errors import CheckpointError, RunDirError

CHECKPOINT_FORMAT = "conv1d-checkpoint"
CHECKPOINT_VERSION = 1
METRIC_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "epoch_seconds",
    "samples_per_s",
)


# ---------------------------------------------------------------------------- run directory
def check_runs_dir_writable(runs_dir: Path) -> None:
    """Raise RunDirError now (before any training) when run directories cannot be made here."""
    runs_dir = Path(runs_dir)
    probe = runs_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise RunDirError(f"runs folder {runs_dir}: {probe} is not a directory (output.runs_dir)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunDirError(f"runs folder {runs_dir} is not writable (output.runs_dir or --runs-dir)")


def create_run_dir(runs_dir: Path, name: str) -> Path:
    """Create and return ``runs_dir/name``, or ``name-2``, ``name-3``...: never an existing one."""
    runs_dir = Path(runs_dir)
    try:
        with writing(runs_dir):
            runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"cannot create runs folder {runs_dir}: {exc.strerror}") from None
    for index in range(1, 100_000):
        candidate = runs_dir / (name if index == 1 else f"{name}-{index}")
        try:
            with writing(candidate):  # a full disk: StorageError, exit 4
                candidate.mkdir()  # atomic: fails if a concurrent run took the name first
                (candidate / "checkpoints").mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunDirError(f"cannot create run directory {candidate}: {exc.strerror}") from None
        return candidate
    raise RunDirError(f"too many runs named {name!r} in {runs_dir}")


class MetricsLog:
    """``metrics.csv`` (one row per epoch) and ``train.log`` (the plain per-epoch lines).

    Rows are appended and fsynced every epoch so a killed run keeps what it measured.
    """

    def __init__(self, run_dir: Path) -> None:
        self.csv_path = Path(run_dir) / "metrics.csv"
        self.log_path = Path(run_dir) / "train.log"
        if not self.csv_path.exists():
            atomic_write_text(self.csv_path, ",".join(METRIC_COLUMNS) + "\n")

    def read_rows(self) -> list[dict[str, float]]:
        with self.csv_path.open(newline="") as handle:
            return [
                {key: float(value) if value != "" else float("nan") for key, value in row.items()}
                for row in csv.DictReader(handle)
            ]

    def truncate_to_epoch(self, epoch: int) -> list[dict[str, float]]:
        """Keep the rows of epochs <= ``epoch`` (resume continues from there); return them."""
        rows = [row for row in self.read_rows() if int(row["epoch"]) <= epoch]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _format_cell(row[key]) for key in METRIC_COLUMNS})
        atomic_write_text(self.csv_path, buffer.getvalue())
        return rows

    def append(self, row: Mapping[str, float], line: str) -> None:
        cells = ",".join(_format_cell(row.get(key, float("nan"))) for key in METRIC_COLUMNS)
        for path, text in ((self.csv_path, cells), (self.log_path, line)):
            with writing(path):
                _append_line(path, text)


def _append_line(path: Path, text: str) -> None:
    """Append one line and fsync; on a failed write, cut the half line off so the file parses."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        size = os.fstat(fd).st_size
        data = (text + "\n").encode("utf-8")
        try:
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        except OSError:
            _truncate_quietly(path, size)
            raise
    finally:
        os.close(fd)


def _truncate_quietly(path: Path, size: int) -> None:
    with suppress(OSError):
        os.truncate(path, size)


def _format_cell(value: float) -> str:
    if value != value:  # NaN: the metric does not exist for this run (e.g. no validation split)
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


# ------------------------------------------------------------------------------ checkpoints
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


def read_started(run_dir: Path) -> str:
    """When the run first started (ISO 8601 UTC): from its summary.json, else now."""
    import time

    try:
        started = json.loads((Path(run_dir) / "summary.json").read_text()).get("started")
    except (OSError, ValueError, AttributeError):
        started = None
    return (
        started if isinstance(started, str) else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    )


def run_dir_of(checkpoint_path: Path) -> Path | None:
    """The run directory a checkpoint lives in (``<run>/checkpoints/x.safetensors``), if any."""
    parent = Path(checkpoint_path).resolve().parent
    if parent.name == "checkpoints" and (parent.parent / "config.yaml").exists():
        return parent.parent
    return None


def versions() -> dict[str, str]:
    import platform

    return {"conv1d": __version__, "numpy": np.__version__, "python": platform.python_version()}


def json_safe(value: Any) -> Any:
    """JSON has no NaN: metrics that do not exist (no validation split) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    return value
