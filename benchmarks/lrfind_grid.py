"""The learning-rate finder against a grid: does lr-find's suggestion land near the best rate?

    python benchmarks/lrfind_grid.py CONFIG --rates 0.001,0.01,0.1 [--set KEY=VALUE ...]
    python benchmarks/lrfind_grid.py --sines DIR   # writes DIR/sines.ts and DIR/sines.yaml

Trains CONFIG once per rate (in a temporary runs folder, deleted after) and prints a table of
test accuracy and loss per rate, then the finder's two suggestions (steepest descent, valley)
on the same config. ``--sines`` writes issue 24's case: 450 noisy sines in one ``.ts`` file,
three classes by frequency, and the minimal config that is stuck at chance with lr 0.001.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

SINES_CONFIG = """\
# issue 24's case: a minimal network on 450 noisy sines; at the default lr 0.001 it stays at chance
name: sines
data:
  path: {path}
model:
  layers:
    - {{type: conv1d, channels: 8, kernel: 9}}
    - {{type: relu}}
    - {{type: globalavgpool1d}}
    - {{type: dense}}
train: {{epochs: 15}}
"""


def write_sines(folder: Path, n: int = 450, length: int = 128, seed: int = 0) -> Path:
    """``folder/sines.ts`` (n series, 3 classes: 3, 6 or 12 periods, each +-10%, random phase,
    Gaussian noise of 0.5) and ``folder/sines.yaml``; returns the config's path."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    classes = {"slow": 3.0, "mid": 6.0, "fast": 12.0}
    rows = []
    for i in range(n):
        name = list(classes)[i % 3]
        periods = classes[name] * (1 + rng.uniform(-0.1, 0.1))
        phase = rng.uniform(0, 2 * np.pi)
        x = np.sin(2 * np.pi * periods * t / length + phase) + rng.normal(0, 0.5, length)
        rows.append(",".join(f"{v:.5f}" for v in x) + f":{name}")
    header = [
        "@problemName Sines",
        "@timeStamps false",
        "@missing false",
        "@univariate true",
        "@equalLength true",
        f"@seriesLength {length}",
        "@classLabel true slow mid fast",
        "@data",
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sines.ts").write_text("\n".join(header + rows) + "\n")
    config = folder / "sines.yaml"
    config.write_text(SINES_CONFIG.format(path=(folder / "sines.ts").resolve()))
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", type=Path)
    parser.add_argument("--rates", default="")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--sines", type=Path, help="write the sine case into this folder")
    args = parser.parse_args()
    if args.sines:
        print(f"wrote {write_sines(args.sines)}")
        if args.config is None:
            return
    from conv1d_cli.config import resolve_config
    from conv1d_cli.data import load_dataset
    from conv1d_cli.training import lrfind
    from conv1d_cli.training.setup import run_training, settle_task, setup_training

    rates = [float(r) for r in args.rates.split(",") if r]
    with tempfile.TemporaryDirectory() as runs:
        print("| rate | test accuracy | test loss |")
        print("|---|---|---|")
        for rate in rates:
            overrides = [*args.overrides, f"optimizer.lr={rate}", "output.plots=false"]
            setup = setup_training(args.config, overrides, runs_dir=runs)
            test = run_training(setup).summary["test"]
            print(f"| {rate:g} | {test['accuracy']:.4f} | {test['loss']:.4f} |", flush=True)
    cfg = resolve_config(args.config, args.overrides)
    data = load_dataset(cfg.data, cfg.seed, task=cfg.task)
    sweep = lrfind.find_lr(settle_task(cfg, data.task, len(data.y_val) > 0), data)
    print(
        f"lr-find ({sweep.batches} batches): steepest {sweep.suggested_lr:.3g}, "
        f"valley {sweep.valley_lr:.3g}"
    )


if __name__ == "__main__":
    main()
