"""What ``conv1d sweep`` costs per trial on top of plain ``conv1d train`` runs.

N trials of ``configs/digits.yaml`` (2 epochs, four learning rates) run one at a time two ways:
as N ``conv1d train CONFIG --set optimizer.lr=...`` commands, and as one ``conv1d sweep`` with
``--workers 1``. Seconds per trial = wall time / N (the sweep's includes its own start, the
validation of every trial config, trials.csv, best.yaml and the plot); the two ways alternate,
``--repeats`` times, and the medians are reported. The plain runs get the BLAS threads the
sweep gives its one worker (all cores).

    .venv/bin/python benchmarks/sweep_overhead.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LRS = (0.001, 0.002, 0.003, 0.004)
EPOCHS = 2


def _run(argv: list[str], cwd: Path) -> float:
    from conv1d_cli.sweep.executors import cores, thread_env

    env = {**os.environ, **thread_env(cores())}  # what the sweep sets for --workers 1
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "conv1d_cli", *argv], cwd=cwd, env=env, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def plain(folder: Path) -> float:
    total = 0.0
    for i, lr in enumerate(LRS):
        overrides = ["--set", f"optimizer.lr={lr}", "--set", f"train.epochs={EPOCHS}"]
        config = str(ROOT / "configs" / "digits.yaml")
        argv = ["train", config, "-q", "--name", f"plain-{i}", "--runs-dir", str(folder)]
        total += _run([*argv, *overrides], folder)
    return total / len(LRS)


def _sweep_file(folder: Path) -> Path:
    sweep = folder / "sweep.yaml"
    sweep.write_text(
        f"name: overhead\nconfig: {ROOT / 'configs' / 'digits.yaml'}\n"
        f"parameters:\n  optimizer.lr: {{values: {list(LRS)}}}\n"
        f"  train.epochs: {{value: {EPOCHS}}}\n"
    )
    return sweep


def swept(folder: Path) -> float:
    return _run(["sweep", str(_sweep_file(folder)), "--workers", "1"], folder) / len(LRS)


def driver_cpu(folder: Path) -> float:
    """CPU seconds the driver itself spends per trial (its own process only, not the trials):
    the part of the overhead that does not depend on the machine's load. Runs the sweep in
    this process (the command's own lazy imports, e.g. matplotlib for the plot, included)."""
    import resource

    from typer.testing import CliRunner

    from conv1d_cli.cli.app import app

    sweep = _sweep_file(folder)
    before = resource.getrusage(resource.RUSAGE_SELF)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        result = CliRunner().invoke(app, ["sweep", str(sweep), "--workers", "1"])
    finally:
        os.chdir(cwd)
    after = resource.getrusage(resource.RUSAGE_SELF)
    assert result.exit_code == 0, result.output
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used / len(LRS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    plains, sweeps = [], []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            plains.append(plain(Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            sweeps.append(swept(Path(tmp)))
        print(f"round {repeat + 1}: plain {plains[-1]:.2f} s/trial, sweep {sweeps[-1]:.2f} s/trial")
    p, s = statistics.median(plains), statistics.median(sweeps)
    print(
        f"median over {args.repeats} rounds of {len(LRS)} trials: plain conv1d train {p:.2f} s, "
        f"conv1d sweep {s:.2f} s per trial; overhead {s - p:+.2f} s per trial"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cpu = driver_cpu(Path(tmp))
    print(f"the driver's own CPU time (in-process sweep, imports included): {cpu:.2f} s per trial")


if __name__ == "__main__":
    main()
