"""Softmax cross-entropy, fused with the softmax so it is stable and its gradient is simple."""

from __future__ import annotations

import numpy as np


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels, with label smoothing.

    With smoothing e the target of sample n is (1 - e) * onehot(y_n) + e / K (PyTorch's rule).
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        if not (isinstance(label_smoothing, int | float) and 0 <= label_smoothing < 1):
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        self.probs: np.ndarray | None = None
        self._labels: np.ndarray | None = None

    def __call__(self, logits: np.ndarray, labels: np.ndarray) -> float:
        return self.forward(logits, labels)

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """logits (N, K), labels (N,) ints in [0, K) -> mean loss; keeps ``probs`` (N, K)."""
        logits = np.asarray(logits)
        if logits.dtype.kind != "f":
            logits = logits.astype(np.float64)
        labels = np.asarray(labels)
        if logits.ndim != 2 or labels.shape != (logits.shape[0],):
            raise ValueError(
                f"expected logits (N, K) and labels (N,), got {logits.shape} and {labels.shape}"
            )
        if labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
        n, k = logits.shape
        if n and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"labels must lie in [0, {k}), got [{labels.min()}, {labels.max()}]")
        # log-softmax through the shifted log-sum-exp: exp never sees a positive argument.
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.probs = np.exp(log_probs)
        self._labels = labels
        rows = np.arange(n)
        e = self.label_smoothing
        per_sample = -(1 - e) * log_probs[rows, labels]
        if e:
            per_sample -= (e / k) * log_probs.sum(axis=1)
        return float(per_sample.mean(dtype=np.float64))

    def backward(self) -> np.ndarray:
        """dL/dlogits (N, K) of the mean loss, already divided by N."""
        if self.probs is None or self._labels is None:
            raise RuntimeError("call forward before backward")
        n, k = self.probs.shape
        e = self.label_smoothing
        grad = self.probs - e / k if e else self.probs.copy()
        grad[np.arange(n), self._labels] -= 1 - e
        grad *= 1.0 / n
        return grad
