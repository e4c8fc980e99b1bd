"""Measurements that run in their own process, so timings and peak memory are not disturbed.

Each engine (``numpy`` = conv1d's engine, ``torch`` = PyTorch CPU) gets a fresh spawned process
with BLAS/OpenMP limited to the same number of threads. ``serve`` answers timing commands sent
over a pipe, so the parent can alternate engines repeat by repeat and take ratios from the same
minutes of a noisy shared machine. Peak memory is the process's ``ru_maxrss`` (resident set,
everything included: interpreter, libraries, data); ``rss_base`` is the same before the run.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from conv1d_cli.build.objects import build_loss, build_model, build_optimizer
from conv1d_cli.config import load_config, load_config_dict
from conv1d_cli.data.idx import read_idx
from conv1d_cli.inference.fastpath import InferenceRunner
from conv1d_cli.parallel.alloc import keep_freed_memory
from conv1d_cli.parallel.dataparallel import DataParallel

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

# Both engines run with the malloc setting the conv1d command uses (conv1d_cli/parallel/alloc.py).
keep_freed_memory()


def peak_rss_mb() -> float:
    """Peak resident set of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_cfg(config: str | dict) -> Any:
    return load_config_dict(config, "<bench>") if isinstance(config, dict) else load_config(config)


def limit_threads(engine: str, threads: int) -> Any:
    limiter = threadpool_limits(limits=threads)  # held for the process's lifetime
    if engine == "torch":
        import torch

        torch.set_num_threads(threads)
    return limiter


# conv1d's engine training on one process per thread (train.workers = threads, each process
# with one BLAS thread; conv1d_cli/parallel/dataparallel.py); its eval is "numpy"'s.
NUMPY_WORKERS = "numpy-workers"


class Net:
    """One network in one engine with numpy-facing ``train_step(x, y)`` and ``predict(x)``."""

    def __init__(
        self, engine: str, config: str | dict, input_shape: tuple[int, int], threads: int = 1
    ) -> None:
        cfg = load_cfg(config)
        self.cfg = cfg
        rng = np.random.default_rng(cfg.seed)
        model = build_model(cfg.model, input_shape, 10, rng, "float32")
        self.parallel = None
        if engine == NUMPY_WORKERS and threads > 1:
            self.parallel = DataParallel(model, threads)
            self._numpy(self.parallel, cfg, input_shape)
        elif engine in ("numpy", NUMPY_WORKERS):
            self._numpy(model, cfg, input_shape)
        else:
            import torch_reference as tr

            tmodel = tr.build_torch_model(cfg.model, input_shape, model)
            self.train_step = tr.train_step_fn(
                tmodel, tr.build_torch_optimizer(cfg.optimizer, tmodel)
            )
            self.predict = tr.eval_fn(tmodel)
            self.train_mode = lambda: tmodel.train()
            self.eval_mode = lambda: tmodel.eval()

    def _numpy(self, model: Any, cfg: Any, input_shape: tuple[int, int]) -> None:
        loss_fn, optimizer = build_loss(cfg.loss), build_optimizer(cfg.optimizer)

        def train_step(x: np.ndarray, y: np.ndarray) -> float:
            # The Trainer's step (conv1d_cli/training/loop.py) minus logging and the schedule.
            logits = model.forward(x)
            loss = float(loss_fn.forward(logits, y))
            model.backward(loss_fn.backward(), input_grad=False)
            optimizer.step(model.parameters(), model.gradients())
            int(np.count_nonzero(np.argmax(logits, axis=1) == y))
            return loss

        self.train_step = train_step
        # conv1d eval/predict's forward pass (inference/fastpath.py), as the eval column says.
        inner = model.model if isinstance(model, DataParallel) else model
        self.predict = InferenceRunner(inner, tuple(input_shape)).logits
        self.train_mode, self.eval_mode = model.train, model.eval


def serve(conn: Any, engine: str, config: str | dict, input_shape: tuple, threads: int) -> None:
    """Build the net, then answer ("train", batch, steps) / ("eval", batch, n) / ("stop",)."""
    sys.path.insert(0, str(Path(__file__).parent))
    limiter = limit_threads(engine, threads)
    rng = np.random.default_rng(0)
    rss_base = peak_rss_mb()
    net = Net(engine, config, tuple(input_shape), threads)
    data: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    conn.send({"ready": True})
    while True:
        msg = conn.recv()
        if msg[0] == "stop":
            if net.parallel is not None:
                net.parallel.close()
            conn.send({"rss_base_mb": rss_base, "peak_rss_mb": peak_rss_mb()})
            break
        kind, batch, count = msg
        if batch not in data:  # random data: speed does not depend on the values
            n = max(batch * 8, 1000)
            data[batch] = (
                rng.standard_normal((n, *input_shape), dtype=np.float32),
                rng.integers(0, 10, n),
            )
        x, y = data[batch]
        if kind == "train":
            net.train_mode()
            started = time.perf_counter()
            for i in range(count):
                j = (i * batch) % (len(x) - batch + 1)
                net.train_step(x[j : j + batch], y[j : j + batch])
            conn.send(time.perf_counter() - started)
        else:
            net.eval_mode()
            started = time.perf_counter()
            done = 0
            while done < count:
                net.predict(x[: min(batch, count - done)])
                done += batch
            conn.send(time.perf_counter() - started)
    del limiter


def scaling_run(config: dict, input_shape: tuple, batch: int, steps: int, threads: int) -> dict:
    """Seconds per training step and peak memory of the engine for one shape (own process)."""
    limiter = limit_threads("numpy", threads)
    rss_base = peak_rss_mb()
    net = Net("numpy", config, tuple(input_shape))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *input_shape), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    net.train_step(x, y)  # warm-up: first-touch allocations, BLAS start-up
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        net.train_step(x, y)
        times.append(time.perf_counter() - started)
    del limiter
    return {
        "step_s": float(np.median(times)),
        "rss_base_mb": rss_base,
        "peak_rss_mb": peak_rss_mb(),
    }


def fashion_arrays(limit: int | None) -> tuple[np.ndarray, ...] | None:
    """(x_train, y_train, x_test, y_test) as (N, 1, 784) float32 in [0, 1], or None if absent."""
    files = [
        FASHION_DIR / f"{name}.gz"
        for name in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        )
    ]
    if not all(f.exists() for f in files):
        return None
    xtr, ytr, xte, yte = (read_idx(f) for f in files)
    if limit:
        xtr, ytr = xtr[:limit], ytr[:limit]

    def as_x(a: np.ndarray) -> np.ndarray:
        return (a.reshape(len(a), 1, 784).astype(np.float32)) * np.float32(1 / 255)

    return as_x(xtr), ytr.astype(np.int64), as_x(xte), yte.astype(np.int64)


def fashion_epoch(config: str, limit: int | None, threads: int) -> dict:
    """One training epoch + test evaluation of ``config`` on Fashion-MNIST: time and peak RSS."""
    limiter = limit_threads("numpy", threads)
    rss_base = peak_rss_mb()
    arrays = fashion_arrays(limit)
    source = "IDX files in /usr/share/datasets/fashion-mnist"
    if arrays is None:  # same sizes, random values: memory and time do not depend on them
        rng = np.random.default_rng(0)
        n = limit or 60000
        arrays = (
            rng.random((n, 1, 784), dtype=np.float32),
            rng.integers(0, 10, n),
            rng.random((10000, 1, 784), dtype=np.float32),
            rng.integers(0, 10, 10000),
        )
        source = "random arrays of Fashion-MNIST's size (dataset not installed)"
    x, y, x_test, y_test = arrays
    net = Net("numpy", config, (1, 784))
    batch = net.cfg.train.batch_size
    order = np.random.default_rng(0).permutation(len(y))
    started = time.perf_counter()
    net.train_mode()
    for i in range(0, len(y), batch):
        index = order[i : i + batch]
        net.train_step(x[index], y[index])
    train_s = time.perf_counter() - started
    net.eval_mode()
    started = time.perf_counter()
    eval_batch = net.cfg.train.eval_batch_size
    correct = sum(
        int(
            np.count_nonzero(
                net.predict(x_test[i : i + eval_batch]).argmax(1) == y_test[i : i + eval_batch]
            )
        )
        for i in range(0, len(y_test), eval_batch)
    )
    eval_s = time.perf_counter() - started
    del limiter
    return {
        "samples": len(y),
        "data": source,
        "train_s": train_s,
        "train_samples_per_s": len(y) / train_s,
        "eval_samples_per_s": len(y_test) / eval_s,
        "test_acc_after_one_epoch": correct / len(y_test),
        "rss_base_mb": rss_base,
        "peak_rss_mb": peak_rss_mb(),
    }
