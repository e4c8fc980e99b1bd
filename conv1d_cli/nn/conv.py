"""Layers built on strided windows: Conv1d, the course's SimpleConv1d, and pooling.

Inputs are (batch, channels, length). Every pass is vectorised: GEMMs over the whole batch
(see functional.py); the only Python loops left run over the kernel taps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from conv1d_cli.nn import functional as fn
from conv1d_cli.nn.functional import check_int
from conv1d_cli.nn.init import resolve_initializer
from conv1d_cli.nn.layers import (
    Layer,
    as_dtype,
    expect_input,
    expect_shape,
    grad_property,
    param_property,
)


class Conv1d(Layer):
    """(N, C_in, L) -> (N, C_out, L_out); W (C_out, C_in, K) and b (C_out,) as in PyTorch."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: fn.Padding = 0,
        padding_mode: str = "zeros",
        dilation: int = 1,
        bias: bool = True,
        initializer: Callable[..., np.ndarray] | str | None = None,
        dtype: DTypeLike = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.kernel_size = k = check_int("kernel_size", kernel_size, 1)
        self.stride = check_int("stride", stride, 1)
        self.dilation = check_int("dilation", dilation, 1)
        fn.resolve_padding(padding, 1, k)  # validates now; 'same' is resolved per input length
        self.padding = tuple(padding) if isinstance(padding, list | tuple) else padding
        fn.check_padding_mode(padding_mode)
        self.padding_mode = padding_mode
        self.dtype = as_dtype(dtype)
        rng = np.random.default_rng() if rng is None else rng
        init = resolve_initializer(initializer)
        shape = (self.out_channels, self.in_channels, k)
        fan_in, fan_out = self.in_channels * k, self.out_channels * k
        W = init(shape, fan_in, fan_out, rng, self.dtype)
        self.params["W"] = np.ascontiguousarray(W, dtype=self.dtype)
        if bias:
            self.params["b"] = np.zeros(self.out_channels, dtype=self.dtype)
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self._cache: tuple[Any, ...] | None = None

    W = param_property("W")
    b = param_property("b")
    dW = grad_property("W")  # noqa: N815 (the course's names)
    db = grad_property("b")

    def _pad_for(self, length: int) -> tuple[int, int]:
        left, right = fn.resolve_padding(
            self.padding, length, self.kernel_size, self.stride, self.dilation
        )
        fn.check_padding(length, left, right, self.padding_mode)
        return left, right

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        _, length = expect_shape("conv1d", input_shape, 2, self.in_channels)
        pad = self._pad_for(length)
        return self.out_channels, fn.conv_output_length(
            length, self.kernel_size, self.stride, pad, self.dilation
        )

    def macs(self, input_shape: tuple[int, ...]) -> int:
        out_len = self.output_shape(input_shape)[1]
        return out_len * self.out_channels * self.in_channels * self.kernel_size

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, C_in, L) -> (N, C_out, L_out), stored channel-major (see functional.py)."""
        x = expect_input("conv1d", x, 3, self.in_channels, self.dtype)
        length = x.shape[2]
        pad = self._pad_for(length)
        fn.conv_output_length(length, self.kernel_size, self.stride, pad, self.dilation)
        y, saved = fn.conv1d_forward(
            x, self.W, self.b, self.stride, self.dilation, pad, self.padding_mode
        )
        # In eval mode the saved buffer is dropped so inference holds no per-layer buffers; a
        # backward pass (rare in eval) rebuilds it from x.
        self._cache = (x, saved if self.training else None, pad)
        return y

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        """(N, C_out, L_out) -> (N, C_in, L); leaves dW and db in ``grads``."""
        return self._backward(grad_y, input_grad=True)

    def backward_params(self, grad_y: np.ndarray) -> None:
        self._backward(grad_y, input_grad=False)

    def _backward(self, grad_y: np.ndarray, input_grad: bool) -> np.ndarray | None:
        x, saved, pad = self._cache
        grad_y = np.asarray(grad_y, dtype=self.dtype)
        dx, dW, db = fn.conv1d_backward(
            grad_y, x, self.W, self.stride, self.dilation, saved,
            input_grad=input_grad, pad=pad, mode=self.padding_mode, bias_grad="b" in self.grads,
        )  # fmt: skip
        self.grads["W"][...] = dW
        if "b" in self.grads:
            self.grads["b"][...] = db
        return dx

    def __repr__(self) -> str:
        args = [f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"]
        defaults = {"stride": 1, "padding": 0, "padding_mode": "zeros", "dilation": 1}
        for name, default in defaults.items():
            value = getattr(self, name)
            if value != default:
                args.append(f"{name}={value!r}")
        if "b" not in self.params:
            args.append("bias=False")
        return f"Conv1d({', '.join(args)})"


class SimpleConv1d(Layer):
    """The course's layer: x (L,) -> a (L-K+1,), a_i = sum_s x[i+s] W[s] + B; float64.

    ``backward(dA)`` stores dW and dB, then calls ``optimizer.update(self)`` if one was given
    (the course's hook; every other layer leaves updates to the training loop).
    """

    def __init__(
        self,
        kernel_size: int,
        initializer: Callable[..., np.ndarray] | str | None = None,
        optimizer: Any = None,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = k = check_int("kernel_size", kernel_size, 1)
        self.optimizer = optimizer
        rng = np.random.default_rng() if rng is None else rng
        W = resolve_initializer(initializer)((k,), k, k, rng, np.float64)
        # B is a 0-d array, not a float, so optimizers can update it in place like any parameter.
        self.params = {"W": np.asarray(W, dtype=np.float64), "B": np.zeros((), np.float64)}
        self.grads = {"W": np.zeros(k), "B": np.zeros(())}

    W = param_property("W")
    B = param_property("B")
    dW = grad_property("W")  # noqa: N815 (the course's names)
    dB = grad_property("B")  # noqa: N815 (the course's names)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(L,) -> (L - K + 1,)."""
        x = np.asarray(x, dtype=np.float64)
        self.output_shape(x.shape)
        self._xp = x[None, None, :]  # a batch of one sample with one channel
        y, self._saved = fn.conv1d_forward(self._xp, self.W[None, None, :], None)
        return y[0, 0] + self.B

    def backward(self, dA: np.ndarray) -> np.ndarray:
        """(L - K + 1,) -> (L,)."""
        dA = np.asarray(dA, dtype=np.float64)[None, None, :]
        dxp, dW, _ = fn.conv1d_backward(dA, self._xp, self.W[None, None, :], saved=self._saved)
        self.grads["W"][...] = dW[0, 0]
        self.grads["B"][...] = dA.sum()
        if self.optimizer is not None:
            self.optimizer.update(self)
        return dxp[0, 0]

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 1:
            raise ValueError(f"simpleconv1d expects (length,) input, got {tuple(input_shape)}")
        return (fn.conv_output_length(int(input_shape[0]), self.kernel_size, 1, (0, 0)),)

    def __repr__(self) -> str:
        return f"SimpleConv1d({self.kernel_size})"


# ---------------------------------------------------------------------------------- pooling
class _Pool1d(Layer):
    """Shared by max and average pooling: the conv's windows without weights."""

    pad_value = 0.0

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0) -> None:
        super().__init__()
        self.kernel_size = check_int("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else check_int("stride", stride, 1)
        self.padding = check_int("padding", padding, 0)
        if self.padding > self.kernel_size // 2:
            raise ValueError(
                f"padding {self.padding} must be at most half the kernel size {self.kernel_size}"
            )

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        channels, length = expect_shape(self._kind, input_shape, 2)
        pad = (self.padding, self.padding)
        return channels, fn.conv_output_length(length, self.kernel_size, self.stride, pad)

    @property
    def _kind(self) -> str:
        return type(self).__name__.lower()

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, C, L) -> (N, C, L_out)."""
        if x.ndim != 3:
            raise ValueError(f"{self._kind} expects (batch, channels, length) input, got {x.shape}")
        _, out_len = self.output_shape(x.shape[1:])
        xp = fn.pad1d(x, self.padding, self.padding, "zeros", value=self.pad_value)
        self._shape = (x.shape, xp.shape[2], out_len)
        return self._reduce(fn.window_view(xp, self.kernel_size, self.stride, 1, out_len))

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        """(N, C, L_out) -> (N, C, L)."""
        shape, padded_len, out_len = self._shape
        dtype = np.result_type(grad_y, np.float32)
        assigns = self._assigns_every_window_position()
        dxp = fn.empty_in_order_of(grad_y, padded_len, dtype, zeros=not assigns)
        if assigns:  # only the tail that no window reaches needs zeros
            dxp[:, :, out_len * self.stride :] = 0
        self._add_window_grad(grad_y, dxp)
        return fn.pad1d_backward(dxp, self.padding, self.padding, "zeros", shape[2])

    def _assigns_every_window_position(self) -> bool:
        """True when _add_window_grad assigns (not adds) every position windows cover."""
        return False

    def _add_window_grad(self, grad_y: np.ndarray, dxp: np.ndarray) -> None:
        """Accumulate the gradient of every window tap into dxp (N, C, Lp)."""
        fn.col2im(self._window_grad(grad_y), self.stride, 1, out=dxp)

    def __repr__(self) -> str:
        args = [str(self.kernel_size)]
        if self.stride != self.kernel_size:
            args.append(f"stride={self.stride}")
        if self.padding:
            args.append(f"padding={self.padding}")
        return f"{type(self).__name__}({', '.join(args)})"


class MaxPool1d(_Pool1d):
    """Window maxima; padding counts as -inf; the gradient goes to the first maximum."""

    pad_value = -np.inf

    def _reduce(self, windows: np.ndarray) -> np.ndarray:
        # Elementwise over the taps: reductions along the short strided window axis are ~10x
        # slower. Strict > keeps the first maximum, as PyTorch does.
        index_type = np.uint8 if self.kernel_size < 256 else np.int32
        if self.kernel_size == 1:
            self._argmax = np.zeros(windows.shape[:2] + windows.shape[3:], dtype=index_type)
            return windows[:, :, 0].copy(order="K")  # keeps a channel-major input's order
        first, second = windows[:, :, 0], windows[:, :, 1]
        self._argmax = (second > first).astype(index_type)  # the first of equal maxima wins
        y = np.maximum(first, second)
        for j in range(2, self.kernel_size):
            tap = windows[:, :, j]
            better = tap > y
            np.maximum(y, tap, out=y)
            # Arithmetic, not copyto(where=) or putmask: ~30x faster; argmax < j, so no wrap.
            self._argmax += better * (j - self._argmax)
        return y

    def _assigns_every_window_position(self) -> bool:
        return self.stride == self.kernel_size  # windows tile the input: no zero pass

    def _add_window_grad(self, grad_y: np.ndarray, dxp: np.ndarray) -> None:
        # One pass per tap straight into dxp, never building the (N, C, K, L_out) window array;
        # windows that do not overlap (stride >= kernel) are plain assignments.
        out_len = grad_y.shape[2]
        span = self.stride * (out_len - 1) + 1
        if self.kernel_size == 2 and self.stride >= 2:
            # The common 2-wide pool: the argmax is 0/1, so it is its own "second won" mask,
            # and the first tap gets the rest (exact: g - g*1 == 0, g - g*0 == g).
            second = dxp[:, :, 1 : 1 + span : self.stride]
            np.multiply(grad_y, self._argmax.view(np.bool_), out=second)
            np.subtract(grad_y, second, out=dxp[:, :, 0 : span : self.stride])
            return
        for j in range(self.kernel_size):
            target = dxp[:, :, j : j + span : self.stride]
            if self.stride >= self.kernel_size:
                np.multiply(grad_y, self._argmax == j, out=target)
            else:
                target += grad_y * (self._argmax == j)


class AvgPool1d(_Pool1d):
    """Window means; zero padding counts in the mean (PyTorch's count_include_pad=True)."""

    def _reduce(self, windows: np.ndarray) -> np.ndarray:
        y = windows[:, :, 0].copy(order="K")
        for j in range(1, self.kernel_size):  # elementwise over taps, see MaxPool1d
            y += windows[:, :, j]
        y *= 1.0 / self.kernel_size
        return y

    def _window_grad(self, grad_y: np.ndarray) -> np.ndarray:
        share = grad_y * (1.0 / self.kernel_size)
        n, c, out_len = share.shape
        return np.broadcast_to(share[:, :, None, :], (n, c, self.kernel_size, out_len))


class GlobalAvgPool1d(Layer):
    """(N, C, L) -> (N, C): the mean over the length axis."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 3:
            raise ValueError(f"globalavgpool1d expects (batch, channels, length), got {x.shape}")
        self._length = x.shape[2]
        return x.mean(axis=2)

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        share = grad_y * (1.0 / self._length)
        return np.repeat(share[:, :, None], self._length, axis=2)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (expect_shape("globalavgpool1d", input_shape, 2)[0],)
