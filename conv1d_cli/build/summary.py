"""``conv1d summary``: per-layer output shapes, parameters and multiply-accumulates of a network.

A network too big to build is summarised from the shape-only pass (``shapes.py``) instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.build.memory import summary_rows
from conv1d_cli.build.objects import build_model
from conv1d_cli.config import resolve_config
from conv1d_cli.data import Dataset, load_dataset


@dataclass
class ModelSummary:
    input_shape: tuple[int, ...]
    rows: list[Any]  # the engine's LayerInfo: path, depth, name, output_shape, n_params, macs
    total_params: int
    total_macs: int
    data: str
    note: str = ""  # why the rows come from the shape-only pass (a network too big to build)
    task: str = "classification"  # what the data made of the config's task (auto settled)
    n_outputs: int = 0  # the network's output width: classes, or regression targets K


def summarize_model(config_path: Path, overrides: Sequence[str] = ()) -> ModelSummary:
    """Per-layer output shapes, parameters and multiply-accumulates for one sample."""
    cfg = resolve_config(config_path, overrides)
    data = load_dataset(cfg.data, cfg.seed, purpose="eval", task=cfg.task)
    shape = data.sample_shape
    shape_only = summary_rows(cfg.model, shape, cfg.train.dtype, data.n_outputs, cfg.name)
    if shape_only is not None:  # too big to build: the same rows, computed without weights
        return _summary_of(data, *shape_only)
    rng = np.random.default_rng(cfg.seed)
    model = build_model(cfg.model, data.sample_shape, data.n_outputs, rng, cfg.train.dtype)
    return summarize(model, data)


def summarize(model: Any, data: Dataset) -> ModelSummary:
    return _summary_of(data, model.summary(tuple(data.sample_shape)))


def _summary_of(data: Dataset, rows: list[Any], note: str = "") -> ModelSummary:
    input_shape = tuple(data.sample_shape)
    top = [row for row in rows if row.depth == 0]  # a block's row already counts its insides
    return ModelSummary(
        input_shape,
        rows,
        sum(row.n_params for row in top),
        sum(row.macs for row in top),
        data.description,
        note,
        data.task,
        data.n_outputs,
    )
