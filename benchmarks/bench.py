"""`make bench`: speed and memory of conv1d's NumPy engine, next to PyTorch CPU and direct loops.

    .venv/bin/python benchmarks/bench.py [--quick] [--threads N] [--no-torch] [--sections ...]

Prints Markdown tables and writes benchmarks/results.json and benchmarks/README.md; a run of
some sections keeps the other sections of the previous results.json (results_store.py). Every
engine runs in its own spawned process with the same BLAS/OpenMP thread count; the config
comparison alternates the engines repeat by repeat and quotes medians, so a ratio compares the
same minutes of a shared, noisy machine. PyTorch is optional (the torch columns are skipped
with a note when it is not importable); the data are random arrays of the right shape, except
the Fashion-MNIST epoch, which reads the IDX files when they are installed. A worker that
raises, dies or hangs is reported in one line, its comparison is marked "failed", the other
sections still run, and the exit status is 1 (supervise.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import inference  # noqa: E402  (benchmarks/ is not a package)
import largedata  # noqa: E402
import layers  # noqa: E402
import loops  # noqa: E402
import report  # noqa: E402
import results_store  # noqa: E402
import scaling  # noqa: E402
import supervise  # noqa: E402
import workers  # noqa: E402
from contention import CLEAN, Meter  # noqa: E402
from supervise import CTX, WorkerFailed, announce, in_fresh_process  # noqa: E402
from workers import NUMPY_WORKERS  # noqa: E402

from conv1d_cli.config import load_config  # noqa: E402

CONFIGS = [
    ("course", "configs/seed.yaml"),
    ("mnist", "configs/mnist.yaml"),
    ("deep", "benchmarks/deep.yaml"),
]
TARGET_TORCH_RATIO = 1.25  # numpy epoch time / torch epoch time, on mnist and deep
# The time-series templates, timed like the configs on a GunPoint-sized input with their own
# batch size; their PyTorch twins mirror the built network (benchmarks/torch_mirror.py).
TEMPLATES = [
    ("fcn", "configs/templates/fcn.yaml"),
    ("resnet1d", "configs/templates/resnet1d.yaml"),
    ("inception", "configs/templates/inception.yaml"),
]
TEMPLATE_SHAPE = (1, 150)
TARGET_TEMPLATE_RATIO = 1.1
TARGET_LOOP_SPEEDUP = 100  # engine vs direct loops, course network
TARGET_FASHION_MB = 1024
SECTIONS = (
    "layers",
    "configs",
    "templates",
    "inference",
    "loops",
    "scaling",
    "memory",
    "largedata",
)


# ------------------------------------------------------------------------------- configs
class Worker(supervise.Supervised):
    """A spawned process serving one (engine, config); see workers.serve and supervise.py."""

    def __init__(
        self, engine: str, config: str, shape: tuple, args: Any, label: str, serve: Any
    ) -> None:
        work = (engine, config, shape, args.threads)
        super().__init__(CTX, serve, work, label, args.worker_timeout)
        self.recv("building the network")

    def stop(self) -> dict:
        memory = self.ask("stopping", "stop")
        self.close()
        return memory


def compare_config(
    name: str,
    path: str,
    engines: list[str],
    args: Any,
    shape: tuple[int, int] = (1, 784),
    batch: int = 64,
    serve: Any = workers.serve,
) -> dict:
    """Train and eval samples/s of each engine on one config, rounds alternating the engines.

    Raises WorkerFailed (one line naming engine, config and what happened) when a worker
    raises, dies or stays silent past ``args.worker_timeout``; every worker is stopped then.
    """
    cfg = load_config(ROOT / path)
    pool: dict[str, Worker] = {}
    try:
        for e in engines:
            threads = f"{args.threads} thread{'s' if args.threads != 1 else ''}"
            label = f"{e} worker for config {name} ({path}, {threads})"
            pool[e] = Worker(e, str(ROOT / path), shape, args, label, serve)
        return _config_rounds(name, path, pool, args, shape, batch, cfg.train.eval_batch_size)
    finally:
        for w in pool.values():
            w.close()


def _config_rounds(
    name: str, path: str, pool: dict, args: Any, shape: tuple, batch: int, eval_batch: int
) -> dict:
    """The timed rounds of compare_config on running workers."""
    engines = list(pool)
    # Warm up every engine, then size a repeat from the engine's own step time.
    for w in pool.values():
        w.ask("warming up", "train", batch, 3)
        w.ask("warming up", "eval", eval_batch, eval_batch)
    per_step = pool["numpy"].ask("timing a step", "train", batch, 5) / 5
    steps = max(5, int(args.repeat_seconds / per_step))
    n_eval = max(
        eval_batch, int(args.repeat_seconds / per_step * batch * 3 / eval_batch) * eval_batch
    )
    train: dict[str, list[float]] = {e: [] for e in engines}
    evals: dict[str, list[float]] = {e: [] for e in engines}
    busy: list[float] = []  # per round: the largest share of the CPUs other processes used
    clean, deadline = 0, time.perf_counter() + args.config_budget_s
    for r in range(3 * args.rounds):  # extra rounds replace ones another job disturbed
        if clean >= args.rounds or (r >= args.rounds and time.perf_counter() > deadline):
            break
        others = 0.0
        for e in engines if r % 2 == 0 else engines[::-1]:  # alternate who goes first
            with Meter([pool[e].proc.pid]) as meter:
                train[e].append(steps * batch / pool[e].ask("training", "train", batch, steps))
                evals[e].append(n_eval / pool[e].ask("evaluating", "eval", eval_batch, n_eval))
            others = max(others, meter.others)
        busy.append(others)
        clean += others < CLEAN
    # Quote the undisturbed rounds when there are any, else all of them (flagged).
    keep = [i for i, b in enumerate(busy) if b < CLEAN] or list(range(len(busy)))
    train = {e: [v[i] for i in keep] for e, v in train.items()}
    evals = {e: [v[i] for i in keep] for e, v in evals.items()}
    row: dict[str, Any] = {"config": name, "path": path, "batch": batch, "steps": steps}
    row["shape"] = list(shape)
    row["rounds_used"], row["rounds_run"] = len(keep), len(busy)
    row["others_cpu"] = round(max(busy[i] for i in keep), 3)
    for e, w in pool.items():
        memory = w.stop()
        row[e] = {
            "train_samples_per_s": float(np.median(train[e])),
            "eval_samples_per_s": float(np.median(evals[e])),
            "train_samples_per_s_all": [round(v, 1) for v in train[e]],
            "peak_rss_mb": memory["peak_rss_mb"],
            "rss_base_mb": memory["rss_base_mb"],
        }
    if "torch" in row:
        # Per-round ratios first, then their median: both engines ran in the same minute.
        ratios = [t / n for n, t in zip(train["numpy"], train["torch"], strict=True)]
        row["epoch_time_ratio_numpy_over_torch"] = float(np.median(ratios))
        row["epoch_time_ratios_all"] = [round(v, 3) for v in ratios]
        row["eval_time_ratio_numpy_over_torch"] = float(
            np.median([t / n for n, t in zip(evals["numpy"], evals["torch"], strict=True)])
        )
        if NUMPY_WORKERS in row:
            ratios = [t / n for n, t in zip(train[NUMPY_WORKERS], train["torch"], strict=True)]
            row["epoch_time_ratio_workers_over_torch"] = float(np.median(ratios))
            row["epoch_time_ratios_workers_all"] = [round(v, 3) for v in ratios]
    return row


def compare_or_fail(name: str, path: str, engines: list[str], args: Any, *rest: Any) -> dict:
    """compare_config's row, or {"config", "path", "failed": line} after printing the line."""
    try:
        return compare_config(name, path, engines, args, *rest)
    except WorkerFailed as exc:
        announce(str(exc))
        return {"config": name, "path": path, "failed": str(exc)}


def with_workers(engines: list[str], args: Any) -> list[str]:
    """With 2+ threads and PyTorch to compare with, conv1d is also timed training on one
    process per thread (train.workers = threads)."""
    return engines + ([NUMPY_WORKERS] if args.threads > 1 and "torch" in engines else [])


def compare_templates(engines: list[str], args: Any) -> list[dict]:
    """Each template against its PyTorch twin: same input shape, its batch size, same threads."""
    rows = []
    for name, path in TEMPLATES:
        print(f"template {name} ...", flush=True)
        batch = load_config(ROOT / path).train.batch_size
        row = compare_or_fail(name, path, with_workers(engines, args), args, TEMPLATE_SHAPE, batch)
        row["threads"] = args.threads
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> Any:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats and shapes (~2 minutes)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument(
        "--sections", default=",".join(SECTIONS), help="comma list of " + ", ".join(SECTIONS)
    )
    p.add_argument("--no-write", action="store_true", help="print only; keep results.json as is")
    p.add_argument(
        "--worker-timeout",
        type=float,
        default=supervise.DEFAULT_TIMEOUT_S,
        help="seconds a worker may take for one reply before it is stopped and marked failed",
    )
    args = p.parse_args(argv)
    args.sections = [s for s in args.sections.split(",") if s]
    if unknown := set(args.sections) - set(SECTIONS):
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if args.worker_timeout <= 0:
        p.error("--worker-timeout must be a positive number of seconds")
    args.rounds = 3 if args.quick else 9
    args.repeat_seconds = 0.3 if args.quick else 0.8
    args.attempts = 2 if args.quick else 3
    args.config_budget_s = 30 if args.quick else 90  # for extra rounds when the CPUs are busy
    return args


def run_section(section: str, engines: list[str], args: Any) -> dict:
    """The results.json entries of one section; failed comparisons are rows with "failed"."""
    if section == "layers":
        print("layers ...", flush=True)
        repeats = 5 if args.quick else 15
        out: dict[str, Any] = {}
        for e in engines:
            try:
                out[e] = in_fresh_process(
                    *(layers.run_layers, e, args.threads, repeats),
                    attempts=args.attempts,
                    label=f"{e} worker for layers",
                    timeout=args.worker_timeout,
                )
            except WorkerFailed as exc:
                announce(str(exc))
                out[e] = {"failed": str(exc)}
        return {"layers": out}
    if section == "configs":
        out = {"configs": []}
        here = with_workers(engines, args)
        for name, path in CONFIGS:
            print(f"config {name} ...", flush=True)
            out["configs"].append(compare_or_fail(name, path, here, args))
        if args.threads > 1 and "torch" in engines:
            # The same comparison on one thread shows how much each engine gains from more.
            one = argparse.Namespace(**{**vars(args), "threads": 1, "rounds": args.rounds // 2})
            out["configs_1_thread"] = []
            for name, path in CONFIGS[1:]:
                print(f"config {name}, 1 thread ...", flush=True)
                out["configs_1_thread"].append(compare_or_fail(name, path, engines, one))
        return out
    if section == "templates":
        out = {"templates": compare_templates(engines, args)}
        if args.threads > 1 and "torch" in engines:
            # Small batches scale differently with threads in the two engines: show both.
            one = argparse.Namespace(**{**vars(args), "threads": 1})
            print("templates, 1 thread ...", flush=True)
            out["templates_1_thread"] = compare_templates(engines, one)
        return out
    if section == "inference":
        print("inference (predict/eval path) ...", flush=True)
        return {"inference": inference.run(engines, args, CTX, ROOT)}
    if section == "loops":
        print("direct loops ...", flush=True)
        samples, repeats = (4, 2) if args.quick else (8, 3)
        return {"loops": loops.run_loops(samples, repeats, args.threads)}
    if section == "scaling":
        print("scaling ...", flush=True)
        return {"scaling": scaling.run_scaling(args)}
    if section == "largedata":
        print("large data (memory-mapped .npy folder against an in-memory npz) ...", flush=True)

        def fresh(fn: Any, *rest: Any, label: str) -> Any:
            return in_fresh_process(fn, *rest, label=label, timeout=args.worker_timeout)

        return {"largedata": largedata.run(args, fresh)}
    print("Fashion-MNIST epoch ...", flush=True)
    memory = in_fresh_process(  # one attempt: peak memory does not depend on other processes
        *(workers.fashion_epoch, str(ROOT / "configs/fashion-mnist.yaml")),
        *(12000 if args.quick else None, args.threads),
        label="numpy worker for the Fashion-MNIST epoch (configs/fashion-mnist.yaml)",
        timeout=args.worker_timeout,
    )
    return {"memory": memory}


def with_targets(results: dict) -> dict:
    """``results`` with "targets" recomputed from the sections present (measured or failed)."""
    found = report.targets(results, TARGET_TORCH_RATIO, TARGET_LOOP_SPEEDUP, TARGET_FASHION_MB)
    found.update(report.template_targets(results, TARGET_TEMPLATE_RATIO))
    if isinstance(results.get("largedata"), dict) and not report.failed(results["largedata"]):
        found.update(largedata.targets(results["largedata"]))
    if isinstance(results.get("inference"), list):
        found.update(inference.targets(results["inference"]))
    return {**results, "targets": found}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections, print their tables, merge them into results.json and README.

    Exit status 1 when any comparison or section failed in this run, else 0.
    """
    args = parse_args(argv)
    has_torch = not args.no_torch and find_spec("torch") is not None
    engines = ["numpy", "torch"] if has_torch else ["numpy"]
    results: dict[str, Any] = {"meta": report.meta(args, has_torch)}
    started = time.perf_counter()
    for section in (s for s in SECTIONS if s in args.sections):
        try:
            results.update(run_section(section, engines, args))
        except WorkerFailed as exc:  # a section's single worker (memory): its own line
            announce(str(exc))
            results[results_store.keys_of(section)[0]] = {"failed": str(exc)}
        except Exception as exc:  # one broken section must not lose the others
            line = f"section {section}: {supervise.one_line(exc)}"
            announce(line)
            results[results_store.keys_of(section)[0]] = {"failed": line}
    results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    results["meta"]["load_average_at_end"] = round(os.getloadavg()[0], 2)
    results = with_targets(results)
    print()
    print(report.markdown(results))
    failed = results_store.failures(results)
    if not args.no_write:
        path = HERE / "results.json"
        previous = results_store.load_previous(path)
        merged = with_targets(results_store.merge(previous, results, args.sections, SECTIONS))
        results_store.write_json(path, merged)
        report.write_readme(HERE / "README.md", report.markdown(merged))
        kept = [s for s in merged["section_runs"] if s not in args.sections]
        note = f" (kept from earlier runs: {', '.join(kept)})" if kept else ""
        print(f"wrote {path} and {HERE / 'README.md'}{note}")
    if failed:
        print(f"{len(failed)} measurement(s) failed; see the FAILED lines above", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
