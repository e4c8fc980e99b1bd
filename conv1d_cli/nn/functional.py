"""The engine's array functions: output sizes, padding, strided windows (im2col/col2im), conv.

One layout everywhere: inputs are (batch, channels, length) = (N, C, L); a window of K taps
adds an axis after C, so the windows of a padded input are a (N, C, K, L_out) strided view.
Convolution and pooling share these windows: there is one im2col and one col2im.

The shape is fixed, the memory order is not: convolutions return their (N, C, L) outputs
stored channel-major ((C, N, L) in memory, the order their GEMMs produce), elementwise layers
keep whatever order they get, and every function reads any strides.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from conv1d_cli.nn import blas
from conv1d_cli.nn.padding import (  # noqa: F401 (re-exported: the engine's one import place)
    PADDING_MODES,
    Padding,
    calc_conv1d_output_size,
    check_int,
    check_padding,
    check_padding_mode,
    conv_output_length,
    empty_in_order_of,
    output_size,
    pad1d,
    pad1d_backward,
    pad_indices,
    resolve_padding,
    same_padding,
)

# Upper bound on a convolution's working buffers (im2col columns; the tap path's batch-inside
# input and output grid); a larger batch is convolved in chunks, so memory stays bounded for long
# sequences and big evaluation batches. 16 MiB also keeps buffers under glibc's largest mmap
# threshold (32 MiB), so they are reused between steps instead of page-faulted in again.
MAX_COLS_BYTES = 16 * 2**20


# ---------------------------------------------------------------------------- im2col, col2im
def window_view(xp: np.ndarray, k: int, s: int, d: int, out_len: int) -> np.ndarray:
    """(N, C, Lp) -> read-only strided view (N, C, K, L_out): [n, c, j, t] = xp[n, c, t*s + j*d]."""
    sn, sc, sl = xp.strides
    n, c, _ = xp.shape
    return as_strided(xp, (n, c, k, out_len), (sn, sc, d * sl, s * sl), writeable=False)


def im2col(
    xp: np.ndarray, k: int, s: int, d: int, out_len: int, ones_row: bool = False
) -> np.ndarray:
    """(N, C, Lp) -> contiguous columns (C*K, N*L_out), the right operand of W.reshape(O, C*K).

    ``ones_row`` appends a row of ones (C*K + 1 rows), so a bias column on W adds the bias
    inside the GEMM instead of in a separate pass over the output.
    """
    n, c, _ = xp.shape
    cols = np.empty((c * k + ones_row, n * out_len), dtype=xp.dtype)
    # (C, K) first matches W's layout, and (N, L_out) last keeps the copy's inner loop long.
    window = window_view(xp, k, s, d, out_len).transpose(1, 2, 0, 3)
    np.copyto(cols[: c * k].reshape(c, k, n, out_len), window)
    if ones_row:
        cols[-1] = 1
    return cols


def col2im(dwin: np.ndarray, s: int, d: int, out: np.ndarray) -> np.ndarray:
    """Accumulate window gradients (N, C, K, L_out) into ``out`` (N, C, Lp) in place."""
    k, out_len = dwin.shape[2], dwin.shape[3]
    span = s * (out_len - 1) + 1
    for j in range(k):  # one strided slice per tap; windows overlap, so taps must add
        out[:, :, j * d : j * d + span : s] += dwin[:, :, j]
    return out


def batch_chunk(n: int, bytes_per_sample: int) -> int:
    """Samples per chunk under MAX_COLS_BYTES, evened out (70 -> 35 + 35, not 64 + 6)."""
    most = max(1, MAX_COLS_BYTES // max(bytes_per_sample, 1))
    if most >= n:
        return n
    pieces = -(-n // most)
    return -(-n // pieces)


# ------------------------------------------------------------------------------- convolution
# Convolution outputs, and the input gradients the tap path returns, are (N, C, L) arrays
# stored channel-major, (C, N, L) in memory: that is the order the GEMMs produce, so returning
# a transposed view costs nothing, while a copy into (N, C, L) order would cost a full pass.
# Every function here reads any strides; elementwise layers keep the order (NumPy's order='K').
#
# Two ways to run one convolution as GEMMs, chosen by shape (both exact, same results):
# - columns: one im2col copy (C*K, N*L_out) and one GEMM; best for few input channels or a
#   stride, where the copy is small or the windows do not overlap.
# - taps: lay the batch end to end as one long (C, N*Lp) sequence, zero pads included, and run
#   one GEMM per kernel tap on shifted column slices, accumulating. No K-fold column copy, and
#   the shifted slices are plain strided matrices BLAS reads in place; outputs that straddle two
#   samples are computed and dropped, a (K-1)/Lp waste. Needs stride 1 (a strided slice is
#   not BLAS-able). Wide kernels stay on taps too: layer by layer, columns were slower for
#   32->32 k5 (L392: 11.7-13.6 ms forward+backward against 10.2-11.0; L784: 27 against 20)
#   and 16->16 k7, and only level for 32->64 k5 at L196 (2026-11-29, batch 64, 2 threads).
#   Exception: kernels of 8 to 11 taps with >= 32 input channels on a small batch go by columns
#   (the whole batch's columns within COLS_SMALL_BYTES): at batch 16, L150, one thread, forward
#   + backward, 32->64 k8 and 32->32 k9 took 0.78-0.84x and 0.67x the taps' time (every round
#   faster), 64->64 k8/k9 0.94-0.96x, resnet1d.yaml's step 0.87-0.91x; but 16->16 k9 took 1.48x
#   (col2im), 32->32 k39 1.14x, and k3/k5 are level (2026-12-01). That exception held while
#   every tap after the first cost a GEMM into scratch plus an add; with NumPy's BLAS reachable
#   (blas.py) the taps accumulate inside the GEMM, and k8 on taps beat columns in the network:
#   resnet1d.yaml against its PyTorch twin 1.04-1.12x (taps) vs 1.10-1.20x (columns), three
#   alternating runs, one thread (2026-12-01). So the exception applies only without it.
TAPS_MIN_CHANNELS = 8
COLS_KERNELS = range(8, 12)
COLS_MIN_CHANNELS = 32
COLS_SMALL_BYTES = 8 * 2**20


def uses_taps(c: int, k: int, s: int, cols_bytes: int = 0) -> bool:
    """Whether a conv with C input channels, K taps and stride s runs tap by tap;
    ``cols_bytes`` is the size of the whole batch's im2col columns (C*K*N*L_out*itemsize)."""
    small_wide = k in COLS_KERNELS and c >= COLS_MIN_CHANNELS and cols_bytes <= COLS_SMALL_BYTES
    if small_wide and not blas.available():
        return False
    return s == 1 and k > 1 and c >= TAPS_MIN_CHANNELS


def batch_inside(
    x: np.ndarray, left: int = 0, right: int = 0, ones_row: bool = False
) -> np.ndarray:
    """(N, C, L) -> contiguous (C, N*Lp), Lp = left + L + right: zero-padded samples end to end.

    Padding and the transposing copy are one pass (no separate padded copy of x).
    ``ones_row`` appends a row of ones (C + 1 rows) for the bias, as in im2col.
    """
    n, c, length = x.shape
    lp = left + length + right
    xt = np.empty((c + ones_row, n, lp), dtype=x.dtype)
    xt[:c, :, :left] = 0
    xt[:c, :, left + length :] = 0
    np.copyto(xt[:c, :, left : left + length], x.transpose(1, 0, 2))
    if ones_row:
        xt[c] = 1
    return xt.reshape(c + ones_row, n * lp)


def _taps_forward(
    xt: np.ndarray, W: np.ndarray, b: np.ndarray | None, d: int, lp: int
) -> np.ndarray:
    """xt (C [+1 ones row if b], N*Lp), W (O, C, K), b (O,) -> y on the grid (O, N, Lp);
    position t of sample n is valid for t < L_out, later positions straddle two samples and
    hold garbage (never read)."""
    o, c, k = W.shape
    m = xt.shape[1] - d * (k - 1)  # grid positions whose window stays inside the buffer
    taps = np.ascontiguousarray(W.transpose(2, 0, 1))  # (K, O, C): contiguous GEMM operands
    first = taps[0] if b is None else np.concatenate([taps[0], b[:, None]], axis=1)
    grid = np.empty((o, xt.shape[1]), dtype=np.result_type(xt, W))
    np.matmul(first, xt[: first.shape[1], :m], out=grid[:, :m])  # tap 0 and the bias
    for j in range(1, k):  # one GEMM per tap (K is small); the batch is a single operand
        _add_product(taps[j], xt[:c, j * d : j * d + m], grid[:, :m])
    return grid.reshape(o, -1, lp)


def _add_product(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out += a @ b: inside the GEMM when NumPy's BLAS is reachable (blas.py), else two passes."""
    if not blas.gemm_accumulate(a, b, out):
        out += a @ b


def _taps_backward(
    dy: np.ndarray, xt: np.ndarray, W: np.ndarray, d: int, input_grad: bool, bias_grad: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """dy (n, O, L_out), xt (C [+1], n*Lp) -> (dW (O, C, K), db (O,) or None, dxt (C, n*Lp) or
    None); db only with ``bias_grad``."""
    n, o, out_len = dy.shape
    _, c, k = W.shape
    xt = xt[:c]  # without forward's ones row
    lp = xt.shape[1] // n
    m = xt.shape[1] - d * (k - 1)
    # dy on the grid, zero where the forward pass dropped straddling outputs.
    grid = np.empty((o, n, lp), dtype=np.result_type(dy, W))
    grid[:, :, out_len:] = 0
    np.copyto(grid[:, :, :out_len], dy.transpose(1, 0, 2))
    flat = grid.reshape(o, -1)
    db = flat.sum(axis=1) if bias_grad else None  # contiguous rows; the zeros add nothing
    dyg = flat[:, :m]
    # dW per tap as (C, O) = shifted x (C, m) @ dy^T (m, O), with dy^T copied contiguous once:
    # 10-17% faster than dy @ shifted x^T for 64-128 channels at batch 16 (one thread).
    dy_t = np.ascontiguousarray(dyg.T)
    dW_t = np.empty((k, c, o), dtype=grid.dtype)
    for j in range(k):
        np.matmul(xt[:, j * d : j * d + m], dy_t, out=dW_t[j])
    dxt = None
    if input_grad:  # the adjoint of the forward taps: shifted GEMMs added back
        taps_t = np.ascontiguousarray(W.transpose(2, 1, 0))  # (K, C, O)
        dxt = np.empty((c, xt.shape[1]), dtype=grid.dtype)
        np.matmul(taps_t[0], dyg, out=dxt[:, :m])
        dxt[:, m:] = 0
        for j in range(1, k):
            _add_product(taps_t[j], dyg, dxt[:, j * d : j * d + m])
    return dW_t.transpose(2, 1, 0), db, dxt


def work_chunk(n: int, c: int, k: int, o: int, s: int, lp: int, out_len: int, size: int) -> int:
    """Samples per chunk so the path's working buffers stay under MAX_COLS_BYTES."""
    if uses_taps(c, k, s, c * k * n * out_len * size):
        return batch_chunk(n, (c + 2 * o) * lp * size)  # xt, grid and one tap product
    return batch_chunk(n, c * k * out_len * size)


def _forward_chunk(
    x: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None,
    s: int,
    d: int,
    pad: tuple[int, int],
    out_len: int,
    taps: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """x (n, C, L) -> (y (O, n, L_out), possibly a strided view; saved buffer).

    The bias rides in the GEMM (a ones row under the input, a bias column beside W).
    """
    o, c, k = W.shape
    if taps:
        xt = batch_inside(x, *pad, ones_row=b is not None)
        lp = xt.shape[1] // x.shape[0]
        return _taps_forward(xt, W, b, d, lp)[:, :, :out_len], xt
    cols = im2col(pad1d(x, *pad), k, s, d, out_len, ones_row=b is not None)
    W2 = W.reshape(o, c * k)
    if b is not None:
        W2 = np.concatenate([W2, b[:, None]], axis=1)
    return (W2 @ cols).reshape(o, -1, out_len), cols


def conv1d_forward(
    x: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None,
    s: int = 1,
    d: int = 1,
    pad: tuple[int, int] = (0, 0),
    mode: str = "zeros",
) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, C, L) input, W (O, C, K), b (O,) -> (y (N, O, L_out) channel-major, saved or None).

    ``pad`` is (left, right) in padding ``mode``. ``saved`` is what conv1d_backward needs besides
    x: the columns, or for the tap path the batch-inside input. It is None when the batch was
    chunked (the backward pass then rebuilds each chunk's buffer instead of keeping them all).
    """
    if mode != "zeros" and pad != (0, 0):
        return conv1d_forward(pad1d(x, *pad, mode), W, b, s, d)
    n, c, length = x.shape
    o, _, k = W.shape
    lp = length + pad[0] + pad[1]
    out_len = (lp - d * (k - 1) - 1) // s + 1
    chunk = work_chunk(n, c, k, o, s, lp, out_len, x.itemsize)
    taps = uses_taps(c, k, s, c * k * n * out_len * x.itemsize)  # decided for the whole batch
    if chunk >= n:
        y, saved = _forward_chunk(x, W, b, s, d, pad, out_len, taps)
    else:  # chunk by chunk into one channel-major output; nothing kept for backward
        y, saved = np.empty((o, n, out_len), dtype=np.result_type(x, W)), None
        for start in range(0, n, chunk):
            part = slice(start, start + chunk)
            np.copyto(y[:, part], _forward_chunk(x[part], W, b, s, d, pad, out_len, taps)[0])
    return y.transpose(1, 0, 2), saved


def conv1d_backward(
    dy: np.ndarray,
    x: np.ndarray,
    W: np.ndarray,
    s: int = 1,
    d: int = 1,
    saved: np.ndarray | None = None,
    input_grad: bool = True,
    pad: tuple[int, int] = (0, 0),
    mode: str = "zeros",
    bias_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """dy (N, O, L_out), x the forward input -> (dx (N, C, L) or None, dW (O, C, K), db (O,)).

    Gradients are batch-summed. ``saved`` is conv1d_forward's (rebuilt chunk by chunk from x
    when None); ``pad`` and ``mode`` must be the forward pass's. Without ``bias_grad`` (a conv
    without bias) db is left at zeros, saving a pass over dy.
    """
    if mode != "zeros" and pad != (0, 0):
        padded = pad1d(x, *pad, mode)
        dxp, dW, db = conv1d_backward(dy, padded, W, s, d, saved, input_grad, bias_grad=bias_grad)
        dx = None if dxp is None else pad1d_backward(dxp, *pad, mode, x.shape[2])
        return dx, dW, db
    n, c, length = x.shape
    o, _, k = W.shape
    left = pad[0]
    lp = length + pad[0] + pad[1]
    out_len = dy.shape[2]
    taps = uses_taps(c, k, s, c * k * n * out_len * x.itemsize)  # as conv1d_forward chose
    dtype = np.result_type(dy, W)
    dW, db = np.zeros((o, c, k), dtype=dtype), np.zeros(o, dtype=dtype)
    chunk = n if saved is not None else work_chunk(n, c, k, o, s, lp, out_len, x.itemsize)
    dx = np.empty((c, n, length), dtype=dtype) if input_grad and chunk < n else None
    for start in range(0, n, chunk):  # a single iteration unless the buffers exceed the bound
        part = slice(start, start + chunk)
        nc = min(chunk, n - start)  # samples in this chunk
        if taps:
            xt = saved if saved is not None else batch_inside(x[part], *pad)
            dW_part, db_part, dxt = _taps_backward(dy[part], xt, W, d, input_grad, bias_grad)
            dxp = None if dxt is None else dxt.reshape(c, nc, lp)
        else:
            cols = saved if saved is not None else im2col(pad1d(x[part], *pad), k, s, d, out_len)
            dy2 = dy[part].transpose(1, 0, 2).reshape(o, -1)  # free for channel-major dy
            dW_part = (dy2 @ cols[: c * k].T).reshape(o, c, k)  # without the ones row
            db_part = dy2.sum(axis=1) if bias_grad else None
            dxp = None
            if input_grad:
                dcols = (W.reshape(o, c * k).T @ dy2).reshape(c, k, nc, out_len)
                dxp = np.zeros((c, nc, lp), dtype=dtype)
                col2im(dcols.transpose(2, 0, 1, 3), s, d, out=dxp.transpose(1, 0, 2))
        dW += dW_part
        if db_part is not None:
            db += db_part
        if dxp is None:
            continue
        if chunk >= n:  # one chunk: the gradient is a view of the padded buffer, no copy
            dx = dxp[:, :, left : left + length]
        else:
            np.copyto(dx[:, part], dxp[:, :, left : left + length])
    return (None if dx is None else dx.transpose(1, 0, 2)), dW, db
