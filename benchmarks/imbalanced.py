"""Class weights on imbalanced data: does ``loss.class_weight: balanced`` find the rare classes?

Three waveforms (sine, square, sawtooth; random period, phase and amplitude, in Gaussian noise)
with 1,000 / 60 / 20 training series (50 : 3 : 1) and a balanced test split (``--n-test`` of
each), so every class's recall is measured on enough samples. The same config is trained with
the real ``conv1d train`` twice, without and with ``--set loss.class_weight=balanced``, and each
run's best checkpoint is scored by ``conv1d eval --json``. Prints per-class recall, accuracy,
balanced accuracy and macro F1 of both runs.

    python benchmarks/imbalanced.py [--epochs 15] [--seed 0] [--noise 0.5] [--keep DIR]

Nothing is downloaded; everything lives in a temporary folder unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

LENGTH = 128
CLASSES = ("sine", "square", "sawtooth")
COUNTS = (1000, 60, 20)  # training series per class: 50 : 3 : 1
CONFIG = """\
name: {name}
seed: {seed}
data: {{path: {path}, val_split: 0.2}}
model:
  layers:
    - {{type: conv1d, channels: 16, kernel: 7, padding: same}}
    - {{type: batchnorm1d}}
    - {{type: relu}}
    - {{type: conv1d, channels: 32, kernel: 5, padding: same}}
    - {{type: batchnorm1d}}
    - {{type: relu}}
    - {{type: globalavgpool1d}}
    - {{type: dense}}
optimizer: {{type: adam, lr: 0.003}}
train: {{epochs: {epochs}, batch_size: 32, workers: 1}}
output: {{monitor: val_balanced_acc}}  # the best epoch by the metric imbalance needs, in both runs
"""


def make_waves(
    rng: np.random.Generator, counts: tuple[int, ...], noise: float, length: int = LENGTH
) -> tuple[np.ndarray, np.ndarray]:
    """x (sum(counts), 1, length) float32 and y (sum(counts),) class names, shuffled:
    ``counts[k]`` series of waveform k, random period (12..40 steps), phase and amplitude
    (0.5..1.5), plus Gaussian noise of std ``noise``."""
    kind = np.repeat(np.arange(len(counts)), counts)
    n = len(kind)
    t = np.arange(length)[None, :]
    cycle = (t / rng.uniform(12, 40, (n, 1)) + rng.uniform(0, 1, (n, 1))) % 1.0
    waves = np.stack([np.sin(2 * np.pi * cycle), np.where(cycle < 0.5, 1.0, -1.0), 2 * cycle - 1])
    x = rng.uniform(0.5, 1.5, (n, 1)) * waves[kind, np.arange(n)] + rng.normal(
        0, noise, (n, length)
    )
    order = rng.permutation(n)
    return x[order, None, :].astype(np.float32), np.array(CLASSES)[kind[order]]


def conv1d(*args: str) -> str:
    """Run the ``conv1d`` command of this checkout; its stdout."""
    command = [sys.executable, "-m", "conv1d_cli", *args]
    return subprocess.run(
        command, check=True, capture_output=True, text=True, env={**os.environ}
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument("--n-test", type=int, default=100, help="test series per class")
    parser.add_argument("--keep", type=Path, help="work in DIR (kept) instead of a temp folder")
    parser.add_argument("--set", action="append", default=[], help="more --set for both runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(args.seed)
        x, y = make_waves(rng, COUNTS, args.noise)
        x_test, y_test = make_waves(rng, (args.n_test,) * len(CLASSES), args.noise)
        data = work / "imbalanced.npz"
        np.savez(data, x=x, y=y, x_test=x_test, y_test=y_test)
        print(f"data: {data}, training {dict(zip(CLASSES, COUNTS, strict=True))}, test "
              f"{args.n_test} per class, noise {args.noise}")  # fmt: skip
        for name, extra in (("unweighted", []), ("balanced", ["loss.class_weight=balanced"])):
            config = work / f"{name}.yaml"
            config.write_text(
                CONFIG.format(name=name, seed=args.seed, path=data, epochs=args.epochs)
            )
            sets = [arg for value in [*args.set, *extra] for arg in ("--set", value)]
            runs = str(work / "runs")
            trained = conv1d("train", str(config), "--runs-dir", runs, "--json", "--quiet", *sets)
            run_dir = json.loads(trained.splitlines()[-1])["run_dir"]
            report = json.loads(conv1d("eval", run_dir, "--json"))
            recall = "  ".join(f"{c['class']} {c['recall']:.3f}" for c in report["per_class"])
            print(
                f"{name:>10}: recall {recall}  | accuracy {report['accuracy']:.3f}  balanced "
                f"accuracy {report['balanced_accuracy']:.3f}  macro F1 {report['macro_f1']:.3f}"
                f"  (best epoch {report['epoch']}, n={report['n']})"
            )


if __name__ == "__main__":
    main()
