"""`make bench`: speed and memory of conv1d's NumPy engine, next to PyTorch CPU and direct loops.

    .venv/bin/python benchmarks/bench.py [--quick] [--threads N] [--no-torch] [--sections ...]

Prints Markdown tables and writes benchmarks/results.json and benchmarks/README.md. Every
engine runs in its own spawned process with the same BLAS/OpenMP thread count; the config
comparison alternates the engines repeat by repeat and quotes medians, so a ratio compares the
same minutes of a shared, noisy machine. PyTorch is optional (the torch columns are skipped
with a note when it is not importable); the data are random arrays of the right shape, except
the Fashion-MNIST epoch, which reads the IDX files when they are installed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
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
import layers  # noqa: E402
import report  # noqa: E402
import workers  # noqa: E402
from contention import CLEAN, Meter  # noqa: E402
from reference_loops import CourseNetLoops  # noqa: E402

from conv1d_cli.build import build_loss, build_model, build_optimizer  # noqa: E402
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
SECTIONS = ("layers", "configs", "templates", "inference", "loops", "scaling", "memory")
CTX = mp.get_context("spawn")  # a fresh interpreter per measurement: clean memory, no forks


def in_fresh_process(fn: Any, *args: Any, attempts: int = 1) -> Any:
    """fn(*args) in a fresh process; retried while other processes were busy, least busy kept.

    A dict result gets "others_cpu": the share of the CPUs other processes used meanwhile.
    """
    best = None
    for _ in range(attempts):
        with Meter() as meter, CTX.Pool(1) as pool:
            result = pool.apply(fn, args)
        if best is None or meter.others < best[1]:
            best = (result, meter.others)
        if meter.others < CLEAN:
            break
    result, others = best
    if isinstance(result, dict):
        result["others_cpu"] = round(others, 3)
    return result


# ------------------------------------------------------------------------------- configs
class Worker:
    """A spawned process serving one (engine, config); see workers.serve."""

    def __init__(self, engine: str, config: str | dict, shape: tuple, threads: int) -> None:
        self.conn, child = CTX.Pipe()
        self.proc = CTX.Process(target=workers.serve, args=(child, engine, config, shape, threads))
        self.proc.start()
        self.conn.recv()

    def ask(self, *msg: Any) -> Any:
        self.conn.send(msg)
        return self.conn.recv()

    def stop(self) -> dict:
        memory = self.ask("stop")
        self.proc.join()
        return memory


def compare_config(
    name: str,
    path: str,
    engines: list[str],
    args: Any,
    shape: tuple[int, int] = (1, 784),
    batch: int = 64,
) -> dict:
    cfg = load_config(ROOT / path)
    eval_batch = cfg.train.eval_batch_size
    pool = {e: Worker(e, str(ROOT / path), shape, args.threads) for e in engines}
    # Warm up every engine, then size a repeat from the engine's own step time.
    for w in pool.values():
        w.ask("train", batch, 3)
        w.ask("eval", eval_batch, eval_batch)
    per_step = pool["numpy"].ask("train", batch, 5) / 5
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
                train[e].append(steps * batch / pool[e].ask("train", batch, steps))
                evals[e].append(n_eval / pool[e].ask("eval", eval_batch, n_eval))
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
    return row


def compare_templates(engines: list[str], args: Any) -> list[dict]:
    """Each template against its PyTorch twin: same input shape, its batch size, same threads."""
    rows = []
    for name, path in TEMPLATES:
        print(f"template {name} ...", flush=True)
        batch = load_config(ROOT / path).train.batch_size
        rows.append(compare_config(name, path, engines, args, TEMPLATE_SHAPE, batch))
    return rows


# --------------------------------------------------------------------------------- loops
def run_loops(n_samples: int, repeats: int, threads: int) -> dict:
    """Direct-loop course network vs the engine, timed in alternation in this process.

    The loops' gradients are first checked against the engine's on the same batch. The engine
    runs its usual batch of 64; the loops, being ~1000x slower, only ``n_samples`` samples.
    """
    from threadpoolctl import threadpool_limits

    cfg = load_config(ROOT / "configs/seed.yaml")
    model = build_model(cfg.model, (1, 784), 10, np.random.default_rng(0), "float32")
    rng = np.random.default_rng(1)
    x = rng.random((64, 1, 784), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    loss_fn, optimizer = build_loss(cfg.loss), build_optimizer(cfg.optimizer)
    loss_fn.forward(model.forward(x[:n_samples]), y[:n_samples])
    model.backward(loss_fn.backward())
    ref = CourseNetLoops(model.parameters(), cfg.optimizer.lr)
    _, grads = ref.train_step(x[:n_samples], y[:n_samples])
    engine_grads = model.gradients()
    max_diff = max(float(np.max(np.abs(g - engine_grads[k]))) for k, g in grads.items())
    assert max_diff < 1e-4, f"loop reference disagrees with the engine by {max_diff}"

    def engine_step() -> None:  # the Trainer's step, as in workers.Net
        logits = model.forward(x)
        loss_fn.forward(logits, y)
        model.backward(loss_fn.backward())
        optimizer.step(model.parameters(), model.gradients())

    def timed(fn: Any, samples: int, times: int = 1) -> float:
        started = time.perf_counter()
        for _ in range(times):
            fn()
        return samples * times / (time.perf_counter() - started)

    rates: dict[str, list[float]] = {"loops": [], "loops_eval": [], "engine": [], "engine_eval": []}
    xs, ys = x[:n_samples], y[:n_samples]
    with threadpool_limits(limits=threads):
        engine_step()
        busy = []
        for _ in range(3 * repeats):  # extra pairs replace ones another job disturbed
            if sum(b < CLEAN for b in busy) >= repeats:
                break
            with Meter() as meter:
                rates["loops"].append(timed(lambda: ref.train_step(xs, ys), n_samples))
                rates["loops_eval"].append(timed(lambda: ref.forward(xs), n_samples))
                rates["engine"].append(timed(engine_step, 64, 20))
                model.eval()
                rates["engine_eval"].append(timed(lambda: model.forward(x), 64, 20))
                model.train()
            busy.append(meter.others)
    keep = [i for i, b in enumerate(busy) if b < CLEAN] or list(range(len(busy)))
    rates = {k: [v[i] for i in keep] for k, v in rates.items()}
    med = {k: float(np.median(v)) for k, v in rates.items()}
    return {
        "samples": n_samples,
        "train_samples_per_s": med["loops"],
        "eval_samples_per_s": med["loops_eval"],
        "engine_train_samples_per_s": med["engine"],
        "engine_eval_samples_per_s": med["engine_eval"],
        "train_speedup": float(
            np.median([e / lp for e, lp in zip(rates["engine"], rates["loops"], strict=True)])
        ),
        "eval_speedup": float(
            np.median(
                [e / lp for e, lp in zip(rates["engine_eval"], rates["loops_eval"], strict=True)]
            )
        ),
        "max_grad_diff_vs_engine": max_diff,
        "others_cpu": round(max(busy[i] for i in keep), 3),
    }


# ------------------------------------------------------------------------------- scaling
def scaling_config(channels: int) -> dict:
    """A length-agnostic network (global pooling before the classifier) for the scaling runs."""
    return {
        "model": {
            "layers": [
                {"type": "conv1d", "channels": channels, "kernel": 7, "stride": 2, "padding": 3},
                {"type": "relu"},
                {"type": "conv1d", "channels": channels, "kernel": 5, "padding": "same"},
                {"type": "relu"},
                {"type": "maxpool1d", "kernel": 2},
                {"type": "globalavgpool1d"},
                {"type": "dense", "units": 10},
            ]
        },
        "optimizer": {"type": "adam", "lr": 0.001},
    }


def largest_cols_mb(channels: int, length: int, batch: int) -> float:
    """Largest convolution working buffer of the scaling network, per the engine's chunking."""
    from conv1d_cli.nn import functional as fn

    half = -(-length // 2)
    biggest = 0
    # (C_in, K, stride, C_out, padded length, output length) of its two convolutions
    for c, k, s, o, lp, out_len in (
        (1, 7, 2, channels, length + 6, half),
        (channels, 5, 1, channels, half + 4, half),
    ):
        chunk = fn._work_chunk(batch, c, k, o, s, lp, out_len, 4)
        taps = fn.uses_taps(c, k, s, c * k * batch * out_len * 4)
        per_sample = (c + 2 * o) * lp if taps else c * k * out_len
        biggest = max(biggest, chunk * per_sample * 4)
    return biggest / 2**20


def run_scaling(args: Any) -> list[dict]:
    quick = args.quick
    lengths = [784, 4096, 16384] if quick else [784, 2048, 4096, 8192, 16384]
    grid = [("length", 32, n, 64) for n in lengths]
    grid += [("channels", c, 784, 64) for c in ([16, 64] if quick else [16, 32, 64, 128])]
    grid += [("batch", 32, 784, b) for b in ([16, 256] if quick else [16, 64, 256])]
    rows = []
    for axis, channels, length, batch in grid:
        steps = 2 if quick else 4
        out = in_fresh_process(
            workers.scaling_run,
            *(scaling_config(channels), (1, length), batch, steps, args.threads),
            attempts=args.attempts,
        )
        out.update(axis=axis, channels=channels, length=length, batch=batch)
        out["samples_per_s"] = batch / out["step_s"]
        out["largest_cols_mb"] = largest_cols_mb(channels, length, batch)
        rows.append(out)
        print(
            f"  scaling {axis}: C={channels} L={length} N={batch}: "
            f"{out['step_s'] * 1000:.1f} ms/step"
        )
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
    args = p.parse_args(argv)
    args.sections = [s for s in args.sections.split(",") if s]
    if unknown := set(args.sections) - set(SECTIONS):
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")
    args.rounds = 3 if args.quick else 9
    args.repeat_seconds = 0.3 if args.quick else 0.8
    args.attempts = 2 if args.quick else 3
    args.config_budget_s = 30 if args.quick else 90  # for extra rounds when the CPUs are busy
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    has_torch = not args.no_torch and find_spec("torch") is not None
    engines = ["numpy", "torch"] if has_torch else ["numpy"]
    results: dict[str, Any] = {"meta": report.meta(args, has_torch)}
    started = time.perf_counter()
    if "layers" in args.sections:
        print("layers ...", flush=True)
        repeats = 5 if args.quick else 15
        results["layers"] = {
            e: in_fresh_process(layers.run_layers, e, args.threads, repeats, attempts=args.attempts)
            for e in engines
        }
    if "configs" in args.sections:
        results["configs"] = []
        for name, path in CONFIGS:
            print(f"config {name} ...", flush=True)
            results["configs"].append(compare_config(name, path, engines, args))
        if args.threads > 1 and has_torch:
            # The same comparison on one thread shows how much each engine gains from more.
            one = argparse.Namespace(**{**vars(args), "threads": 1, "rounds": args.rounds // 2})
            results["configs_1_thread"] = []
            for name, path in CONFIGS[1:]:
                print(f"config {name}, 1 thread ...", flush=True)
                results["configs_1_thread"].append(compare_config(name, path, engines, one))
    if "templates" in args.sections:
        results["templates"] = compare_templates(engines, args)
    if "inference" in args.sections:
        print("inference (predict/eval path) ...", flush=True)
        results["inference"] = inference.run(engines, args, CTX, ROOT)
    if "loops" in args.sections:
        print("direct loops ...", flush=True)
        results["loops"] = run_loops(4 if args.quick else 8, 2 if args.quick else 3, args.threads)
    if "scaling" in args.sections:
        print("scaling ...", flush=True)
        results["scaling"] = run_scaling(args)
    if "memory" in args.sections:
        print("Fashion-MNIST epoch ...", flush=True)
        limit = 12000 if args.quick else None
        results["memory"] = in_fresh_process(
            workers.fashion_epoch, str(ROOT / "configs/fashion-mnist.yaml"), limit, args.threads
        )  # one attempt: peak memory does not depend on other processes
    results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    results["meta"]["load_average_at_end"] = round(os.getloadavg()[0], 2)
    results["targets"] = report.targets(
        results, TARGET_TORCH_RATIO, TARGET_LOOP_SPEEDUP, TARGET_FASHION_MB
    )
    results["targets"].update(report.template_targets(results, TARGET_TEMPLATE_RATIO))
    if "inference" in results:
        results["targets"].update(inference.targets(results["inference"]))
    text = report.markdown(results)
    print()
    print(text)
    if not args.no_write:
        (HERE / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        report.write_readme(HERE / "README.md", text)
        print(f"wrote {HERE / 'results.json'} and {HERE / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
