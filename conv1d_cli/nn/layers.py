"""The layer interface and the parameter-light layers: Dense, activations, Flatten, Dropout.

A layer maps (N, C, L) or (N, F) arrays. ``backward`` returns the input gradient and overwrites
``grads`` in place; it never updates weights, never edits the incoming gradient, and sums over
the batch (the loss does the averaging). Shapes given to ``output_shape`` omit the batch axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import DTypeLike
from scipy.special import erf

from conv1d_cli.nn.functional import check_int
from conv1d_cli.nn.init import resolve_initializer


class Layer:
    """Base: ``forward(x) -> y``, ``backward(dy) -> dx``; params, grads, buffers, train/eval."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward_params(self, grad_y: np.ndarray) -> None:
        """Fill ``grads`` without the input gradient (nobody needs it for the first layer);
        layers whose input gradient costs a GEMM override this to skip it."""
        self.backward(grad_y)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def train(self, mode: bool = True) -> Layer:
        self.training = bool(mode)
        return self

    def eval(self) -> Layer:
        return self.train(False)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for a per-sample input shape; elementwise by default."""
        return tuple(input_shape)

    def macs(self, input_shape: tuple[int, ...]) -> int:
        """Multiply-accumulates per sample (0 for layers without a matrix product)."""
        return 0

    def _set_param(self, name: str, value: np.ndarray) -> None:
        # Copy into the live array so optimizers and the model's name tables keep seeing it.
        self.params[name][...] = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def param_property(name: str) -> property:
    """``layer.W``-style access to a live parameter; assignment copies into it in place."""
    return property(lambda self: self.params.get(name), lambda self, v: self._set_param(name, v))


def grad_property(name: str) -> property:
    """``layer.dW``-style read access to a gradient array."""
    return property(lambda self: self.grads.get(name))


def as_dtype(dtype: DTypeLike) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise ValueError(f"dtype must be a floating type such as float32 or float64, got {dt}")
    return dt


def expect_input(kind: str, x: np.ndarray, ndim: int, size: int, dtype: np.dtype) -> np.ndarray:
    """``x`` as ``dtype`` with ``ndim`` axes and ``size`` channels/features on axis 1."""
    x = np.asarray(x, dtype=dtype)
    if x.ndim != ndim or x.shape[1] != size:
        layout = "(batch, channels, length)" if ndim == 3 else "(batch, features)"
        raise ValueError(f"{kind} expects {layout} input with {size} on axis 1, got {x.shape}")
    return x


def expect_shape(kind: str, shape: tuple[int, ...], ndim: int, size: int | None = None):
    """ValueError unless a per-sample shape has ``ndim`` axes (and ``size`` on the first)."""
    shape = tuple(int(v) for v in shape)
    names = "(channels, length)" if ndim == 2 else "(features,)"
    if len(shape) != ndim:
        hint = "; add a flatten layer before it" if ndim == 1 else ""
        raise ValueError(f"{kind} expects {names} input, got {shape}{hint}")
    if size is not None and shape[0] != size:
        raise ValueError(f"{kind} expects {size} on the first axis of {names}, got {shape}")
    return shape


# ------------------------------------------------------------------------------------ dense
class Dense(Layer):
    """y = x @ W + b: x (N, in), W (in, out) so the GEMM needs no transpose, b (out,)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        initializer: Callable[..., np.ndarray] | str | None = None,
        dtype: DTypeLike = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features, 1)
        self.out_features = check_int("out_features", out_features, 1)
        self.dtype = as_dtype(dtype)
        rng = np.random.default_rng() if rng is None else rng
        init = resolve_initializer(initializer)
        shape = (self.in_features, self.out_features)
        self.params["W"] = np.asarray(
            init(shape, self.in_features, self.out_features, rng, self.dtype), dtype=self.dtype
        )
        if bias:
            self.params["b"] = np.zeros(self.out_features, dtype=self.dtype)
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self._x: np.ndarray | None = None

    W = param_property("W")
    b = param_property("b")
    dW = grad_property("W")  # noqa: N815 (the course's names)
    db = grad_property("b")

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, in) -> (N, out)."""
        self._x = x = expect_input("dense", x, 2, self.in_features, self.dtype)
        y = x @ self.params["W"]
        if "b" in self.params:
            y += self.params["b"]
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        """(N, out) -> (N, in)."""
        self.backward_params(grad_y)
        return grad_y @ self.params["W"].T

    def backward_params(self, grad_y: np.ndarray) -> None:
        np.matmul(self._x.T, grad_y, out=self.grads["W"])
        if "b" in self.grads:
            np.sum(grad_y, axis=0, out=self.grads["b"])

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        expect_shape("dense", input_shape, 1, self.in_features)
        return (self.out_features,)

    def macs(self, input_shape: tuple[int, ...]) -> int:
        return self.in_features * self.out_features

    def __repr__(self) -> str:
        extra = "" if "b" in self.params else ", bias=False"
        return f"Dense({self.in_features}, {self.out_features}{extra})"


Linear = Dense


# ------------------------------------------------------------------------------ activations
class ReLU(Layer):
    # Arithmetic instead of np.where: where() is several times slower on large arrays.
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._mask = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        return grad_y * self._mask


class LeakyReLU(Layer):
    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        if not (math.isfinite(negative_slope) and negative_slope >= 0):
            raise ValueError(f"negative_slope must be a number >= 0, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, x: np.ndarray) -> np.ndarray:
        # The local slope (1 or negative_slope) in x's dtype, kept for the backward pass.
        self._slope = (x > 0).astype(x.dtype)
        self._slope *= 1.0 - self.negative_slope
        self._slope += self.negative_slope
        return x * self._slope

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        return grad_y * self._slope

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class Tanh(Layer):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        return grad_y * (1 - self._y * self._y)


class Sigmoid(Layer):
    def forward(self, x: np.ndarray) -> np.ndarray:
        # sigmoid(x) = (1 + tanh(x/2)) / 2: no exp to overflow, and ~10x faster than expit.
        self._y = np.tanh(0.5 * x)
        self._y *= 0.5
        self._y += 0.5
        return self._y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        return grad_y * (self._y * (1 - self._y))


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class GELU(Layer):
    """x * Phi(x) exactly (erf), or the tanh approximation; Python-float constants keep dtype."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        if self.approximate == "tanh":
            self._t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
            return 0.5 * x * (1 + self._t)
        self._cdf = 0.5 * (1 + erf(x * _SQRT_HALF))
        return x * self._cdf

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        x = self._x
        if self.approximate == "tanh":
            t = self._t
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return grad_y * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
        pdf = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
        return grad_y * (self._cdf + x * pdf)

    def __repr__(self) -> str:
        return "GELU()" if self.approximate == "none" else "GELU(approximate='tanh')"


# ------------------------------------------------------------------------- shape and noise
class Flatten(Layer):
    """(N, C, L) -> (N, C*L), channel-major like PyTorch (a reshape, no copy)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        return grad_y.reshape(self._shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(int(v) for v in input_shape),)


class Dropout(Layer):
    """Inverted dropout: zero with probability ``rate``, scale kept values by 1/(1-rate)."""

    def __init__(self, rate: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not (isinstance(rate, int | float) and 0 <= rate < 1):
            raise ValueError(f"rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.rng = np.random.default_rng() if rng is None else rng
        self._mask: np.ndarray | None = None
        # x's shape -> its keep mask (bool); None: drawn here from ``rng``. Data-parallel
        # training sets it: one process draws the whole batch's mask, each takes its slice.
        self.draw_keep: Callable[[tuple[int, ...]], np.ndarray] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.rate == 0:
            self._mask = None
            return x
        if self.draw_keep is not None:
            keep = self.draw_keep(x.shape)
        else:
            keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        self._mask = keep.astype(x.dtype)
        self._mask *= 1.0 / (1.0 - self.rate)
        return x * self._mask

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        return grad_y if self._mask is None else grad_y * self._mask

    def __repr__(self) -> str:
        return f"Dropout(rate={self.rate})"
