"""The engine's array functions: output sizes, padding, strided windows (im2col/col2im), conv.

One layout everywhere: inputs are (batch, channels, length) = (N, C, L); a window of K taps
adds an axis after C, so the windows of a padded input are a (N, C, K, L_out) strided view.
Convolution and pooling share these windows: there is one im2col and one col2im.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from numpy.lib.stride_tricks import as_strided

# Upper bound on a convolution's working buffers (im2col columns; the tap path's batch-inside
# input and output grid); a larger batch is convolved in chunks, so memory stays bounded for long
# sequences and big evaluation batches. 16 MiB also keeps buffers under glibc's largest mmap
# threshold (32 MiB), so they are reused between steps instead of page-faulted in again.
MAX_COLS_BYTES = 16 * 2**20

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
    """Samples per chunk under MAX_COLS_BYTES, evened out (70 -> 35 + 35, not 64 + 6)."""
    most = max(1, MAX_COLS_BYTES // max(bytes_per_sample, 1))
    if most >= n:
        return n
    pieces = -(-n // most)
    return -(-n // pieces)


# ------------------------------------------------------------------------------- convolution
# Two ways to run one convolution as GEMMs, chosen by shape (both exact, same results):
# - columns: one im2col copy (C*K, N*L_out) and one GEMM; best for few input channels or a
#   stride, where the copy is small or the windows do not overlap.
# - taps: lay the batch end to end as one long (C, N*Lp) sequence and run one GEMM per kernel
#   tap on shifted column slices, accumulating. No K-fold column copy, and the shifted slices
#   are plain strided matrices BLAS reads in place; outputs that straddle two samples are
#   computed and dropped, a (K-1)/Lp waste. Needs stride 1 (a strided slice is not BLAS-able).
TAPS_MIN_CHANNELS = 8


def uses_taps(c: int, k: int, s: int) -> bool:
    """Whether a conv with C input channels, K taps and stride s runs tap by tap."""
    return s == 1 and k > 1 and c >= TAPS_MIN_CHANNELS


def batch_inside(xp: np.ndarray) -> np.ndarray:
    """(N, C, Lp) -> contiguous (C, N*Lp): the batch laid end to end along the length."""
    n, c, lp = xp.shape
    xt = np.empty((c, n, lp), dtype=xp.dtype)
    np.copyto(xt, xp.transpose(1, 0, 2))
    return xt.reshape(c, n * lp)


def _taps_forward(xt: np.ndarray, W: np.ndarray, d: int, lp: int) -> np.ndarray:
    """xt (C, N*Lp), W (O, C, K) -> y on the grid (O, N, Lp); position t of sample n is valid
    for t < L_out, later positions straddle two samples and are left unwritten."""
    o, _, k = W.shape
    m = xt.shape[1] - d * (k - 1)  # grid positions whose window stays inside the buffer
    taps = np.ascontiguousarray(W.transpose(2, 0, 1))  # (K, O, C): contiguous GEMM operands
    grid = np.empty((o, xt.shape[1]), dtype=np.result_type(xt, W))
    np.matmul(taps[0], xt[:, :m], out=grid[:, :m])
    part = np.empty((o, m), dtype=grid.dtype)
    for j in range(1, k):  # one GEMM per tap (K is small); the batch is a single operand
        np.matmul(taps[j], xt[:, j * d : j * d + m], out=part)
        grid[:, :m] += part
    return grid.reshape(o, -1, lp)


def _taps_backward(
    dy: np.ndarray, xt: np.ndarray, W: np.ndarray, d: int, dxp: np.ndarray | None
) -> np.ndarray:
    """dy (n, O, L_out), xt (C, n*Lp) -> dW (O, C, K) of this chunk; adds dx into dxp (n, C, Lp)."""
    n, o, out_len = dy.shape
    _, c, k = W.shape
    lp = xt.shape[1] // n
    m = xt.shape[1] - d * (k - 1)
    # dy on the grid, zero where the forward pass dropped straddling outputs.
    grid = np.empty((o, n, lp), dtype=np.result_type(dy, W))
    grid[:, :, out_len:] = 0
    np.copyto(grid[:, :, :out_len], dy.transpose(1, 0, 2))
    dyg = grid.reshape(o, -1)[:, :m]
    dW = np.empty((k, o, c), dtype=grid.dtype)
    for j in range(k):
        np.matmul(dyg, xt[:, j * d : j * d + m].T, out=dW[j])
    if dxp is not None:
        taps_t = np.ascontiguousarray(W.transpose(2, 1, 0))  # (K, C, O)
        dxt = np.zeros((c, xt.shape[1]), dtype=grid.dtype)
        part = np.empty((c, m), dtype=grid.dtype)
        for j in range(k):  # the adjoint of the forward taps: shifted GEMMs added back
            np.matmul(taps_t[j], dyg, out=part)
            dxt[:, j * d : j * d + m] += part
        np.copyto(dxp, dxt.reshape(c, n, lp).transpose(1, 0, 2))
    return dW.transpose(1, 2, 0)


def _work_chunk(n: int, c: int, k: int, o: int, s: int, lp: int, out_len: int, size: int) -> int:
    """Samples per chunk so the path's working buffers stay under MAX_COLS_BYTES."""
    if uses_taps(c, k, s):
        return _batch_chunk(n, (c + 2 * o) * lp * size)  # xt, grid and one tap product
    return _batch_chunk(n, c * k * out_len * size)


def conv1d_forward(
    xp: np.ndarray, W: np.ndarray, b: np.ndarray | None, s: int = 1, d: int = 1
) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, C, Lp) padded input, W (O, C, K), b (O,) -> (y (N, O, L_out), saved or None).

    ``saved`` is what conv1d_backward needs besides xp: the columns, or for the tap path the
    batch-inside input. It is None when the batch was chunked (the backward pass then rebuilds
    each chunk's buffer instead of keeping them all).
    """
    n, c, lp = xp.shape
    o, _, k = W.shape
    out_len = (lp - d * (k - 1) - 1) // s + 1
    y = np.empty((n, o, out_len), dtype=np.result_type(xp, W))
    taps = uses_taps(c, k, s)
    W2 = W.reshape(o, c * k)
    chunk = _work_chunk(n, c, k, o, s, lp, out_len, xp.itemsize)
    saved = None
    for start in range(0, n, chunk):  # a single iteration unless the buffers exceed the bound
        part = slice(start, start + chunk)
        if taps:
            saved = batch_inside(xp[part])
            yv = _taps_forward(saved, W, d, lp)[:, :, :out_len]
        else:
            saved = im2col(xp[part], k, s, d, out_len)
            yv = (W2 @ saved).reshape(o, -1, out_len)
        _add_bias(yv.transpose(1, 0, 2), b, y[part])
    return y, (saved if chunk >= n else None)


def _add_bias(yv: np.ndarray, b: np.ndarray | None, out: np.ndarray) -> None:
    # The bias add doubles as the copy from the GEMM's (O, N, L) order into (N, O, L).
    if b is None:
        np.copyto(out, yv)
    else:
        np.add(yv, b[:, None], out=out)


def conv1d_backward(
    dy: np.ndarray,
    xp: np.ndarray,
    W: np.ndarray,
    s: int = 1,
    d: int = 1,
    cols: np.ndarray | None = None,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """dy (N, O, L_out) -> (dxp (N, C, Lp) or None, dW (O, C, K), db (O,)), batch-summed.

    ``cols`` is conv1d_forward's ``saved`` (rebuilt chunk by chunk from xp when None).
    """
    n, c, lp = xp.shape
    o, _, k = W.shape
    out_len = dy.shape[2]
    taps = uses_taps(c, k, s)
    W2 = W.reshape(o, c * k)
    dtype = np.result_type(dy, W)
    dxp = (np.empty if taps else np.zeros)(xp.shape, dtype=dtype) if input_grad else None
    dW = np.zeros((o, c, k), dtype=dtype)
    chunk = n if cols is not None else _work_chunk(n, c, k, o, s, lp, out_len, xp.itemsize)
    for start in range(0, n, chunk):  # a single iteration unless the buffers exceed the bound
        part = slice(start, start + chunk)
        dx_part = None if dxp is None else dxp[part]
        if taps:
            xt = cols if cols is not None else batch_inside(xp[part])
            dW += _taps_backward(dy[part], xt, W, d, dx_part)
            continue
        cols_part = cols if cols is not None else im2col(xp[part], k, s, d, out_len)
        dy2 = dy[part].transpose(1, 0, 2).reshape(o, -1)  # (O, n*L_out), one copy
        dW += (dy2 @ cols_part.T).reshape(o, c, k)
        if dx_part is not None:
            dcols = (W2.T @ dy2).reshape(c, k, -1, out_len)
            col2im(dcols.transpose(2, 0, 1, 3), s, d, out=dx_part)
    return dxp, dW, dy.sum(axis=(0, 2))
