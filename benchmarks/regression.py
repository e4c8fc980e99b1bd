"""Train one config on regression problems and compare with the training mean and published RMSE.

    .venv/bin/python benchmarks/regression.py configs/templates/fcn.yaml \
        DATA/Covid3Month/Covid3Month_TRAIN.ts DATA/CardanoSentiment/CardanoSentiment_TRAIN.ts
    .venv/bin/python benchmarks/regression.py --signals DIR   # writes DIR/{frequency,...}.npz

Each file trains exactly as a user would run it (``conv1d train CONFIG --set data.path=FILE``, in
a subprocess, the same config for every problem) on the file's official split (the _TEST file
beside the _TRAIN file, or x_test/y_test in an npz). Prints a Markdown table: test RMSE and R^2
here, the RMSE of predicting the training split's mean target for every test series (the bar a
model has to clear), and the published RMSE of ``published_regression.csv``: resample 0 (the
official split) of repository time-series-machine-learning/tsml-eval,
``results/regression/<Method>_rmse.csv`` (commit b7166541).

``--signals DIR`` writes three generated problems (1,000 train / 500 test series of length 128,
seed 0): a noisy sine's frequency, a noisy sine's amplitude, and the position of a Gaussian peak
on noise.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CONV1D = Path(sys.executable).with_name("conv1d")
METHODS = ("FCN", "ResNet", "InceptionT", "ROCKET", "FreshPRINCE")


def published() -> dict[str, dict[str, str]]:
    with (HERE / "published_regression.csv").open(newline="") as handle:
        return {row["problem"]: row for row in csv.DictReader(handle)}


def problem_name(path: Path) -> str:
    stem = path.stem
    return stem[: stem.upper().index("_TRAIN")] if "_TRAIN" in stem.upper() else stem


def mean_predictor_rmse(path: Path) -> float:
    """Test RMSE of predicting the training targets' mean (all training series, the official
    test split; averaged over the outputs like the runs' RMSE)."""
    from conv1d_cli.config import DataConfig
    from conv1d_cli.data import load_dataset

    data = load_dataset(DataConfig(path=str(path), val_split=0.0), 0, task="regression")
    std = np.asarray(data.target_scaling["std"])
    # Standardized test targets: the training mean is 0 there.
    return float(np.mean(np.sqrt(np.mean(np.square(data.y_test, dtype=np.float64), 0)) * std))


def train(config: str, path: Path, runs_dir: str, extra: list[str]) -> dict:
    """One ``conv1d train`` run; its JSON summary plus the wall and CPU time of the command."""
    args = [str(CONV1D), "train", config, "--set", f"data.path={path}"]
    args += ["--name", problem_name(path), "--runs-dir", runs_dir, "--quiet", "--json"]
    for setting in extra:
        args += ["--set", setting]
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{path}: conv1d train failed:\n{done.stderr}")
    summary = json.loads(done.stdout)
    summary["command_seconds"] = time.perf_counter() - started
    summary["cpu_seconds"] = _children_cpu() - cpu
    return summary


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def write_signals(folder: Path, n_train: int = 1000, n_test: int = 500, length: int = 128) -> None:
    """Three generated regression problems as npz (x, y, x_test, y_test), seed 0."""
    rng = np.random.default_rng(0)
    t = np.arange(length) / length
    folder.mkdir(parents=True, exist_ok=True)
    n = n_train + n_test

    def save(name: str, x: np.ndarray, y: np.ndarray) -> None:
        x, y = x.astype(np.float32), y.astype(np.float32)
        np.savez(
            folder / f"{name}.npz", x=x[:n_train], y=y[:n_train], x_test=x[n_train:],
            y_test=y[n_train:],
        )  # fmt: skip

    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    freq = rng.uniform(2, 10, n)  # cycles per series
    save(
        "frequency",
        np.sin(2 * np.pi * freq[:, None] * t + phase) + rng.normal(0, 0.3, (n, length)),
        freq,
    )
    amp = rng.uniform(0.5, 3, n)
    freq = rng.uniform(2, 10, (n, 1))
    save(
        "amplitude",
        amp[:, None] * np.sin(2 * np.pi * freq * t + phase) + rng.normal(0, 0.3, (n, length)),
        amp,
    )
    peak = rng.uniform(0.1, 0.9, n)  # position as a fraction of the length
    bump = np.exp(-0.5 * ((t - peak[:, None]) / 0.03) ** 2)
    save("peak", bump + rng.normal(0, 0.2, (n, length)), peak)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("config", nargs="?")
    p.add_argument("files", nargs="*", type=Path)
    p.add_argument("--runs-dir", default="runs/regression")
    p.add_argument("--set", action="append", default=[], help="extra overrides (KEY=VALUE)")
    p.add_argument("--signals", type=Path, help="write the generated problems to this folder")
    args = p.parse_args(argv)
    if args.signals is not None:
        write_signals(args.signals)
        print(f"wrote {', '.join(f'{n}.npz' for n in ('frequency', 'amplitude', 'peak'))} "
              f"to {args.signals}")  # fmt: skip
        return 0
    if not args.config or not args.files:
        p.error("give a CONFIG and one or more FILES (or --signals DIR)")
    refs = published()
    rows = []
    for path in args.files:
        load = os.getloadavg()[0]
        summary = train(args.config, path, args.runs_dir, args.set)
        name, test = problem_name(path), summary["test"]
        ref = refs.get(name, {})
        mean = mean_predictor_rmse(path)
        cells = [_num(ref.get(m)) for m in METHODS]
        wall, cpu = summary["command_seconds"] / 60, summary["cpu_seconds"] / 60
        rows.append(
            f"| {name} | {test['rmse']:.4g} | {test['r2']:.3f} | {mean:.4g} | "
            f"{' | '.join(cells)} | {summary['best']['epoch']} | {wall:.1f}, {cpu:.1f} | "
            f"{load:.1f} |"
        )
        print(rows[-1], flush=True)
    print()
    print(f"`{args.config}` {' '.join(f'--set {s}' for s in args.set)}\n")
    print(
        "| problem | ours (test RMSE) | ours R^2 | training mean | "
        + " | ".join(METHODS)
        + " | best epoch | wall, CPU minutes | load |"
    )
    print("|---" * (7 + len(METHODS)) + "|")
    print("\n".join(rows))
    return 0


def _num(value: str | None) -> str:
    return "–" if value in (None, "") else f"{float(value):.4g}"


if __name__ == "__main__":
    sys.exit(main())
