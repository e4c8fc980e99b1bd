"""A tiny regression problem built in the test: noisy sines whose frequency is the target."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_freq(n: int = 300, length: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, length) float32, y (n,) float64): 1 to 6 cycles, random phase, noise std 0.3."""
    rng = np.random.default_rng(seed)
    cycles = rng.uniform(1.0, 6.0, size=n)
    t = np.arange(length) / length
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    x = np.sin(2 * np.pi * cycles[:, None] * t + phase) + rng.normal(0, 0.3, (n, length))
    return x.astype(np.float32), cycles


def write_freq(path: Path, n: int = 300, seed: int = 0) -> Path:
    x, y = make_freq(n, seed=seed)
    np.savez(path, x=x, y=y)
    return path
