"""The issue's sine task, built in the test: noisy sines of three frequencies, a DC offset of 10,
string labels. ``normalize: scale`` maps it into a narrow band of [0, 1] and training gets stuck;
standardized it learns in a few epochs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SINE_CLASSES = ("slow", "medium", "fast")


def make_sines(n: int = 600, length: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, length) float32, y (n,) str): 2, 4 or 8 cycles, random phase, noise std 0.5."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, size=n)
    cycles = np.array([2.0, 4.0, 8.0])[kind]
    t = np.arange(length) / length
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    x = 10.0 + np.sin(2 * np.pi * cycles[:, None] * t + phase) + rng.normal(0, 0.5, (n, length))
    return x.astype(np.float32), np.array(SINE_CLASSES)[kind]


def write_sines(path: Path, n: int = 600, seed: int = 0) -> Path:
    x, y = make_sines(n, seed=seed)
    np.savez(path, x=x, y=y)
    return path
