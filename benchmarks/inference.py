"""Inference rows of `make bench`: `conv1d predict`/`eval`'s path against PyTorch CPU's eval.

numpy: ``LoadedModel.logits`` on raw float32 samples (normalization included), as `conv1d
predict` runs it once a batch is read (inference/load.py, inference/fastpath.py).
torch: the same network and weights (batchnorm statistics randomised alike) in eval mode under
``torch.inference_mode()``, no normalization. Both get the same 1,000-sample batches, threads
and dtype (float32) in their own spawned processes; repeats alternate between the engines and
the ratio is the median of per-round ratios, so both are compared in the same minutes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

CONFIGS = [
    ("course", "configs/seed.yaml"),
    ("mnist", "configs/mnist.yaml"),
    ("deep", "benchmarks/deep.yaml"),
]
BATCH = 1000
SHAPE = (1, 784)


def _models(config: str) -> tuple[Any, Any, Any]:
    """(cfg, engine model, rng) with randomised batchnorm statistics."""
    from conv1d_cli.build.objects import build_model
    from conv1d_cli.config import load_config

    cfg = load_config(config)
    model = build_model(cfg.model, SHAPE, 10, np.random.default_rng(cfg.seed), "float32")
    rng = np.random.default_rng(1)
    for name, array in model.buffers().items():
        array[...] = rng.uniform(0.5, 1.5, array.shape) if "var" in name else rng.normal(0, 0.1)
    return cfg, model, rng


def serve(conn: Any, engine: str, config: str, threads: int) -> None:
    """Answer ("infer", n) with seconds for n samples in batches of BATCH; ("stop",) ends."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    import workers

    limiter = workers.limit_threads(engine, threads)
    cfg, model, rng = _models(config)
    x = rng.standard_normal((BATCH, *SHAPE), dtype=np.float32)
    if engine == "numpy":
        from conv1d_cli.inference.load import LoadedModel

        stats = {"method": "standardize", "shift": [0.0], "scale": [1.0]}
        loaded = LoadedModel(model, cfg, tuple(map(str, range(10))), SHAPE, stats)
        predict = loaded.logits
    else:
        import torch
        import torch_reference as tr

        tmodel = tr.build_torch_model(cfg.model, SHAPE, model)
        running = [b for n, b in tmodel.named_buffers() if "running" in n]
        with torch.no_grad():
            for target, (_, array) in zip(running, model.buffers().items(), strict=True):
                target.copy_(torch.from_numpy(array))
        tmodel.eval()
        predict = tr.eval_fn(tmodel)
    predict(x)  # warm-up
    conn.send({"ready": True})
    while (msg := conn.recv())[0] != "stop":
        started = time.perf_counter()
        for _ in range(0, msg[1], BATCH):
            predict(x)
        conn.send(time.perf_counter() - started)
    conn.send({"peak_rss_mb": workers.peak_rss_mb()})
    del limiter


def compare(name: str, path: str, engines: list[str], args: Any, ctx: Any, root: Path) -> dict:
    """Samples/s of each engine over interleaved rounds; numpy/torch throughput ratios.

    Raises supervise.WorkerFailed (one line: engine, config, what happened) when a worker
    raises, dies or stays silent past ``args.worker_timeout``; its processes are stopped.
    """
    from supervise import DEFAULT_TIMEOUT_S, Supervised

    timeout = getattr(args, "worker_timeout", DEFAULT_TIMEOUT_S)
    pool: dict[str, Supervised] = {}
    try:
        for engine in engines:
            label = f"{engine} worker for inference {name} ({path})"
            work = (engine, str(root / path), args.threads)
            pool[engine] = Supervised(ctx, serve, work, label, timeout)
            pool[engine].recv("building the network")
        return _rounds(name, path, engines, args, pool)
    finally:
        for worker in pool.values():
            worker.close()


def _rounds(name: str, path: str, engines: list[str], args: Any, pool: dict) -> dict:
    """The interleaved rounds of ``compare`` on running workers."""
    from contention import CLEAN, Meter

    def ask(engine: str, n: int) -> float:
        return pool[engine].ask("inferring", "infer", n)

    per_batch = ask("numpy", BATCH)
    n = BATCH * max(1, int(args.repeat_seconds / per_batch))
    rates: dict[str, list[float]] = {e: [] for e in engines}
    busy: list[float] = []
    for r in range(3 * args.rounds):  # extra rounds replace ones another job disturbed
        if sum(b < CLEAN for b in busy) >= args.rounds or (
            r >= args.rounds and r >= 2 * args.rounds
        ):
            break
        with Meter([w.proc.pid for w in pool.values()]) as meter:
            for engine in engines if r % 2 == 0 else engines[::-1]:
                rates[engine].append(n / ask(engine, n))
        busy.append(meter.others)
    keep = [i for i, b in enumerate(busy) if b < CLEAN] or list(range(len(busy)))
    row: dict[str, Any] = {"config": name, "path": path, "batch": BATCH, "samples": n}
    row["rounds_used"], row["rounds_run"] = len(keep), len(busy)
    row["others_cpu"] = round(max(busy[i] for i in keep), 3)
    for engine in engines:
        memory = pool[engine].ask("stopping", "stop")
        kept = [rates[engine][i] for i in keep]
        row[engine] = {
            "samples_per_s": float(np.median(kept)),
            "samples_per_s_all": [round(v, 1) for v in kept],
            "peak_rss_mb": memory["peak_rss_mb"],
        }
    if "torch" in row:
        ratios = [rates["numpy"][i] / rates["torch"][i] for i in keep]
        row["throughput_ratio_numpy_over_torch"] = float(np.median(ratios))
        row["throughput_ratios_all"] = [round(v, 3) for v in ratios]
    print(f"  inference {name}: {row['numpy']['samples_per_s']:,.0f} samples/s", flush=True)
    return row


def run(engines: list[str], args: Any, ctx: Any, root: Path) -> list[dict]:
    """One row per config; a comparison whose worker failed is a row with "failed" (reported)."""
    from supervise import WorkerFailed, announce

    rows = []
    for name, path in CONFIGS:
        try:
            rows.append(compare(name, path, engines, args, ctx, root))
        except WorkerFailed as exc:
            announce(str(exc))
            rows.append({"config": name, "path": path, "failed": str(exc)})
    return rows


def markdown(rows: list[dict]) -> list[str]:
    """The inference table for benchmarks/README.md."""
    has_torch = any("torch" in r for r in rows)
    header = ["config", "predict samples/s", "peak RSS MB"]
    if has_torch:
        header += ["torch eval samples/s", "torch peak MB", "throughput numpy/torch"]
    header += ["rounds kept", "others' CPU"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [
            f"{r['config']} (`{r['path']}`)",
            f"{r['numpy']['samples_per_s']:,.0f}",
            f"{r['numpy']['peak_rss_mb']:,.0f}",
        ]
        if "torch" in r:
            ratios = r["throughput_ratios_all"]
            cells += [
                f"{r['torch']['samples_per_s']:,.0f}",
                f"{r['torch']['peak_rss_mb']:,.0f}",
                f"{r['throughput_ratio_numpy_over_torch']:.2f}x "
                f"({min(ratios):.2f}-{max(ratios):.2f})",
            ]
        cells += [f"{r['rounds_used']}/{r['rounds_run']}", f"{r['others_cpu']:.0%}"]
        lines.append("| " + " | ".join(cells) + " |")
    return [
        "### Inference: `conv1d predict`/`eval` against PyTorch eval (batches of 1000)",
        "\n".join(lines),
        "predict: `LoadedModel.logits` on raw float32 samples, normalization included (the "
        "path of `conv1d predict` and `conv1d eval`); torch: the same network and weights in "
        "eval mode under `torch.inference_mode()`. Throughput numpy/torch: the median of the "
        "per-round ratios (above 1: faster than PyTorch), their range in brackets.",
    ]


def targets(rows: list[dict]) -> dict:
    """Per config: the predict path's throughput at least PyTorch eval's (ratio >= 1)."""
    out = {}
    for r in rows:
        ratio = r.get("throughput_ratio_numpy_over_torch")
        status = "not measured" if ratio is None else ("met" if ratio >= 1.0 else "not met")
        status = "failed" if "failed" in r else status
        out[f"{r['config']}: predict/eval throughput >= PyTorch eval"] = {
            "value": ratio,
            "status": status,
        }
    return out
