"""Small trained runs for the inference tests: synthetic signals in an npz with an official test
split, a YAML config, and a real (short) training run through the same functions as the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from conv1d_cli.training import setup as commands

SMALL_NET = [
    {"type": "conv1d", "channels": 6, "kernel": 5, "padding": "same"},
    {"type": "relu"},
    {"type": "maxpool1d", "kernel": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 3},
]


def signals(n: int, channels: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, C, L) noisy sines of three frequencies with a DC offset, string labels (n,)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    t = np.arange(length) / length
    phase = rng.uniform(0, 2 * np.pi, (n, channels, 1))
    x = np.sin(2 * np.pi * (2 + 3 * y)[:, None, None] * t + phase) * 2.0 + 5.0
    x += rng.normal(0, 0.3, x.shape)
    names = np.array(["low", "mid", "high"])
    return x.astype(np.float32), names[y]


def train_run(
    folder: Path,
    layers: list[dict[str, Any]] | None = None,
    *,
    channels: int = 2,
    length: int = 32,
    normalize: str = "standardize",
    epochs: int = 3,
    n: int = 150,
    dtype: str = "float32",
) -> tuple[Path, np.ndarray, np.ndarray]:
    """Train on synthetic signals; (run dir, raw test samples (N, C, L), test labels)."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y = signals(n, channels, length, seed=0)
    x_test, y_test = signals(60, channels, length, seed=1)
    data = folder / "signals.npz"
    np.savez(data, x=x, y=y, x_test=x_test, y_test=y_test)
    config = {
        "name": "run",
        "seed": 0,
        "data": {"dataset": "npz", "path": str(data), "normalize": normalize, "val_split": 0.2},
        "model": {"layers": layers or SMALL_NET},
        "optimizer": {"type": "adam", "lr": 0.01},
        "train": {"epochs": epochs, "batch_size": 16, "dtype": dtype},
        "output": {"runs_dir": str(folder / "runs"), "plots": False},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    setup = commands.setup_training(path)
    result = commands.run_training(setup)
    return result.run_dir, x_test, y_test
