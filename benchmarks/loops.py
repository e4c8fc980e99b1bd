"""The direct-loops rows of `make bench`: the course network as loops vs the engine.

The loops (benchmarks/reference_loops.py) are checked against the engine's gradients on the
same batch before either is timed, so the speedup compares two implementations of one network.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from contention import CLEAN, Meter
from reference_loops import CourseNetLoops

from conv1d_cli.build.objects import build_loss, build_model, build_optimizer
from conv1d_cli.config import load_config

ROOT = Path(__file__).resolve().parents[1]


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
