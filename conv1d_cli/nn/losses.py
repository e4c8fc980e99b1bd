"""Softmax cross-entropy, fused with the softmax so it is stable and its gradient is simple."""

from __future__ import annotations

import numpy as np


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels, with label smoothing and
    class weights (PyTorch's ``CrossEntropyLoss(weight=w, label_smoothing=e)``).

    Per sample n with label y: (1 - e) * w[y] * -log p[y] + (e / K) * sum_c w[c] * -log p[c];
    the mean divides the batch's sum by sum_n w[y_n] (by N without weights, all w = 1).
    """

    def __init__(
        self, label_smoothing: float = 0.0, class_weight: np.ndarray | None = None
    ) -> None:
        if not (isinstance(label_smoothing, int | float) and 0 <= label_smoothing < 1):
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        self.class_weight: np.ndarray | None = None  # (K,) float64 > 0, or None: all 1
        if class_weight is not None:
            weights = np.asarray(class_weight, dtype=np.float64)
            if weights.ndim != 1 or not np.all(np.isfinite(weights)) or np.any(weights <= 0):
                raise ValueError(f"class_weight must be a 1-D array of weights > 0, got {weights}")
            self.class_weight = weights
        self.batch_weight = 0.0  # the last batch's divisor: sum of its targets' weights (or N)
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
        w = self.class_weight
        if w is not None and w.shape != (k,):
            raise ValueError(f"class_weight has {w.size} weights but the logits have {k} classes")
        # log-softmax through the shifted log-sum-exp: exp never sees a positive argument.
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.probs = np.exp(log_probs)
        self._labels = labels
        rows = np.arange(n)
        e = self.label_smoothing
        per_sample = -(1 - e) * log_probs[rows, labels]
        if w is None:
            if e:
                per_sample -= (e / k) * log_probs.sum(axis=1)
            self.batch_weight = float(n)
            return float(per_sample.mean(dtype=np.float64))
        per_sample = per_sample * w[labels]
        if e:
            per_sample -= (e / k) * (log_probs @ w)
        self.batch_weight = float(w[labels].sum())
        return float(per_sample.sum(dtype=np.float64) / self.batch_weight)

    def backward(self) -> np.ndarray:
        """dL/dlogits (N, K) of the mean loss, already divided by N (or the weight sum)."""
        if self.probs is None or self._labels is None:
            raise RuntimeError("call forward before backward")
        n, k = self.probs.shape
        rows = np.arange(n)
        e = self.label_smoothing
        w = self.class_weight
        if w is None:
            grad = self.probs - e / k if e else self.probs.copy()
            grad[rows, self._labels] -= 1 - e
            grad *= 1.0 / n
            return grad
        # d(-log p_c)/dlogits = p - onehot(c): the label's term weighted by w[y], the smoothing
        # term by every w[c], so it sums to (e / K) * (sum(w) * p - w).
        wy = w[self._labels].astype(self.probs.dtype)[:, None]
        grad = (1 - e) * wy * self.probs
        grad[rows, self._labels] -= (1 - e) * wy[:, 0]
        if e:
            grad += (e / k) * (float(w.sum()) * self.probs - w.astype(self.probs.dtype))
        grad *= 1.0 / self.batch_weight
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
