"""Output-size arithmetic and padding: every padding rule of the engine, and its gradient.

``resolve_padding`` turns a layer's padding setting (an int, a pair, 'valid', 'same' or
'causal') into (left, right); ``pad1d`` / ``pad1d_backward`` apply it along the last axis in
one of ``PADDING_MODES`` and fold the gradient of the pads back onto their sources.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from numpy.typing import DTypeLike

PADDING_MODES = ("zeros", "replicate", "reflect", "circular")

Padding = int | tuple[int, int] | str


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int >= minimum, or ValueError naming ``name``; bools are not integers."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def same_padding(n: int, f: int, s: int = 1, d: int = 1) -> tuple[int, int]:
    """(left, right) padding giving ceil(n/s) outputs; the odd element goes right (TensorFlow)."""
    out = -(-n // s)
    total = max((out - 1) * s + d * (f - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def resolve_padding(
    padding: Padding, n: int, f: int, s: int = 1, d: int = 1, name: str = "padding"
) -> tuple[int, int]:
    """(left, right) for an int, a pair, 'valid', 'same' (depends on n when s > 1) or 'causal'
    (all d*(f-1) on the left: output t sees inputs <= t*s; ceil(n/s) outputs)."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            return same_padding(n, f, s, d)
        if padding == "causal":
            return d * (f - 1), 0
    elif isinstance(padding, tuple | list):
        if len(padding) == 2:
            return check_int(f"{name}[0]", padding[0], 0), check_int(f"{name}[1]", padding[1], 0)
    else:
        p = check_int(name, padding, 0)
        return p, p
    allowed = "an int >= 0, a pair (left, right), 'valid', 'same' or 'causal'"
    raise ValueError(f"{name} must be {allowed}, got {padding!r}")


def conv_output_length(n: int, f: int, s: int, pad: tuple[int, int], d: int = 1) -> int:
    """Output length of a window of f taps (dilation d) sliding with stride s over n + pad."""
    span = d * (f - 1) + 1
    padded = n + pad[0] + pad[1]
    if span > padded:
        raise ValueError(
            f"kernel {f} (dilated {span}) is longer than the padded input {padded} "
            f"(length {n} + padding {pad[0]}+{pad[1]}); the output would be empty"
        )
    return (padded - span) // s + 1


def output_size(n: int, f: int, s: int = 1, p: Padding = 0, d: int = 1) -> int:
    """N_out = floor((N_in+2P-D(F-1)-1)/S) + 1; p: 'valid', 'same', 'causal', (left, right)."""
    n = check_int("n (input length)", n, 1)
    f = check_int("f (kernel size)", f, 1)
    s = check_int("s (stride)", s, 1)
    d = check_int("d (dilation)", d, 1)
    return conv_output_length(n, f, s, resolve_padding(p, n, f, s, d, name="p (padding)"), d)


calc_conv1d_output_size = output_size


# ------------------------------------------------------------------------------------ padding
def check_padding_mode(mode: str) -> None:
    if mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}, got {mode!r}")


def check_padding(n: int, left: int, right: int, mode: str) -> None:
    """ValueError when ``mode`` is unknown or reflect padding is not smaller than the input."""
    check_padding_mode(mode)
    if mode == "reflect" and max(left, right) >= n:
        raise ValueError(
            f"reflect padding {max(left, right)} must be smaller than the input length {n}"
        )


def pad_indices(n: int, left: int, right: int, mode: str) -> np.ndarray:
    """Source index in [0, n) of every padded position, (left + n + right,), for non-zero modes."""
    j = np.arange(-left, n + right)
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    if mode == "circular":
        return j % n
    if mode == "reflect":
        m = j % (2 * n - 2)
        return np.where(m < n, m, 2 * n - 2 - m)
    raise ValueError(f"no index map for padding_mode {mode!r}")


def empty_in_order_of(
    x: np.ndarray, length: int, dtype: DTypeLike = None, zeros: bool = False
) -> np.ndarray:
    """An uninitialised (or zero) array shaped like x but ``length`` long, in x's dtype unless
    given; stored channel-major when x is an (N, C, L) channel-major array, else in C order."""
    alloc = np.zeros if zeros else np.empty
    dtype = x.dtype if dtype is None else dtype
    if x.ndim == 3 and x.strides[0] < x.strides[1]:
        n, c, _ = x.shape
        return alloc((c, n, length), dtype=dtype).transpose(1, 0, 2)
    return alloc((*x.shape[:-1], length), dtype=dtype)


def pad1d(x: np.ndarray, left: int, right: int, mode: str = "zeros", value: float = 0.0):
    """(..., L) -> (..., left + L + right); 'zeros' mode fills with ``value``. No copy if no pad."""
    if left == 0 and right == 0:
        return x
    n = x.shape[-1]
    if mode != "zeros":
        return np.take(x, pad_indices(n, left, right, mode), axis=-1)
    xp = empty_in_order_of(x, left + n + right)
    xp[..., :left] = value
    xp[..., left + n :] = value
    xp[..., left : left + n] = x
    return xp


def pad1d_backward(dxp: np.ndarray, left: int, right: int, mode: str, n: int) -> np.ndarray:
    """(..., left + n + right) -> (..., n): the gradient of pad1d, folding pads onto sources."""
    if left == 0 and right == 0:
        return dxp
    if mode == "zeros":  # a view: the caller's fresh buffer is not copied again
        return dxp[..., left : left + n]
    dx = dxp[..., left : left + n].copy()
    edge = np.r_[0:left, left + n : left + n + right]
    src = pad_indices(n, left, right, mode)[edge]
    # add.at, not +=: a source can feed several pads (replicate, circular wider than n).
    np.add.at(np.moveaxis(dx, -1, 0), src, np.moveaxis(dxp[..., edge], -1, 0))
    return dx
