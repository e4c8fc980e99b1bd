"""Forward and backward time per layer type and shape (batch 64, float32), one engine per process.

The backward time of a PyTorch module is measured as (forward + backward) - forward, since
autograd cannot run a backward pass alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from conv1d_cli import nn

BATCH = 64


def _same(c_in: int, c_out: int, dilation: int) -> nn.Conv1d:
    """A kernel-3 'same' convolution as configs/mnist.yaml uses them."""
    return nn.Conv1d(c_in, c_out, 3, padding="same", dilation=dilation)


# (label, engine layer factory, input shape without batch); conv args: in, out, kernel, ...
CASES: list[tuple[str, Callable[[], Any], tuple[int, ...]]] = [
    ("conv1d 1->16 k7 s2 p3, L784 (course)", lambda: nn.Conv1d(1, 16, 7, 2, 3), (1, 784)),
    ("conv1d 1->32 k3 d28 same, L784 (mnist)", lambda: _same(1, 32, 28), (1, 784)),
    ("conv1d 32->32 k3 same, L784 (mnist)", lambda: _same(32, 32, 1), (32, 784)),
    ("conv1d 32->64 k3 d14 same, L392 (mnist)", lambda: _same(32, 64, 14), (32, 392)),
    ("conv1d 64->64 k3 same, L392 (mnist)", lambda: _same(64, 64, 1), (64, 392)),
    ("conv1d 32->32 k5 same, L392 (deep)", lambda: nn.Conv1d(32, 32, 5, 1, 2), (32, 392)),
    ("conv1d 32->64 k5 s2 p2, L392", lambda: nn.Conv1d(32, 64, 5, 2, 2), (32, 392)),
    ("conv1d 64->64 k3 d2 p2, L196", lambda: nn.Conv1d(64, 64, 3, 1, 2, dilation=2), (64, 196)),
    ("dense 3136->128", lambda: nn.Dense(3136, 128), (3136,)),
    ("maxpool1d k2, 32x392", lambda: nn.MaxPool1d(2), (32, 392)),
    ("relu, 32x392", nn.ReLU, (32, 392)),
    ("batchnorm1d, 32x392", lambda: nn.BatchNorm1d(32), (32, 392)),
]


def _torch_module(layer: Any) -> Any:
    """The PyTorch module equal to an engine layer (same settings; weights do not matter)."""
    from torch import nn as tnn

    if isinstance(layer, nn.Conv1d):
        return tnn.Conv1d(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            layer.stride,
            layer.padding,
            layer.dilation,
        )
    if isinstance(layer, nn.Dense):
        return tnn.Linear(layer.in_features, layer.out_features)
    if isinstance(layer, nn.MaxPool1d):
        return tnn.MaxPool1d(layer.kernel_size, layer.stride, layer.padding)
    if isinstance(layer, nn.BatchNorm1d):
        return tnn.BatchNorm1d(layer.num_features)
    return tnn.ReLU()


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    for _ in range(3):  # warm-up: first-touch allocations, oneDNN primitive creation
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def run_layers(engine: str, threads: int, repeats: int) -> list[dict]:
    """One row per case: forward and backward milliseconds (medians) for ``engine``."""
    from workers import limit_threads

    limiter = limit_threads(engine, threads)
    rng = np.random.default_rng(0)
    rows = []
    for label, make, shape in CASES:
        layer = make()
        x = rng.standard_normal((BATCH, *shape), dtype=np.float32)
        if engine == "numpy" and x.ndim == 3:
            # Inside a network the engine's activations are channel-major (see
            # conv1d_cli/nn/functional.py); time the layers on what they really receive.
            x = np.ascontiguousarray(x.transpose(1, 0, 2)).transpose(1, 0, 2)
        y = layer.forward(x)
        dy = rng.standard_normal(y.shape, dtype=np.float32)
        if engine == "numpy" and dy.ndim == 3:
            dy = np.ascontiguousarray(dy.transpose(1, 0, 2)).transpose(1, 0, 2)
        if engine == "numpy":
            fwd = _median_ms(lambda layer=layer, x=x: layer.forward(x), repeats)
            # The cache of the last forward pass stays valid, so backward is timed alone.
            bwd = _median_ms(lambda layer=layer, dy=dy: layer.backward(dy), repeats)
        else:
            import torch

            module = _torch_module(layer)
            xt = torch.from_numpy(x).requires_grad_(True)
            dyt = torch.from_numpy(dy)
            fwd = _median_ms(lambda m=module, xt=xt: m(xt), repeats)
            both = _median_ms(lambda m=module, xt=xt, dyt=dyt: m(xt).backward(dyt), repeats)
            bwd = max(both - fwd, 0.0)
        rows.append({"layer": label, "forward_ms": fwd, "backward_ms": bwd})
    del limiter
    return rows
