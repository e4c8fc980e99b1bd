"""The engine's array functions: output sizes, padding, strided windows (im2col/col2im), conv.

One layout everywhere: inputs are (batch, channels, length) = (N, C, L); a window of K taps
adds an axis after C, so the windows of a padded input are a (N, C, K, L_out) strided view.
Convolution and pooling share these windows: there is one im2col and one col2im.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from numpy.lib.stride_tricks import as_strided

# Upper bound on one im2col column buffer; a larger batch is convolved in chunks so memory stays
# bounded for long sequences (one GEMM per chunk instead of one per pass).
MAX_COLS_BYTES = 64 * 2**20

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
    """(left, right) for an int, a pair, 'valid' or 'same' (which depends on n when s > 1)."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            return same_padding(n, f, s, d)
    elif isinstance(padding, tuple | list):
        if len(padding) == 2:
            return check_int(f"{name}[0]", padding[0], 0), check_int(f"{name}[1]", padding[1], 0)
    else:
        p = check_int(name, padding, 0)
        return p, p
    raise ValueError(
        f"{name} must be an int >= 0, a pair (left, right), 'valid' or 'same', got {padding!r}"
    )


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
    """N_out = floor((N_in + 2P - D(F-1) - 1)/S) + 1; p may be 'valid', 'same' or (left, right)."""
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


def pad1d(x: np.ndarray, left: int, right: int, mode: str = "zeros", value: float = 0.0):
    """(..., L) -> (..., left + L + right); 'zeros' mode fills with ``value``. No copy if no pad."""
    if left == 0 and right == 0:
        return x
    n = x.shape[-1]
    if mode != "zeros":
        return np.take(x, pad_indices(n, left, right, mode), axis=-1)
    xp = np.empty((*x.shape[:-1], left + n + right), dtype=x.dtype)
    xp[..., :left] = value
    xp[..., left + n :] = value
    xp[..., left : left + n] = x
    return xp


def pad1d_backward(dxp: np.ndarray, left: int, right: int, mode: str, n: int) -> np.ndarray:
    """(..., left + n + right) -> (..., n): the gradient of pad1d, folding pads onto sources."""
    if left == 0 and right == 0:
        return dxp
    dx = dxp[..., left : left + n].copy()
    if mode != "zeros":
        edge = np.r_[0:left, left + n : left + n + right]
        src = pad_indices(n, left, right, mode)[edge]
        # add.at, not +=: a source can feed several pads (replicate, circular wider than n).
        np.add.at(np.moveaxis(dx, -1, 0), src, np.moveaxis(dxp[..., edge], -1, 0))
    return dx


# ---------------------------------------------------------------------------- im2col, col2im
def window_view(xp: np.ndarray, k: int, s: int, d: int, out_len: int) -> np.ndarray:
    """(N, C, Lp) -> read-only strided view (N, C, K, L_out): [n, c, j, t] = xp[n, c, t*s + j*d]."""
    sn, sc, sl = xp.strides
    n, c, _ = xp.shape
    return as_strided(xp, (n, c, k, out_len), (sn, sc, d * sl, s * sl), writeable=False)


def im2col(xp: np.ndarray, k: int, s: int, d: int, out_len: int) -> np.ndarray:
    """(N, C, Lp) -> contiguous columns (C*K, N*L_out), the right operand of W.reshape(O, C*K)."""
    n, c, _ = xp.shape
    cols = np.empty((c, k, n, out_len), dtype=xp.dtype)
    # (C, K) first matches W's layout, and (N, L_out) last keeps the copy's inner loop long.
    np.copyto(cols, window_view(xp, k, s, d, out_len).transpose(1, 2, 0, 3))
    return cols.reshape(c * k, n * out_len)


def col2im(dwin: np.ndarray, s: int, d: int, out: np.ndarray) -> np.ndarray:
    """Accumulate window gradients (N, C, K, L_out) into ``out`` (N, C, Lp) in place."""
    k, out_len = dwin.shape[2], dwin.shape[3]
    span = s * (out_len - 1) + 1
    for j in range(k):  # one strided slice per tap; windows overlap, so taps must add
        out[:, :, j * d : j * d + span : s] += dwin[:, :, j]
    return out


def _batch_chunk(n: int, bytes_per_sample: int) -> int:
    return max(1, min(n, MAX_COLS_BYTES // max(bytes_per_sample, 1)))


# ------------------------------------------------------------------------------- convolution
def conv1d_forward(
    xp: np.ndarray, W: np.ndarray, b: np.ndarray | None, s: int = 1, d: int = 1
) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, C, Lp) padded input, W (O, C, K), b (O,) -> (y (N, O, L_out), cols or None).

    ``cols`` is the column matrix to hand back to conv1d_backward; it is None when the batch
    was chunked (the backward pass then rebuilds each chunk's columns instead of keeping them).
    """
    n, c, lp = xp.shape
    o, _, k = W.shape
    out_len = (lp - d * (k - 1) - 1) // s + 1
    W2 = W.reshape(o, c * k)
    y = np.empty((n, o, out_len), dtype=np.result_type(xp, W))
    chunk = _batch_chunk(n, c * k * out_len * xp.itemsize)
    cols = None
    for start in range(0, n, chunk):  # a single iteration unless the columns exceed the bound
        cols = im2col(xp[start : start + chunk], k, s, d, out_len)
        yv = (W2 @ cols).reshape(o, -1, out_len).transpose(1, 0, 2)
        # The bias add doubles as the copy from the GEMM's (O, N, L) order into (N, O, L).
        if b is None:
            y[start : start + chunk] = yv
        else:
            np.add(yv, b[:, None], out=y[start : start + chunk])
    return y, (cols if chunk >= n else None)


def conv1d_backward(
    dy: np.ndarray,
    xp: np.ndarray,
    W: np.ndarray,
    s: int = 1,
    d: int = 1,
    cols: np.ndarray | None = None,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """dy (N, O, L_out) -> (dxp (N, C, Lp) or None, dW (O, C, K), db (O,)), batch-summed."""
    n, c, _ = xp.shape
    o, _, k = W.shape
    out_len = dy.shape[2]
    W2 = W.reshape(o, c * k)
    dxp = np.zeros(xp.shape, dtype=np.result_type(dy, W)) if input_grad else None
    dW2 = None
    chunk = n if cols is not None else _batch_chunk(n, c * k * out_len * xp.itemsize)
    for start in range(0, n, chunk):  # a single iteration unless the columns exceed the bound
        part = slice(start, start + chunk)
        cols_part = cols if cols is not None else im2col(xp[part], k, s, d, out_len)
        dy2 = dy[part].transpose(1, 0, 2).reshape(o, -1)  # (O, n*L_out), one copy
        dW_part = dy2 @ cols_part.T
        dW2 = dW_part if dW2 is None else dW2 + dW_part
        if dxp is not None:
            dcols = (W2.T @ dy2).reshape(c, k, -1, out_len)
            col2im(dcols.transpose(2, 0, 1, 3), s, d, out=dxp[part])
    return dxp, dW2.reshape(o, c, k), dy.sum(axis=(0, 2))
