"""BatchNorm1d: per-channel normalization of (N, C, L) over (N, L), or of (N, F) over N.

Every pass works on the channels as rows: (C, N, L) (or (F, N)) arrays with C-contiguous memory,
so each channel's values are one long run and every elementwise pass is a plain SIMD loop with a
(C, 1, 1) broadcast. That is the memory order the convolutions already produce (channel-major,
see functional.py), and the output keeps it: ``forward`` returns a transposed view of its
(C, N, L) result. Passes over the data in training: forward a copy into channel rows, then
sum, centre, sum of squares, scale, shift; backward two reductions and 4 elementwise passes. The
previous version made 6 and 6 passes on (N, C, L) strides, 2-3x PyTorch's time at batch 16.

The training statistics are PyTorch's: biased variance to normalize, unbiased variance into
``running_var``, momentum on the running statistics.

Data-parallel training (parallel/dataparallel.py) splits each batch between processes;
``allreduce``, when set, sums per-channel totals over all of them (float64, the same order in
every process), so the statistics and the input gradient are those of the whole batch. ``grads``
keep this process's share: DataParallel adds the shares once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from numpy.typing import DTypeLike

from conv1d_cli.nn.functional import check_int
from conv1d_cli.nn.layers import Layer, as_dtype

# NumPy's ufunc iterator, with its default 8192-element buffer, gathers operands into buffers
# when a (C, 1) vector is broadcast along rows shorter than the buffer, e.g. batchnorm's
# per-channel shift and scale on (C, N*L) activations of 16 x 150: 70-115 us per pass of a
# 64 x 2400 float32 array instead of 23-30 us with rows read in place (numpy 2.4, one thread).
# Buffers no longer than such rows keep every pass on the direct loop. Only here: passes that
# cast (ReLU's float * bool backward) or take a maximum with 0 get slower with short buffers
# (68 -> 98 us, 45 -> 60 us on the same array).
BATCHNORM_BUFSIZE = 512


@contextmanager
def short_ufunc_buffers() -> Iterator[None]:
    """NumPy's ufunc buffer size set to BATCHNORM_BUFSIZE inside the block (restored after)."""
    previous = np.setbufsize(BATCHNORM_BUFSIZE)
    try:
        yield
    finally:
        np.setbufsize(previous)


def _check_count(values_per_channel: int) -> None:
    if values_per_channel < 2:
        raise ValueError("batchnorm1d needs more than one value per channel in training")


def _swap_first_axes(a: np.ndarray) -> np.ndarray:
    """(A, B, L) -> (B, A, L) or (A, B) -> (B, A), a view: its own inverse."""
    return a.T if a.ndim == 2 else a.transpose(1, 0, 2)


class BatchNorm1d(Layer):
    """Per-channel normalization of (N, C, L) over (N, L), or of (N, F) over N (PyTorch rules)."""

    def __init__(
        self,
        num_features: int,
        momentum: float = 0.1,
        eps: float = 1e-5,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        self.num_features = check_int("num_features", num_features, 1)
        if not (isinstance(momentum, int | float) and 0 < momentum <= 1):
            raise ValueError(f"momentum must be in (0, 1], got {momentum!r}")
        if not (isinstance(eps, int | float) and eps > 0):
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        self.dtype = as_dtype(dtype)
        c = self.num_features
        self.params = {"gamma": np.ones(c, self.dtype), "beta": np.zeros(c, self.dtype)}
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.buffers = {
            "running_mean": np.zeros(c, self.dtype),
            "running_var": np.ones(c, self.dtype),
        }
        # (k,) float64 sums of this process -> the same sums over every process (the whole
        # batch); None: this process has the whole batch.
        self.allreduce: Callable[[np.ndarray], np.ndarray] | None = None

    def _rows(self, x: np.ndarray) -> np.ndarray:
        """(N, C, L) -> (C, N, L) view, (N, F) -> (F, N) view: channels first, no copy."""
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(
                f"batchnorm1d expects (batch, {self.num_features}) or "
                f"(batch, {self.num_features}, length) input, got {x.shape}"
            )
        return _swap_first_axes(x)

    @staticmethod
    def _unrows(rows: np.ndarray) -> np.ndarray:
        """The inverse view of ``_rows``: (C, N, L) -> (N, C, L), (F, N) -> (N, F)."""
        return _swap_first_axes(rows)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, C, L) or (N, C) -> same shape, stored channel-major."""
        with short_ufunc_buffers():
            return self._forward(x)

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        """Same shape as the forward input; leaves dgamma and dbeta in ``grads``."""
        with short_ufunc_buffers():
            return self._backward(grad_y)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        rows = self._rows(np.asarray(x, dtype=self.dtype))
        c = self.num_features
        count = rows.size // c
        per_row = (c,) + (1,) * (rows.ndim - 1)  # broadcasts a (C,) vector over each row
        if self.training:
            # One copy into channel rows first: summing and centring contiguous rows in place
            # is faster than both passes on a conv's strided output (85 + 129 us -> 22-40 +
            # 55 + 30 for 64 x 16 x 150 float32), and NumPy's pairwise sum stays accurate.
            centred = np.array(rows, order="C")
            flat = centred.reshape(c, count)
            if self.allreduce is None:
                _check_count(count)
                mean = flat.sum(axis=1) / count
                flat -= mean[:, None]
                # Variance from the centred copy we need anyway: exact two-pass formula.
                var = np.einsum("ij,ij->i", flat, flat) / count
            else:
                mean, var, count = self._whole_batch_statistics(flat)
            m = self.momentum  # running stats use the unbiased variance, as in PyTorch
            self.buffers["running_mean"] *= 1 - m
            self.buffers["running_mean"] += m * mean
            self.buffers["running_var"] *= 1 - m
            self.buffers["running_var"] += (m * count / (count - 1)) * var
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            centred = np.subtract(rows, mean.reshape(per_row), order="C")
        inv_std = (1 / np.sqrt(var + self.eps)).astype(self.dtype, copy=False)
        scale = self.params["gamma"] * inv_std
        y = np.multiply(centred, scale.reshape(per_row))
        y += self.params["beta"].reshape(per_row)
        self._cache = (centred, inv_std, count, self.training)
        return self._unrows(y)

    def _whole_batch_statistics(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """(C, n) rows of this process -> mean, biased variance, count of the whole batch.

        Leaves ``flat`` centred on the whole batch's mean. One exchange: each process sends
        its count, sums and centred sum of squares, combined as Chan, Golub and LeVeque's
        pairwise update (M2 = sum M2_i + sum n_i m_i^2 - n m^2, in float64): exact two-pass
        statistics in every process without a second round trip.
        """
        c, n = flat.shape
        local_mean = flat.sum(axis=1) / max(n, 1)
        flat -= local_mean[:, None]
        m = local_mean.astype(np.float64)
        local_m2 = np.einsum("ij,ij->i", flat, flat)
        totals = self.allreduce(np.concatenate([n * m, local_m2, n * m * m, [n]]))
        count = int(totals[-1])
        _check_count(count)
        mean = totals[:c] / max(count, 1)
        var = (totals[c : 2 * c] + totals[2 * c : 3 * c] - count * mean * mean) / max(count, 1)
        flat -= (mean - m).astype(self.dtype)[:, None]  # recentred on the whole batch's mean
        return mean.astype(self.dtype), np.maximum(var, 0).astype(self.dtype), count

    def _backward(self, grad_y: np.ndarray) -> np.ndarray:
        centred, inv_std, count, training = self._cache
        c = self.num_features
        grad_rows = self._rows(np.asarray(grad_y, dtype=self.dtype))
        grad_flat = np.ascontiguousarray(grad_rows).reshape(c, -1)  # free when channel-major
        flat = centred.reshape(c, -1)  # count: the whole batch's values per channel
        # dgamma = sum(dy * xhat) with xhat = centred * inv_std; dbeta = sum(dy).
        dgamma = np.einsum("ij,ij->i", grad_flat, flat) * inv_std
        dbeta = grad_flat.sum(axis=1)
        self.grads["gamma"][...] = dgamma
        self.grads["beta"][...] = dbeta
        scale = self.params["gamma"] * inv_std
        if not training:  # the statistics were constants
            return self._unrows(np.multiply(grad_flat, scale[:, None]).reshape(centred.shape))
        if self.allreduce is not None:  # dx needs the whole batch's sums
            totals = self.allreduce(np.concatenate([dgamma, dbeta]).astype(np.float64))
            dgamma, dbeta = totals[:c].astype(self.dtype), totals[c:].astype(self.dtype)
        # dx = scale * (dy - xhat * dgamma / count - dbeta / count), with xhat from centred.
        dx = np.multiply(flat, (inv_std * dgamma / count)[:, None])
        dx += (dbeta / count)[:, None]
        np.subtract(grad_flat, dx, out=dx)
        dx *= scale[:, None]
        return self._unrows(dx.reshape(centred.shape))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = tuple(int(v) for v in input_shape)
        if len(shape) not in (1, 2) or shape[0] != self.num_features:
            raise ValueError(
                f"batchnorm1d expects ({self.num_features},) or ({self.num_features}, length) "
                f"input, got {shape}"
            )
        return shape

    def __repr__(self) -> str:
        return f"BatchNorm1d({self.num_features})"
