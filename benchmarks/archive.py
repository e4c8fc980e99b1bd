"""Train one config on UCR/UEA archive problems and compare with the published deep networks.

    .venv/bin/python benchmarks/archive.py configs/templates/resnet1d.yaml \
        DATA/GunPoint/GunPoint_TRAIN.ts DATA/Coffee/Coffee_TRAIN.tsv ... [--runs-dir DIR]

Each file trains exactly as a user would run it (``conv1d train CONFIG --set data.path=FILE``, in
a subprocess, the same config for every problem) on the archive's official split (the _TEST file
beside the _TRAIN file). Prints a Markdown table: test accuracy and training time here, next to
the published accuracies in ``published_tsc.csv``, which holds means over runs read from:

- ResNet and FCN (Ismail Fawaz et al. 2019, "Deep learning for time series classification: a
  review"): repository hfawaz/dl-4-tsc, ``results/results-ucr-128.csv`` (UCR 2018 archive, 5 runs
  each; commit e0233efd) and, for the multivariate JapaneseVowels, ``results/results-mts.csv``
  (10 runs);
- InceptionTime (Ismail Fawaz et al. 2020): repository hfawaz/InceptionTime,
  ``results-InceptionTime-128.csv`` (commit 952d115e) and ``results-mts.csv`` (commit 0d623a3),
  the published ensemble of five networks.

The problem name is the file's stem up to ``_TRAIN``. Means in the last row are over the problems
that have a published ResNet result. Times: the CPU time of the whole ``conv1d train`` command
(data loading included; with ``OMP_NUM_THREADS=1`` it is the wall time on an idle core) and its
wall time on this shared machine, with the load average when it started.
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

HERE = Path(__file__).resolve().parent
CONV1D = Path(sys.executable).with_name("conv1d")


def published() -> dict[str, dict[str, str]]:
    with (HERE / "published_tsc.csv").open(newline="") as handle:
        return {row["problem"]: row for row in csv.DictReader(handle)}


def problem_name(path: Path) -> str:
    stem = path.stem
    return stem[: stem.upper().index("_TRAIN")] if "_TRAIN" in stem.upper() else stem


def train(config: str, path: Path, runs_dir: str, extra: list[str]) -> dict:
    """One ``conv1d train`` run; its JSON summary plus the wall time of the whole command."""
    name = problem_name(path)
    args = [str(CONV1D), "train", config, "--set", f"data.path={path}", "--name", name]
    args += ["--runs-dir", runs_dir, "--quiet", "--json"]
    for setting in extra:
        args += ["--set", setting]
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name}: conv1d train failed:\n{done.stderr}")
    summary = json.loads(done.stdout)
    summary["command_seconds"] = time.perf_counter() - started
    summary["cpu_seconds"] = _children_cpu() - cpu
    return summary


def _children_cpu() -> float:
    """CPU seconds (user + system) of finished child processes: on a shared machine the wall
    time depends on the neighbours, the CPU time much less."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pct(value: str | float | None) -> str:
    return "–" if value in (None, "") else f"{100 * float(value):.1f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("config")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--runs-dir", default="runs/archive")
    p.add_argument("--set", action="append", default=[], help="extra overrides (KEY=VALUE)")
    args = p.parse_args(argv)
    refs = published()
    rows, ours, theirs = [], [], []
    for path in args.files:
        load = os.getloadavg()[0]
        summary = train(args.config, path, args.runs_dir, args.set)
        name, acc = problem_name(path), summary["test"]["accuracy"]
        ref = refs.get(name, {})
        wall, cpu = summary["command_seconds"] / 60, summary["cpu_seconds"] / 60
        rows.append(
            f"| {name} | {_pct(acc)} | {_pct(ref.get('resnet'))} | {_pct(ref.get('fcn'))} | "
            f"{_pct(ref.get('inceptiontime'))} | {cpu:.1f} | {wall:.1f} | {load:.1f} |"
        )
        print(rows[-1], flush=True)
        if ref.get("resnet"):
            ours.append(acc)
            theirs.append(float(ref["resnet"]))
    print()
    print(f"`{args.config}`, the same config for every problem.\n")
    print(
        "| problem | ours (test %) | ResNet | FCN | InceptionTime | CPU minutes | wall minutes "
        "| load |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if ours:
        print(
            f"| mean of {len(ours)} with a published ResNet | {100 * sum(ours) / len(ours):.1f} | "
            f"{100 * sum(theirs) / len(theirs):.1f} | | | | | |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
