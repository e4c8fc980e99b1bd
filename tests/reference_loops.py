"""Direct-loop Conv1d: the independent reference the vectorised engine is compared with.

Written for clarity, not speed (loops over batch, output channels and positions), and shares
no code with conv1d_cli.nn: padding and 'same' are computed here again from their definitions.
Arrays are (batch, channels, length); W is (out_channels, in_channels, kernel_size).
"""

from __future__ import annotations

import math

import numpy as np


def resolve_padding_loops(padding, length: int, kernel_size: int, stride: int, dilation: int):
    """(left, right) for an int, a pair, 'valid' or 'same' (ceil(L/stride) outputs, extra right)."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        out = math.ceil(length / stride)
        total = max((out - 1) * stride + dilation * (kernel_size - 1) + 1 - length, 0)
        return total // 2, total - total // 2
    if isinstance(padding, tuple | list):
        return int(padding[0]), int(padding[1])
    return int(padding), int(padding)


def source_index(j: int, length: int, mode: str) -> int | None:
    """Which input position padded position j (counted from the first real sample) copies."""
    if 0 <= j < length:
        return j
    if mode == "zeros":
        return None
    if mode == "replicate":
        return 0 if j < 0 else length - 1
    if mode == "circular":
        return j % length
    if mode == "reflect":  # mirror about the first and last samples, repeatedly
        while not 0 <= j < length:
            j = -j if j < 0 else 2 * (length - 1) - j
        return j
    raise ValueError(mode)


def pad_loops(x: np.ndarray, left: int, right: int, mode: str) -> np.ndarray:
    n, c, length = x.shape
    xp = np.zeros((n, c, left + length + right), dtype=x.dtype)
    for j in range(-left, length + right):
        src = source_index(j, length, mode)
        if src is not None:
            xp[:, :, j + left] = x[:, :, src]
    return xp


def conv1d_forward_loops(
    x, W, b=None, stride=1, padding=0, padding_mode="zeros", dilation=1
) -> np.ndarray:
    """x (N, C, L), W (O, C, K), b (O,) or None -> y (N, O, L_out)."""
    n, _, length = x.shape
    o, _, k = W.shape
    left, right = resolve_padding_loops(padding, length, k, stride, dilation)
    xp = pad_loops(x, left, right, padding_mode)
    out_len = (xp.shape[2] - dilation * (k - 1) - 1) // stride + 1
    y = np.zeros((n, o, out_len), dtype=np.result_type(x, W))
    for i in range(n):
        for oc in range(o):
            for t in range(out_len):
                start = t * stride
                window = xp[i, :, start : start + dilation * (k - 1) + 1 : dilation]
                y[i, oc, t] = np.sum(window * W[oc]) + (0 if b is None else b[oc])
    return y


def conv1d_backward_loops(
    x, W, dy, stride=1, padding=0, padding_mode="zeros", dilation=1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dy (N, O, L_out) -> (dx (N, C, L), dW (O, C, K), db (O,)), summed over the batch."""
    n, _, length = x.shape
    o, _, k = W.shape
    left, right = resolve_padding_loops(padding, length, k, stride, dilation)
    xp = pad_loops(x, left, right, padding_mode)
    dxp = np.zeros_like(xp, dtype=np.result_type(x, W, dy))
    dW = np.zeros(W.shape, dtype=dxp.dtype)
    for i in range(n):
        for oc in range(o):
            for t in range(dy.shape[2]):
                taps = slice(t * stride, t * stride + dilation * (k - 1) + 1, dilation)
                dW[oc] += dy[i, oc, t] * xp[i, :, taps]
                dxp[i, :, taps] += dy[i, oc, t] * W[oc]
    dx = np.zeros(x.shape, dtype=dxp.dtype)
    for j in range(-left, length + right):  # fold each padded position onto its source
        src = source_index(j, length, padding_mode)
        if src is not None:
            dx[:, :, src] += dxp[:, :, j + left]
    return dx, dW, dy.sum(axis=(0, 2))


def conv1d_causal_loops(x, W, b=None, stride=1, dilation=1) -> np.ndarray:
    """Causal conv from its definition, no padding step: output t at stride s reads the inputs
    t*s - dilation*(K-1-j) for taps j (zeros before the start); ceil(L/s) outputs."""
    n, _, length = x.shape
    o, _, k = W.shape
    out_len = math.ceil(length / stride)
    y = np.zeros((n, o, out_len), dtype=np.result_type(x, W))
    for i in range(n):
        for oc in range(o):
            for t in range(out_len):
                total = 0.0 if b is None else b[oc]
                for j in range(k):
                    src = t * stride - dilation * (k - 1 - j)
                    if src >= 0:
                        total += np.dot(W[oc, :, j], x[i, :, src])
                y[i, oc, t] = total
    return y
