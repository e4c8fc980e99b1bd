"""Do the explanations point at the evidence? A task where we know where it is.

Each series (1 channel, 128 steps) holds one smooth bump at a random position in noise; the
class is the bump's width (6, 14 or 28 steps). A small FCN is trained with the real
``conv1d train`` on an ``.npz``; then, for every test sample and every method of
``conv1d explain``, the peak of |attribution| summed over channels is a hit when it lies within
``TOLERANCE`` steps of the bump (0 inside it). Prints one line per method and the accuracy.

    python benchmarks/explain_bump.py [--epochs 15] [--seed 0] [--keep DIR]

Nothing is downloaded; everything lives in a temporary folder unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

LENGTH = 128
WIDTHS = (6, 14, 28)
NAMES = np.array(["narrow", "medium", "wide"])  # the class names the pictures show
TOLERANCE = 10
CONFIG = """\
name: bumps
seed: {seed}
data: {{path: {path}, val_split: 0.0}}
model:
  layers:
    - {{type: conv1d, channels: 16, kernel: 7, padding: same}}
    - {{type: batchnorm1d}}
    - {{type: relu}}
    - {{type: conv1d, channels: 32, kernel: 5, padding: same}}
    - {{type: batchnorm1d}}
    - {{type: relu}}
    - {{type: conv1d, channels: 32, kernel: 3, padding: same}}
    - {{type: batchnorm1d}}
    - {{type: relu}}
    - {{type: globalavgpool1d}}
    - {{type: dense}}
optimizer: {{type: adam, lr: 0.005}}
schedule: {{type: cosine}}
train: {{epochs: {epochs}, batch_size: 32, workers: 1}}
output: {{monitor: train_loss}}
"""


def make_bumps(
    rng: np.random.Generator, n: int, length: int = LENGTH, widths: tuple[int, ...] = WIDTHS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (n, 1, length) float32, y (n,) the width's index, spans (n, 2) [start, stop) of each
    bump: a raised cosine of height 1 at a uniform position, in Gaussian noise (std 0.25)."""
    y = rng.integers(0, len(widths), n)
    width = np.asarray(widths)[y]
    start = rng.integers(0, length - width + 1)
    steps = np.arange(length)[None, :] - start[:, None]  # (n, length) position in the bump
    inside = (steps >= 0) & (steps < width[:, None])
    bump = 0.5 - 0.5 * np.cos(2 * np.pi * (steps + 0.5) / width[:, None])
    x = np.where(inside, bump, 0.0) + rng.normal(0, 0.25, (n, length))
    spans = np.stack([start, start + width], axis=1)
    return x[:, None, :].astype(np.float32), y.astype(np.int64), spans


def hit_rate(attributions: np.ndarray, spans: np.ndarray, tolerance: int = TOLERANCE) -> float:
    """Share of samples whose peak of |attribution| (summed over channels) is within
    ``tolerance`` steps of [start, stop)."""
    peak = np.argmax(np.abs(attributions).sum(axis=1), axis=1)
    distance = np.maximum(spans[:, 0] - peak, 0) + np.maximum(peak - (spans[:, 1] - 1), 0)
    return float(np.mean(distance <= tolerance))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=1200)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--keep", type=Path, help="work in DIR (kept) instead of a temp folder")
    args = parser.parse_args()

    from conv1d_cli.inference.explain import METHODS
    from conv1d_cli.inference.load import load_model

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(args.seed)
        x, y, _ = make_bumps(rng, args.n_train)
        x_test, y_test, spans = make_bumps(rng, args.n_test)
        data = work / "bumps.npz"
        y, y_test = NAMES[y], NAMES[y_test]
        np.savez(data, x=x, y=y, x_test=x_test, y_test=y_test)
        np.savez(work / "bumps-test.npz", x=x_test, y=y_test)  # for conv1d explain / show
        np.save(work / "spans_test.npy", spans)
        config = work / "bumps.yaml"
        config.write_text(CONFIG.format(seed=args.seed, path=data, epochs=args.epochs))
        run = subprocess.run(
            [sys.executable, "-m", "conv1d_cli", "train", str(config), "--runs-dir",
             str(work / "runs"), "--json"],
            check=True, capture_output=True, text=True, env={**os.environ},
        )  # fmt: skip
        run_dir = Path(__import__("json").loads(run.stdout.splitlines()[-1])["run_dir"])
        loaded = load_model(run_dir)
        accuracy = float(np.mean(loaded.predict(x_test) == y_test))
        print(f"run {run_dir}: test accuracy {accuracy:.3f} (n={len(y_test)})")
        for method in METHODS:
            rate = hit_rate(loaded.explain(x_test, method=method), spans)
            print(f"{method:>18}: peak within {TOLERANCE} steps of the bump for {rate:.1%}")


if __name__ == "__main__":
    main()
