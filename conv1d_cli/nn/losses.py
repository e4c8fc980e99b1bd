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


class RegressionLoss:
    """Mean of an elementwise loss of outputs (N, K) against float targets (N, K).

    The mean runs over all N*K elements (PyTorch's ``reduction="mean"``), so ``backward`` is
    already divided by N*K. Subclasses give the elementwise loss and its derivative in the error.
    """

    def __init__(self) -> None:
        self._error: np.ndarray | None = None

    def __call__(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        return self.forward(outputs, targets)

    def forward(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        """outputs (N, K), targets (N, K) or (N,) for K = 1 -> mean loss."""
        outputs = np.asarray(outputs)
        targets = np.asarray(targets)
        if targets.ndim == 1 and outputs.ndim == 2 and outputs.shape[1] == 1:
            targets = targets[:, None]
        if outputs.ndim != 2 or targets.shape != outputs.shape:
            raise ValueError(
                f"expected outputs (N, K) and targets of the same shape, got {outputs.shape} "
                f"and {targets.shape}"
            )
        if targets.dtype.kind not in "fiu":
            raise ValueError(f"targets must be numbers, got dtype {targets.dtype}")
        dtype = outputs.dtype if outputs.dtype.kind == "f" else np.dtype(np.float64)
        self._error = outputs.astype(dtype, copy=False) - targets.astype(dtype, copy=False)
        return float(self.elementwise(self._error).mean(dtype=np.float64))

    def backward(self) -> np.ndarray:
        """dL/doutputs (N, K) of the mean loss, already divided by N*K."""
        if self._error is None:
            raise RuntimeError("call forward before backward")
        grad = self.derivative(self._error)
        grad *= 1.0 / self._error.size
        return grad

    def elementwise(self, error: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, error: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class MeanSquaredError(RegressionLoss):
    """mean((outputs - targets)^2)."""

    def elementwise(self, error: np.ndarray) -> np.ndarray:
        return error * error

    def derivative(self, error: np.ndarray) -> np.ndarray:
        return 2.0 * error


class MeanAbsoluteError(RegressionLoss):
    """mean(|outputs - targets|); the derivative at 0 is taken as 0 (PyTorch's sign(0))."""

    def elementwise(self, error: np.ndarray) -> np.ndarray:
        return np.abs(error)

    def derivative(self, error: np.ndarray) -> np.ndarray:
        return np.sign(error)


class HuberLoss(RegressionLoss):
    """Quadratic within ``delta`` of the target, linear beyond (PyTorch's HuberLoss):
    0.5 e^2 for |e| <= delta, delta * (|e| - 0.5 delta) otherwise."""

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        if not (isinstance(delta, int | float) and delta > 0):
            raise ValueError(f"delta must be > 0, got {delta!r}")
        self.delta = float(delta)

    def elementwise(self, error: np.ndarray) -> np.ndarray:
        size = np.abs(error)
        return np.where(
            size <= self.delta, 0.5 * error * error, self.delta * (size - 0.5 * self.delta)
        )

    def derivative(self, error: np.ndarray) -> np.ndarray:
        return np.clip(error, -self.delta, self.delta)
