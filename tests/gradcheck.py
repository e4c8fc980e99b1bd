"""Central-difference gradient checks in float64 (tests only: loops over every element)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], array: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f() / d array by central differences; ``array`` is perturbed in place and restored."""
    grad = np.zeros_like(array, dtype=np.float64)
    flat, out = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + h
        up = f()
        flat[i] = saved - h
        down = f()
        flat[i] = saved
        out[i] = (up - down) / (2 * h)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |a - n| / max(|a| + |n|), with a floor so all-zero gradients compare as equal."""
    scale = max(float(np.max(np.abs(analytic) + np.abs(numeric), initial=0.0)), 1e-8)
    return float(np.max(np.abs(analytic - numeric), initial=0.0)) / scale


def check_layer(
    layer,
    x: np.ndarray,
    *,
    seed: int = 0,
    tol: float = 1e-6,
    before_forward: Callable[[], None] | None = None,
) -> None:
    """Assert that ``layer.backward`` gives d sum(G * forward(x)) / d(x and every parameter).

    ``before_forward`` resets hidden randomness (Dropout) so every evaluation sees one mask.
    """
    x = np.array(x, dtype=np.float64)
    reset = before_forward or (lambda: None)
    reset()
    y = layer.forward(x)
    G = np.random.default_rng(seed).standard_normal(y.shape)
    G_before = G.copy()
    dx = layer.backward(G)
    np.testing.assert_array_equal(G, G_before, err_msg="backward modified its input gradient")
    analytic = {"x": np.array(dx, dtype=np.float64)}
    analytic.update({name: g.astype(np.float64) for name, g in layer.grads.items()})

    def loss() -> float:
        reset()
        return float(np.sum(layer.forward(x) * G))

    numeric = {"x": numerical_gradient(loss, x)}
    numeric.update({name: numerical_gradient(loss, p) for name, p in layer.params.items()})
    assert analytic.keys() == numeric.keys()
    for name in numeric:
        err = relative_error(analytic[name], numeric[name])
        assert err < tol, f"{layer!r}: gradient of {name} off by relative error {err:.2e}"


def count_lines(fn: Callable[[], object], package: str = "conv1d_cli") -> int:
    """How many Python lines of ``package`` run during ``fn()``: a per-position, per-channel or
    per-sample loop makes this grow with the array sizes, a vectorised pass does not."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if package not in frame.f_code.co_filename:
            return None
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(None)
    return count
