"""A checkpoint checked before anything is built from it (``conv1d eval``, ``predict``, ``train
--resume``, the estimator): a corrupt or crafted file is one CheckpointError line, never a
MemoryError or a kill.

In order, with nothing allocated but the header: the header itself (``read_checkpoint_header``:
format, version, every tensor's dtype, shape and place in the file); the stored metadata (the
config validates, the sample shape, class names and normalization are what training writes);
the stored config against the stored tensors (the shape-only pass, ``build/shapes.py``, gives
every parameter's shape by name; the first one that differs, is missing or is extra is named);
then the memory preflight for loading it (its tensors, the network's weights, one sample's
activations), so a network past the machine's memory is refused with the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.build.memory import available_memory, check_estimate, estimate
from conv1d_cli.build.shapes import NetworkShapes, network_shapes
from conv1d_cli.errors import CheckpointError, ConfigError
from conv1d_cli.rundir.checkpoints import CheckpointHeader, read_checkpoint_header

# A network's weights and batchnorm statistics are floating point (what save_checkpoint writes).
WEIGHT_DTYPES = ("F16", "F32", "F64")
NORMALIZATIONS = ("scale", "standardize", "per_sample", "none")  # data/normalization.METHODS


@dataclass(frozen=True)
class CheckedCheckpoint:
    """A checkpoint whose header, metadata and tensor shapes fit its config, and fit in memory."""

    header: CheckpointHeader
    config: Any  # the validated Config it was trained with
    sample_shape: tuple[int, int]  # (channels, length) of one input sample
    class_names: tuple[str, ...]  # () for regression
    normalization: dict[str, Any]
    task: str = "classification"
    target_names: tuple[str, ...] = ()  # regression: one per output
    target_scaling: dict[str, Any] | None = None  # regression: {"mean": [K], "std": [K]}

    @property
    def n_outputs(self) -> int:
        return len(self.target_names) if self.task == "regression" else len(self.class_names)


def check_checkpoint(path: Path) -> CheckedCheckpoint:
    """Check the checkpoint file at ``path`` as the module says; CheckpointError (or
    NotEnoughMemory) naming the file and the first thing wrong."""
    header = read_checkpoint_header(Path(path))
    path = header.path
    cfg, shape, names, normalization = _stored_metadata(header)
    task, target_names, scaling = _stored_task(header)
    n_outputs = len(target_names) if task == "regression" else len(names)
    outputs = f"{n_outputs} targets" if task == "regression" else f"{n_outputs} classes"
    available = available_memory()
    budget = math.inf if available is None else available[0]
    dtype = cfg.train.dtype
    shapes = network_shapes(cfg.model, shape, dtype, n_outputs, budget)
    if shapes.error is not None:
        raise CheckpointError(
            f"{path}: its config does not fit its own samples {shape}: {shapes.error}"
        )
    _compare_tensors(header, shapes)
    top = [row for row in shapes.rows if row.depth == 0]
    if shapes.complete and top and top[-1].output_shape != (n_outputs,):
        raise CheckpointError(
            f"{path}: its network outputs {top[-1].output_shape} per sample but it names {outputs}"
        )
    itemsize = np.dtype(dtype).itemsize
    need = estimate(shapes.rows, shape, 1, False, itemsize, workspace=shapes.workspace)
    check_estimate(replace(need, stored=header.data_bytes), f"loading {path}", available)
    return CheckedCheckpoint(header, cfg, shape, names, normalization, task, target_names, scaling)


def _stored_task(header: CheckpointHeader) -> tuple[str, tuple[str, ...], dict[str, Any] | None]:
    """(task, target names, target scaling); checkpoints from before tasks existed classify."""
    path, data = header.path, header.meta["data"]
    task = data.get("task", "classification")
    if task == "classification":
        return task, (), None
    if task != "regression":
        raise CheckpointError(f"{path}: stored task {_short(task)} is not one it writes")
    names, scaling = data.get("target_names"), data.get("target_scaling")
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise CheckpointError(f"{path}: stored target_names {_short(names)} is not a list")
    for key in ("mean", "std"):
        values = scaling.get(key) if isinstance(scaling, dict) else None
        if not (
            isinstance(values, list)
            and len(values) == len(names)
            and all(_finite(v) for v in values)
            and (key == "mean" or all(v > 0 for v in values))
        ):
            raise CheckpointError(
                f"{path}: stored target_scaling {key} {_short(values)} is not {len(names)} "
                "finite numbers" + (" (all > 0)" if key == "std" else "")
            )
    return task, tuple(names), {"mean": scaling["mean"], "std": scaling["std"]}


def _stored_metadata(
    header: CheckpointHeader,
) -> tuple[Any, tuple[int, int], tuple[str, ...], dict[str, Any]]:
    from conv1d_cli.config import load_config_dict

    path, meta = header.path, header.meta
    config, data = meta.get("config"), meta.get("data")
    if not isinstance(config, dict) or not isinstance(data, dict):
        missing = "config" if not isinstance(config, dict) else "data"
        raise CheckpointError(f"{path}: checkpoint metadata lacks its {missing!r} object")
    try:
        cfg = load_config_dict(config, str(path))
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its stored config is invalid: {exc}") from None
    except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as exc:
        raise CheckpointError(f"{path}: its stored config is unreadable ({exc})") from None
    sample = data.get("sample_shape")
    if not (isinstance(sample, list) and len(sample) == 2 and all(map(_positive_int, sample))):
        raise CheckpointError(f"{path}: stored sample_shape {sample!r} is not [channels, length]")
    names = data.get("class_names")
    regression = data.get("task") == "regression"  # no classes: an empty list
    if not (
        isinstance(names, list) and (names or regression) and all(_is_label(name) for name in names)
    ):
        raise CheckpointError(f"{path}: stored class_names {_short(names)} is not a list of names")
    normalization = _normalization(path, data.get("normalization"), sample[0])
    return cfg, (sample[0], sample[1]), tuple(str(name) for name in names), normalization


def _normalization(path: Path, stats: Any, channels: int) -> dict[str, Any]:
    """The stored statistics: a known method, and ``channels`` finite shifts and scales."""
    if not isinstance(stats, dict) or stats.get("method") not in NORMALIZATIONS:
        raise CheckpointError(f"{path}: stored normalization {_short(stats)} is not one it writes")
    for key in ("shift", "scale"):
        values = stats.get(key)
        if not (
            isinstance(values, list)
            and len(values) == channels
            and all(_finite(v) for v in values)
            and (key == "shift" or all(v != 0 for v in values))
        ):
            raise CheckpointError(
                f"{path}: stored normalization {key} {_short(values)} is not {channels} finite "
                "numbers" + (" (none 0)" if key == "scale" else "")
            )
    return dict(stats)


def _compare_tensors(header: CheckpointHeader, shapes: NetworkShapes) -> None:
    """The first stored tensor that does not fit the config (shape, dtype, missing, extra)."""
    path, stored = header.path, header.group("model.")
    for name, want in shapes.tensors.items():
        got = stored.get(name)
        where = _layer_of(name, shapes)
        if got is None:
            raise CheckpointError(
                f"{path}: the stored config's {where} needs tensor model.{name}, which the "
                "checkpoint lacks"
            )
        if got.shape != want:
            raise CheckpointError(
                f"{path}: tensor model.{name} is {_dims(got.shape)} but the stored config's "
                f"{where} needs {_dims(want)}; the file is corrupt or was edited"
            )
        if got.dtype not in WEIGHT_DTYPES:
            raise CheckpointError(f"{path}: tensor model.{name} is {got.dtype}, not floats")
    if shapes.complete and (extra := next(iter(stored.keys() - shapes.tensors.keys()), None)):
        raise CheckpointError(
            f"{path}: tensor model.{extra} belongs to no layer of the stored config"
        )


def _layer_of(name: str, shapes: NetworkShapes) -> str:
    """ "3.layers.1.W" -> "model.layers[3].layers[1] (conv1d, 8 channels, kernel 3)"."""
    prefix = name.rsplit(".", 1)[0]
    parts = prefix.split(".")
    key = "model.layers" + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts)
    row = next((row for row in shapes.rows if row.path == prefix), None)
    return key if row is None else f"{key} ({row.description or row.name})"


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_label(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _dims(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
