"""The inference fast path: a Sequential's eval-mode forward without the training machinery.

``model.forward`` in eval mode still does what training needs: it keeps inputs for a backward
pass, max-pooling records its argmax, ReLU builds a mask, batch normalization is a pass of its
own, and the whole batch goes through each layer before the next (1,000 samples of a 32-channel
layer are ~100 MB, far beyond the CPU caches). Inference needs none of that. ``InferenceRunner``
walks the same layers with the same weights and:

- runs the network on small chunks of the batch, so each layer's output is still in cache
  when the next layer reads it (``CHUNK_BYTES`` bounds one layer's output for one chunk);
- folds an eval-mode batchnorm into the convolution or dense layer before it (scaled weights
  and bias: one pass fewer);
- applies ReLU in place on arrays it owns, takes max-pool maxima without argmax, skips dropout;
- multiplies a flatten + dense pair straight from the convolutions' channel-major layout
  instead of copying it into sample-major order first;
- runs chunks in parallel threads (as many as BLAS may use), each with single-threaded BLAS.
  threadpoolctl's limit is global: another thread of the same program doing BLAS work
  meanwhile gets one thread too.

``RULES`` maps every layer kind's engine class (``LayerSpec.engine``) to its step; a kind whose
fast path is its own eval-mode ``forward`` says so with ``plain_forward`` (tests/test_layer_kinds.py
fails for a kind with no entry). Such layers, and layers of no kind (ones a program put into a
model itself), run their own ``forward``, one chunk at a time (they keep state on the layer).
Results equal ``model.forward`` up to float rounding (tests compare them layer kind by layer
kind, blocks included).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from conv1d_cli import nn
from conv1d_cli.nn import functional as fn

# One layer's output for one chunk of samples stays under this, so it stays in a core's cache
# together with its input: on the 2-core benchmark machine 512 KiB chunks were faster than 256
# KiB (more Python overhead per sample) and than 1-4 MiB (benchmarks/README.md).
CHUNK_BYTES = 512 * 2**10
MAX_CHUNK = 256
# Chunks quicker than this run one after another on one thread: with 2 threads allowed, on the
# 2-core benchmark machine (quiet), the course network's 0.36 ms chunks ran at 52,000 samples/s
# in two threads and 65,000 in one; mnist.yaml's and deep.yaml's ~2.2 ms chunks ran 1.2-1.3x
# faster in two threads (2026-12-01).
PARALLEL_MIN_CHUNK_S = 0.001


class InferenceRunner:
    """``logits(x)``: the eval-mode outputs (N, K) of ``model`` for x (N, C, L), chunk by chunk."""

    def __init__(self, model: Any, input_shape: tuple[int, ...], chunk_bytes: int = CHUNK_BYTES):
        self.model = model
        self.input_shape = tuple(input_shape)
        rows = model.summary(self.input_shape)
        largest = max([math.prod(self.input_shape)] + [math.prod(r.output_shape) for r in rows])
        itemsize = max((p.itemsize for p in model.parameters().values()), default=4)
        self.chunk = int(max(1, min(MAX_CHUNK, chunk_bytes // (largest * itemsize))))

    def logits(self, x: np.ndarray) -> np.ndarray:
        """x (N, C, L) -> (N, K); x is only read."""
        was_training = self.model.training
        self.model.eval()
        try:
            return self._chunked(_plan(self.model.layers), x)  # weights read now, not cached
        finally:
            self.model.train(was_training)

    def _chunked(self, steps: list[Step], x: np.ndarray) -> np.ndarray:
        # Chunks run in parallel, one per thread, each with single-threaded BLAS: a chunk's
        # GEMMs are too small to split between threads (their synchronisation cost more than
        # the arithmetic, and one thread descheduled by another process stalls the other).
        # Unless a chunk is quick: then the threads mostly wait for each other's GIL, and one
        # thread is faster (timed on the first chunk, which runs alone anyway).
        began = time.perf_counter()
        first = _run(steps, x[: self.chunk])
        quick = time.perf_counter() - began < PARALLEL_MIN_CHUNK_S
        if len(x) <= self.chunk:
            return first
        out = np.empty((len(x), *first.shape[1:]), dtype=first.dtype)
        out[: len(first)] = first
        starts = range(self.chunk, len(x), self.chunk)

        def work(start: int) -> None:
            out[start : start + self.chunk] = _run(steps, x[start : start + self.chunk])

        threads = min(blas_threads(), len(starts))
        if quick and threads > 1:  # one thread, whose GEMMs are too small to split either
            with _controller().limit(limits=1, user_api="blas"):
                for start in starts:
                    work(start)
            return out
        if threads <= 1 or not all(getattr(step, "pure", False) for step in steps):
            for start in starts:
                work(start)
            return out
        with _controller().limit(limits=1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, starts))
        return out


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()  # finding the BLAS libraries once: ~1 ms a time otherwise


def blas_threads() -> int:
    """The thread budget: what BLAS may use right now (``threadpool_limits``, OMP_NUM_THREADS)."""
    counts = [info["num_threads"] for info in _controller().info() if info["user_api"] == "blas"]
    return max(counts, default=1)


Step = Callable[[np.ndarray, bool], tuple[np.ndarray, bool]]  # (x, owned) -> (y, owned)


def _run(steps: list[Step], x: np.ndarray) -> np.ndarray:
    owned = False  # the caller's array is never written
    for step in steps:
        x, owned = step(x, owned)
    return x


def _plan(layers: list[Any]) -> list[Step]:
    """One step per layer, or per fused pair (conv/dense + batchnorm, flatten + dense)."""
    steps: list[Step] = []
    i = 0
    while i < len(layers):
        layer, after = layers[i], layers[i + 1] if i + 1 < len(layers) else None
        fused = type(after) is nn.BatchNorm1d and type(layer) in (nn.Conv1d, nn.Dense)
        if fused:
            steps.append(_affine_step(layer, after))
        elif type(layer) is nn.Flatten and type(after) is nn.Dense:
            steps.append(_flatten_dense_step(after))
        else:
            steps.append(RULES.get(type(layer), plain_forward)(layer))
            i += 1
            continue
        i += 2
    return steps


def plain_forward(layer: Any) -> Step:
    """The rule "the layer's own eval-mode forward": it keeps state on the layer, so the step
    is not ``pure``, and a plan holding one runs its chunks one after the other."""
    return lambda x, owned: (layer.forward(x), True)


def pure(step: Step) -> Step:
    """Mark a step that keeps no state, so chunks may run through it in parallel threads."""
    step.pure = True  # type: ignore[attr-defined]
    return step


def _bn_affine(bn: Any) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) per channel of an eval-mode batchnorm: y = x * scale + shift."""
    scale = bn.params["gamma"] / np.sqrt(bn.buffers["running_var"] + bn.eps)
    return scale, bn.params["beta"] - bn.buffers["running_mean"] * scale


def _folded(layer: Any, bn: Any | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(W, b) of a conv or dense layer with a following eval-mode batchnorm folded in."""
    W, b = layer.params["W"], layer.params.get("b")
    if bn is None:
        return W, b
    scale, bias = _bn_affine(bn)
    if b is not None:
        bias = bias + b * scale
    shape = (-1, 1, 1) if W.ndim == 3 else (1, -1)  # conv W (O, C, K); dense W (in, out)
    return (W * scale.reshape(shape)).astype(W.dtype), bias.astype(W.dtype)


def _affine_step(layer: Any, bn: Any | None = None) -> Step:
    W, b = _folded(layer, bn)
    if type(layer) is nn.Dense:
        return pure(lambda x, owned: (_dense(x, W, b), True))

    def conv(x: np.ndarray, owned: bool) -> tuple[np.ndarray, bool]:
        x = np.asarray(x, dtype=layer.dtype)
        pad = layer._pad_for(x.shape[2])
        y, _ = fn.conv1d_forward(
            x, W, b, layer.stride, layer.dilation, pad, layer.padding_mode
        )  # fmt: skip
        return y, True

    return pure(conv)


def _dense(x: np.ndarray, W: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    y = np.asarray(x, dtype=W.dtype) @ W
    if b is not None:
        y += b
    return y


def _flatten_dense_step(dense: Any) -> Step:
    W, b = dense.params["W"], dense.params.get("b")

    def step(x: np.ndarray, owned: bool) -> tuple[np.ndarray, bool]:
        if x.ndim == 3 and x.strides[0] < x.strides[1] and x.strides[2] == x.itemsize:
            # Channel-major (C, N, L) memory: one GEMM per channel against its block of W
            # rows, summed, reads x once instead of copying it to (N, C*L) first.
            _, c, length = x.shape
            y = np.matmul(x.transpose(1, 0, 2), W.reshape(c, length, -1)).sum(axis=0)
            if b is not None:
                y += b
            return y, True
        return _dense(x.reshape(len(x), -1), W, b), True

    return pure(step)


def _elementwise(fn_: Callable[[np.ndarray, np.ndarray | None], np.ndarray]) -> Step:
    """A step computing fn_(x, out): in place when the array is ours, else into a new one."""
    return pure(lambda x, owned: (fn_(x, x if owned else None), True))


def _batchnorm(layer: Any) -> Step:
    scale, shift = _bn_affine(layer)

    def apply(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        shape = (1, -1, 1) if x.ndim == 3 else (1, -1)
        y = np.multiply(x, scale.astype(x.dtype).reshape(shape), out=out)
        y += shift.astype(x.dtype).reshape(shape)
        return y

    return _elementwise(apply)


def _sigmoid(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    y = np.multiply(x, 0.5, out=out)  # the engine's (1 + tanh(x/2)) / 2
    np.tanh(y, out=y)
    y *= 0.5
    y += 0.5
    return y


def _gelu(layer: Any) -> Step:
    from scipy.special import erf

    def exact(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        cdf = erf(x * math.sqrt(0.5))
        cdf += 1
        cdf *= 0.5
        return np.multiply(x, cdf, out=out)

    def tanh(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        t = np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))
        t += 1
        t *= 0.5
        return np.multiply(x, t, out=out)

    return _elementwise(tanh if layer.approximate == "tanh" else exact)


def _leaky(layer: Any) -> Step:
    slope = layer.negative_slope
    return _elementwise(lambda x, out: np.where(x > 0, x, x * slope))


def _taps(layer: Any, x: np.ndarray, pad_value: float) -> tuple[list[np.ndarray], int]:
    """The k strided tap views of a pooling window over x (N, C, L), padded with pad_value."""
    k, s, p = layer.kernel_size, layer.stride, layer.padding
    xp = fn.pad1d(x, p, p, "zeros", value=pad_value)
    out_len = (xp.shape[2] - k) // s + 1
    span = s * (out_len - 1) + 1
    return [xp[:, :, j : j + span : s] for j in range(k)], k


def _maxpool(layer: Any) -> Step:
    def step(x: np.ndarray, owned: bool) -> tuple[np.ndarray, bool]:
        taps, k = _taps(layer, x, -np.inf)  # maxima only: no argmax for a backward pass
        if k == 1:
            return taps[0].copy(order="K"), True
        y = np.maximum(taps[0], taps[1])
        for tap in taps[2:]:
            np.maximum(y, tap, out=y)
        return y, True

    return pure(step)


def _avgpool(layer: Any) -> Step:
    def step(x: np.ndarray, owned: bool) -> tuple[np.ndarray, bool]:
        taps, k = _taps(layer, x, 0.0)  # zero padding counts in the mean, as in the engine
        y = taps[0].copy(order="K")
        for tap in taps[1:]:
            y += tap
        y *= 1.0 / k
        return y, True

    return pure(step)


def _residual(block: Any) -> Step:
    body = _plan(list(block.layers))
    shortcut = None if block.shortcut is None else _plan(list(block.shortcut))
    activation = None if block.activation is None else _plan([block.activation])

    def step(x: np.ndarray, owned: bool) -> tuple[np.ndarray, bool]:
        h = _run(body, x)  # starts unowned: the body never writes x, the shortcut reads it
        s = x if shortcut is None else _run(shortcut, x)
        if np.may_share_memory(h, x) or np.may_share_memory(h, s):
            h = np.add(h, s)
        else:
            h += s
        return (h, True) if activation is None else activation[0](h, True)

    return _pure_if(step, body + (shortcut or []) + (activation or []))


def _parallel(block: Any) -> Step:
    plans = [_plan(list(branch)) for branch in block.branches]

    def step(x: np.ndarray, owned: bool) -> tuple[np.ndarray, bool]:
        outs = [_run(plan, x) for plan in plans]
        n, widths, rest = len(x), [o.shape[1] for o in outs], outs[0].shape[2:]
        if rest:  # channel-major like the engine's block and the convolutions
            y = np.empty((sum(widths), n, *rest), outs[0].dtype).transpose(1, 0, 2)
        else:
            y = np.empty((n, sum(widths)), outs[0].dtype)
        start = 0
        for out, width in zip(outs, widths, strict=True):
            y[:, start : start + width] = out
            start += width
        return y, True

    return _pure_if(step, [s for plan in plans for s in plan])


def _pure_if(step: Step, inner: list[Step]) -> Step:
    return pure(step) if all(getattr(s, "pure", False) for s in inner) else step


# Engine class -> its step (``plain_forward``: the layer's own forward, declared, not defaulted).
RULES: dict[type, Callable[[Any], Step]] = {
    nn.Residual: _residual,
    nn.Parallel: _parallel,
    nn.Conv1d: _affine_step,
    nn.Dense: _affine_step,
    nn.BatchNorm1d: _batchnorm,
    nn.ReLU: lambda layer: _elementwise(lambda x, out: np.maximum(x, 0, out=out)),
    nn.LeakyReLU: _leaky,
    nn.Tanh: lambda layer: _elementwise(lambda x, out: np.tanh(x, out=out)),
    nn.Sigmoid: lambda layer: _elementwise(_sigmoid),
    nn.GELU: _gelu,
    nn.MaxPool1d: _maxpool,
    nn.AvgPool1d: _avgpool,
    nn.GlobalAvgPool1d: lambda layer: pure(lambda x, owned: (x.mean(axis=2), True)),
    nn.Dropout: lambda layer: pure(lambda x, owned: (x, owned)),  # the identity in eval mode
    nn.Flatten: lambda layer: pure(lambda x, owned: (x.reshape(len(x), -1), owned)),
}
