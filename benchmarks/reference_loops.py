"""The course's network written as course notebooks write it: Python loops over samples,
output channels and positions. The speed reference the engine is compared with; never used by
the package. conv 1->16 (kernel 7, stride 2, padding 3), ReLU, flatten, dense 10, softmax
cross-entropy, plain SGD. Arrays are (batch, channels, length), W (out, in, kernel).
"""

from __future__ import annotations

import numpy as np


def conv1d_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int, pad: int):
    """x (N, C, L) -> (y (N, O, L_out), padded x)."""
    n, c, length = x.shape
    o, _, k = W.shape
    xp = np.zeros((n, c, length + 2 * pad), dtype=x.dtype)
    xp[:, :, pad : pad + length] = x
    out_len = (length + 2 * pad - k) // stride + 1
    y = np.zeros((n, o, out_len), dtype=x.dtype)
    for i in range(n):
        for oc in range(o):
            for t in range(out_len):
                y[i, oc, t] = np.sum(xp[i, :, t * stride : t * stride + k] * W[oc]) + b[oc]
    return y, xp


def conv1d_backward(dy: np.ndarray, xp: np.ndarray, W: np.ndarray, stride: int, pad: int):
    """dy (N, O, L_out) -> (dx (N, C, L), dW, db)."""
    n, o, out_len = dy.shape
    k = W.shape[2]
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    for i in range(n):
        for oc in range(o):
            for t in range(out_len):
                window = slice(t * stride, t * stride + k)
                dW[oc] += dy[i, oc, t] * xp[i, :, window]
                dxp[i, :, window] += dy[i, oc, t] * W[oc]
    length = xp.shape[2] - 2 * pad
    return dxp[:, :, pad : pad + length], dW, dy.sum(axis=(0, 2))


def dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, F), W (F, U) -> (N, U), one dot product per sample and unit."""
    y = np.zeros((x.shape[0], W.shape[1]), dtype=x.dtype)
    for i in range(x.shape[0]):
        for u in range(W.shape[1]):
            y[i, u] = np.dot(x[i], W[:, u]) + b[u]
    return y


def dense_backward(dy: np.ndarray, x: np.ndarray, W: np.ndarray):
    dx, dW = np.zeros_like(x), np.zeros_like(W)
    for i in range(x.shape[0]):
        for u in range(W.shape[1]):
            dW[:, u] += dy[i, u] * x[i]
            dx[i] += dy[i, u] * W[:, u]
    return dx, dW, dy.sum(axis=0)


class CourseNetLoops:
    """The course network with loop layers; ``params`` uses the engine's names ("0.W", ...)."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, stride=2, pad=3) -> None:
        self.params = {name: value.copy() for name, value in params.items()}
        self.lr, self.stride, self.pad = lr, stride, pad

    def forward(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        self.z, self.xp = conv1d_forward(x, p["0.W"], p["0.b"], self.stride, self.pad)
        self.h = np.maximum(self.z, 0).reshape(len(x), -1)
        return dense_forward(self.h, p["3.W"], p["3.b"])

    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """One SGD step; returns the loss and the gradients (for checking against the engine)."""
        logits = self.forward(x)
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        loss = float(-np.mean(np.log(probs[np.arange(len(y)), y])))
        dlogits = probs.copy()
        dlogits[np.arange(len(y)), y] -= 1
        dlogits /= len(y)
        p = self.params
        dh, dW3, db3 = dense_backward(dlogits, self.h, p["3.W"])
        dz = dh.reshape(self.z.shape) * (self.z > 0)
        _, dW0, db0 = conv1d_backward(dz, self.xp, p["0.W"], self.stride, self.pad)
        grads = {"0.W": dW0, "0.b": db0, "3.W": dW3, "3.b": db3}
        for name, g in grads.items():
            p[name] -= self.lr * g
        return loss, grads
