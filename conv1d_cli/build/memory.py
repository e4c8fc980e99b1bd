"""Memory preflight: refuse, before allocating anything, a model or batch the machine cannot hold.

The estimate is a lower bound, so it never refuses a network that would have run:

- training: parameters + gradients + optimizer state (one array per buffer of the optimizer,
  e.g. Adam's m and v) + the activations of one batch: every layer's output is kept for the
  backward pass, plus one gradient the size of the largest output.
- eval/predict: parameters + the input batch + the two largest layer outputs (one layer's input
  and output live at once).

Layer shapes and parameter counts come from the engine's ``LayerInfo`` rows (``Sequential.summary``)
when a model exists (``check_memory``); before the model is built, ``preflight_config`` computes
the same rows from the config without allocating weights, so a conv of 100,000 channels is
refused here and not by a MemoryError inside the builder. Available memory is
``MemAvailable`` of /proc/meminfo, capped by the cgroup limit (v2 ``memory.max``, v1
``memory.limit_in_bytes``) minus what the cgroup already uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.errors import NotEnoughMemory
from conv1d_cli.nn.model import LayerInfo

MEMINFO = Path("/proc/meminfo")
CGROUP_FILES = (  # (limit, usage): cgroup v2, then v1
    (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")),
    (
        Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        Path("/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ),
)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs at its peak, by part; ``biggest`` is the layer with the most bytes."""

    params: int
    grads: int
    optimizer: int
    activations: int
    batch_size: int
    training: bool
    biggest: LayerInfo | None
    biggest_bytes: int
    stored: int = 0  # a checkpoint's tensors, read into memory while the network is built

    @property
    def total(self) -> int:
        return self.params + self.grads + self.optimizer + self.activations + self.stored


def estimate(
    rows: Sequence[LayerInfo],
    input_shape: tuple[int, ...],
    batch_size: int,
    training: bool,
    itemsize: int = 4,
    optimizer_buffers: int = 0,
    workspace: int = 0,
) -> MemoryEstimate:
    """Peak bytes of a model given its per-layer rows (output shape and parameters per sample).

    ``workspace``: values per sample of the largest padded input a conv makes (``shapes``);
    the activations are at least that (a dilated 'same' conv pads far more than it outputs).

    Rows are ``Sequential.summary``'s: a block's row (its totals) is followed by its children's,
    one level deeper; parameters are counted once (the outermost rows), activations for every
    row (a block's sum or concatenation is an array of its own).
    """
    top = min((row.depth for row in rows), default=0)
    n_params = sum(row.n_params for row in rows if row.depth == top)
    sizes = [math.prod(input_shape)] + [math.prod(row.output_shape) for row in rows]
    if training:
        activations = (sum(sizes) + max(sizes)) * batch_size * itemsize
    else:
        activations = (sizes[0] + sum(sorted(sizes[1:])[-2:])) * batch_size * itemsize
    activations = max(activations, workspace * batch_size * itemsize)
    biggest, biggest_bytes = None, 0
    for row in _leaves(rows):
        # A layer's own bytes: its weights (and gradients in training) plus its batch output.
        own = row.n_params * itemsize * (2 + optimizer_buffers if training else 1)
        own += math.prod(row.output_shape) * batch_size * itemsize
        if biggest is None or own > biggest_bytes:
            biggest, biggest_bytes = row, own
    return MemoryEstimate(
        params=n_params * itemsize,
        grads=n_params * itemsize if training else 0,
        optimizer=n_params * itemsize * optimizer_buffers if training else 0,
        activations=activations,
        batch_size=batch_size,
        training=training,
        biggest=biggest,
        biggest_bytes=biggest_bytes,
    )


def _leaves(rows: Sequence[LayerInfo]) -> list[LayerInfo]:
    """The rows that are not blocks (a block's row is followed by deeper rows)."""
    return [
        row
        for row, after in zip(rows, [*rows[1:], None], strict=True)
        if after is None or after.depth <= row.depth
    ]


def config_key(row: LayerInfo) -> str:
    """The row's config key path: "3.layers.1" -> model.layers[3].layers[1]."""
    parts = (row.path or str(row.index)).split(".")
    return "model.layers" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts)


def available_memory() -> tuple[int, str] | None:
    """(bytes, where the number comes from), or None when this system does not say."""
    found: list[tuple[int, str]] = []
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append((int(line.split()[1]) * 1024, "MemAvailable"))
                break
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in CGROUP_FILES:
        try:
            limit_text = limit_file.read_text().strip()
            if limit_text == "max":
                continue
            limit = int(limit_text)
            if limit >= 1 << 60:  # v1 writes "unlimited" as a huge number
                continue
            used = int(usage_file.read_text().strip())
        except (OSError, ValueError):
            continue
        found.append((max(0, limit - used), "the cgroup memory limit"))
        break
    return min(found) if found else None


def check_estimate(need: MemoryEstimate, what: str, available: tuple[int, str] | None) -> None:
    """Raise NotEnoughMemory (one line with the numbers) when ``need`` exceeds ``available``."""
    if available is None or need.total <= available[0]:
        return
    have, source = available
    parts = [
        f"{label} {_size(size)}"
        for label, size in (
            ("parameters", need.params),
            ("gradients", need.grads),
            ("optimizer state", need.optimizer),
            ("the checkpoint's tensors", need.stored),
        )
        if size
    ]
    parts.append(f"activations of a batch of {need.batch_size} {_size(need.activations)}")
    biggest = ""
    if need.biggest is not None:
        row = need.biggest
        biggest = (
            f"; the biggest layer is {config_key(row)} ({row.description or row.name}: "
            f"{row.n_params:,} parameters, output {_shape(row.output_shape)} per sample, "
            f"{_size(need.biggest_bytes)})"
        )
    batch_key = "train.batch_size" if need.training else "train.eval_batch_size"
    fix = f"lower {batch_key} or make the network smaller"
    if need.total - need.activations > have:  # the weights alone do not fit: no batch will
        fix = "make the network smaller"
    if need.stored:  # a checkpoint's network: nothing for the user to change but the machine
        fix = "load it on a machine with more memory (or the file is corrupt)"
    raise NotEnoughMemory(
        f"not enough memory for {what}: needs about {_size(need.total)} "
        f"({', '.join(parts)}) but {_size(have)} is available ({source}){biggest}; {fix}"
    )


def check_memory(
    model: Any,
    input_shape: tuple[int, ...],
    batch_size: int,
    training: bool,
    optimizer_buffers: int = 0,
    what: str | None = None,
) -> MemoryEstimate:
    """Preflight for a built model (eval, predict): raise NotEnoughMemory past what is free.

    ``input_shape`` is one sample's (C, L); the rows come from ``model.summary`` (LayerInfo).
    The model's weights and gradients exist already (they are part of what is no longer
    available), so only what is still to come counts: optimizer state and activations.
    """
    rows = model.summary(tuple(input_shape))
    itemsize = _itemsize(model)
    need = estimate(rows, tuple(input_shape), batch_size, training, itemsize, optimizer_buffers)
    need = replace(need, params=0, grads=0)
    check_estimate(need, what or ("training" if training else "evaluation"), available_memory())
    return need


def preflight_config(
    model_cfg: Any,
    input_shape: tuple[int, ...],
    batch_size: int,
    training: bool,
    dtype: str = "float32",
    optimizer_buffers: int = 0,
    what: str | None = None,
    n_classes: int | None = None,
) -> MemoryEstimate | None:
    """Preflight from the config alone, before any weight is allocated.

    Returns None (and checks nothing) when the shapes do not fit: the builder reports that.
    """
    from conv1d_cli.build.shapes import network_shapes

    available = available_memory()
    budget = math.inf if available is None else available[0]
    found = network_shapes(model_cfg, tuple(input_shape), dtype, n_classes, budget)
    if found.error is not None:
        return None
    itemsize = np.dtype(dtype).itemsize
    need = estimate(
        found.rows, tuple(input_shape), batch_size, training, itemsize, optimizer_buffers,
        found.workspace,
    )  # fmt: skip
    check_estimate(need, what or ("training" if training else "evaluation"), available)
    return need


def summary_rows(
    model_cfg: Any, input_shape: tuple[int, ...], dtype: str, n_classes: int, name: str
) -> tuple[list[LayerInfo], str] | None:
    """For ``conv1d summary``: None when the model's weights fit in the free memory (build it;
    its rows are the engine's own), else the shape-only rows and a line saying why nothing was
    allocated. NotEnoughMemory when not even those rows can be had (a block too big to build).
    """
    from conv1d_cli.build.shapes import shape_rows

    available = available_memory()
    if available is None:
        return None
    rows, complete = shape_rows(model_cfg, tuple(input_shape), dtype, n_classes, available[0])
    if rows is None:  # a layer does not fit its input: the builder says so in its words
        return None
    need = estimate(rows, tuple(input_shape), 1, True, np.dtype(dtype).itemsize)
    built = need.params + need.grads  # building allocates the weights and their gradients
    if built <= available[0]:
        return None
    if not complete:  # a block too big to build: its output shape, so the table, is unknown;
        check_estimate(need, f"a summary of {name}", available)  # its weights alone: raises
    note = (
        f"shape-only summary, nothing allocated: building this network would take "
        f"{_size(built)} (weights and gradients) but {_size(available[0])} is available "
        f"({available[1]})"
    )
    return rows, note


def _itemsize(model: Any) -> int:
    for array in model.parameters().values():
        return int(array.itemsize)
    return 4


def _size(n_bytes: int) -> str:
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(f"{d:,}" for d in shape) + ")"
