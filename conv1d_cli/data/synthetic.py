"""A small example of "your own signals": three kinds of noisy 1-D waveforms with string labels.

    python -m conv1d_cli.data.synthetic examples/signals.npz

writes ``x`` (N, 1, 128) float32 and ``y`` (N,) strings (``sine``, ``square``, ``sawtooth``),
the layout ``dataset: npz`` reads (configs/signals.yaml).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from conv1d_cli.rundir.atomic import atomic_write_bytes

CLASSES = ("sine", "square", "sawtooth")


def make_signals(
    n_per_class: int = 200, length: int = 128, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(x (3*n_per_class, 1, length) float32, y (3*n_per_class,) str): random periods, phases,
    amplitudes and Gaussian noise, so the classes differ only in waveform shape."""
    rng = np.random.default_rng(seed)
    n = n_per_class * len(CLASSES)
    t = np.arange(length)[None, :]
    period = rng.uniform(12, 40, size=(n, 1))
    phase = rng.uniform(0, 1, size=(n, 1))
    amplitude = rng.uniform(0.5, 2.0, size=(n, 1))
    cycle = (t / period + phase) % 1.0  # position within the period, in [0, 1)
    kind = np.repeat(np.arange(len(CLASSES)), n_per_class)
    waves = np.stack([np.sin(2 * np.pi * cycle), np.where(cycle < 0.5, 1.0, -1.0), 2 * cycle - 1])
    x = amplitude * waves[kind, np.arange(n)] + rng.normal(0, 0.3, size=(n, length))
    order = rng.permutation(n)
    return x[order, None, :].astype(np.float32), np.array(CLASSES)[kind[order]]


def write_example_signals(path: Path, seed: int = 0) -> Path:
    """Write the example file atomically (never a half-written file) and return its path."""
    import io

    x, y = make_signals(seed=seed)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=x, y=y)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m conv1d_cli.data.synthetic PATH.npz", file=sys.stderr)
        return 2
    path = write_example_signals(Path(argv[0]))
    print(f"wrote {path}: {len(CLASSES)} classes ({', '.join(CLASSES)}), 600 samples of (1, 128)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
