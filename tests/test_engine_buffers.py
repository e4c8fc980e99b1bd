"""The engine's speed paths give the loop reference's numbers: tap-by-tap convolution, chunked
working buffers (bounded memory), and the malloc setting that keeps freed blocks."""

from __future__ import annotations

import numpy as np
import pytest
from reference_loops import conv1d_backward_loops, conv1d_forward_loops

from conv1d_cli.nn import (
    BatchNorm1d,
    Conv1d,
    Dense,
    Flatten,
    MaxPool1d,
    ReLU,
    Sequential,
    blas,
)
from conv1d_cli.nn import functional as fn
from conv1d_cli.parallel import alloc


@pytest.mark.parametrize("padding", [0, 2, "same", (1, 3)])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
def test_tap_path_matches_the_loop_reference(padding, dilation, kernel):
    rng = np.random.default_rng(0)
    c = fn.TAPS_MIN_CHANNELS
    assert fn.uses_taps(c, kernel, 1) == (kernel > 1)
    layer = Conv1d(c, 5, kernel, padding=padding, dilation=dilation, dtype=np.float64, rng=rng)
    x = rng.standard_normal((3, c, 17))
    y = layer.forward(x)
    ref_y = conv1d_forward_loops(x, layer.W, layer.b, 1, padding, "zeros", dilation)
    np.testing.assert_allclose(y, ref_y, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    ref_dx, ref_dW, ref_db = conv1d_backward_loops(x, layer.W, dy, 1, padding, "zeros", dilation)
    np.testing.assert_allclose(dx, ref_dx, atol=1e-12)
    np.testing.assert_allclose(layer.dW, ref_dW, atol=1e-12)
    np.testing.assert_allclose(layer.db, ref_db, atol=1e-12)


@pytest.mark.parametrize("channels, stride", [(8, 1), (3, 2)])  # tap path, column path
def test_chunked_buffers_give_identical_results(monkeypatch, channels, stride):
    rng = np.random.default_rng(1)
    layer = Conv1d(channels, 6, 3, stride=stride, padding=1, dtype=np.float64, rng=rng)
    x = rng.standard_normal((7, channels, 30))
    y_full = layer.forward(x)
    dy = rng.standard_normal(y_full.shape)
    dx_full, dW_full = layer.backward(dy), layer.dW.copy()
    assert layer._cache[1] is not None  # one chunk: the buffer is kept for backward
    monkeypatch.setattr(fn, "MAX_COLS_BYTES", 1)  # one sample per chunk
    y, dx = layer.forward(x), layer.backward(dy)
    assert layer._cache[1] is None  # rebuilt chunk by chunk instead
    np.testing.assert_allclose(y, y_full, atol=1e-12)
    np.testing.assert_allclose(dx, dx_full, atol=1e-12)
    np.testing.assert_allclose(layer.dW, dW_full, atol=1e-12)


def test_batch_chunks_are_bounded_and_even(monkeypatch):
    monkeypatch.setattr(fn, "MAX_COLS_BYTES", 64 * 100)
    assert fn.batch_chunk(50, 100) == 50  # fits: one chunk
    assert fn.batch_chunk(70, 100) == 35  # two even chunks, not 64 + 6
    assert fn.batch_chunk(5, 10**9) == 1  # a sample larger than the bound still runs


def test_tap_path_in_float32_stays_float32():
    layer = Conv1d(16, 8, 5, padding="same", rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((4, 16, 50)).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.dW.dtype == np.float32
    assert y.strides[1] > y.strides[0]  # channel-major: (C, N, L) in memory


def test_keep_freed_memory_can_be_switched_off(monkeypatch):
    monkeypatch.setenv(alloc.ENV_SWITCH, "0")
    assert alloc.keep_freed_memory() is False


def channel_major(a: np.ndarray) -> np.ndarray:
    """The same (N, C, L) values stored as (C, N, L), as the engine's activations are."""
    return np.ascontiguousarray(a.transpose(1, 0, 2)).transpose(1, 0, 2)


@pytest.mark.parametrize("layout", ["c-order", "channel-major", "strided slice"])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("channels, stride", [(8, 1), (3, 2), (3, 1)])  # taps, columns, columns
@pytest.mark.parametrize("bias", [True, False])
def test_conv_reads_any_memory_layout(layout, mode, channels, stride, bias):
    rng = np.random.default_rng(2)
    layer = Conv1d(
        channels, 5, 3, stride=stride, padding=(2, 1), padding_mode=mode, dilation=2,
        bias=bias, dtype=np.float64, rng=rng,
    )  # fmt: skip
    base = rng.standard_normal((4, channels, 15))
    x = {
        "c-order": base,
        "channel-major": channel_major(base),
        "strided slice": np.concatenate([base, base], axis=2)[:, :, ::2][:, :, :15],
    }[layout]
    ref_x = np.ascontiguousarray(x)
    y = layer.forward(x)
    b = layer.b if bias else None
    np.testing.assert_allclose(
        y, conv1d_forward_loops(ref_x, layer.W, b, stride, (2, 1), mode, 2), atol=1e-12
    )
    assert y.strides[0] < y.strides[1]  # the output is channel-major
    dy = channel_major(rng.standard_normal(y.shape))
    ref_dx, ref_dW, ref_db = conv1d_backward_loops(ref_x, layer.W, dy, stride, (2, 1), mode, 2)
    np.testing.assert_allclose(layer.backward(dy), ref_dx, atol=1e-12)
    np.testing.assert_allclose(layer.dW, ref_dW, atol=1e-12)
    if bias:
        np.testing.assert_allclose(layer.db, ref_db, atol=1e-12)


def test_the_bias_rides_in_the_gemm_as_a_ones_row():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    cols = fn.im2col(x, 2, 1, 1, 3, ones_row=True)
    assert cols.shape == (3 * 2 + 1, 2 * 3) and np.all(cols[-1] == 1)
    np.testing.assert_array_equal(cols[:-1], fn.im2col(x, 2, 1, 1, 3))
    xt = fn.batch_inside(x, 1, 2, ones_row=True)
    assert xt.shape == (4, 2 * 7) and np.all(xt[-1] == 1)
    np.testing.assert_array_equal(xt[:3].reshape(3, 2, 7)[:, :, 1:5], x.transpose(1, 0, 2))
    assert np.all(xt[:3].reshape(3, 2, 7)[:, :, [0, 5, 6]] == 0)  # zero padding, one pass


def test_a_network_gives_the_same_numbers_for_any_input_layout():
    rng = np.random.default_rng(3)
    layers = [
        Conv1d(2, 8, 3, padding="same", dtype=np.float64, rng=rng),
        ReLU(),
        MaxPool1d(2),
        Conv1d(8, 8, 3, padding="same", dtype=np.float64, rng=rng),
        BatchNorm1d(8, dtype=np.float64),
        MaxPool1d(3, 2, 1),
        Flatten(),
        Dense(40, 3, dtype=np.float64, rng=rng),
    ]
    model = Sequential(layers)
    x = rng.standard_normal((5, 2, 20))
    out = model.forward(x)
    dx = model.backward(np.ones_like(out))
    grads = {k: v.copy() for k, v in model.gradients().items()}
    out2 = model.forward(channel_major(x))
    np.testing.assert_allclose(out2, out, atol=1e-12)
    np.testing.assert_allclose(model.backward(np.ones_like(out)), dx, atol=1e-12)
    for name, g in model.gradients().items():
        np.testing.assert_allclose(g, grads[name], atol=1e-12)


@pytest.mark.parametrize(
    "head, features",
    [
        (lambda rng: Conv1d(8, 4, 3, padding=1, dtype=np.float64, rng=rng), 24),  # taps
        (lambda rng: Conv1d(8, 4, 3, stride=2, padding=1, dtype=np.float64, rng=rng), 12),
        (lambda rng: ReLU(), 48),  # a layer without parameters first
    ],
    ids=["conv-taps", "conv-columns", "relu"],
)
def test_training_backward_skips_only_the_unused_input_gradient(head, features):
    rng = np.random.default_rng(4)
    model = Sequential(
        [head(rng), ReLU(), Flatten(), Dense(features, 3, dtype=np.float64, rng=rng)]
    )
    x, dy = rng.standard_normal((3, 8, 6)), rng.standard_normal((3, 3))
    model.forward(x)
    assert model.backward(dy).shape == x.shape
    full = {name: g.copy() for name, g in model.gradients().items()}
    model.forward(x)
    assert model.backward(dy, input_grad=False) is None
    for name, g in model.gradients().items():
        np.testing.assert_allclose(g, full[name], atol=1e-12)


def test_dense_first_layer_skips_its_input_gradient():
    rng = np.random.default_rng(5)
    layer = Dense(6, 2, dtype=np.float64, rng=rng)
    x, dy = rng.standard_normal((4, 6)), rng.standard_normal((4, 2))
    layer.forward(x)
    assert Sequential([layer]).backward(dy, input_grad=False) is None
    np.testing.assert_allclose(layer.dW, x.T @ dy)
    np.testing.assert_allclose(layer.db, dy.sum(axis=0))


@pytest.mark.parametrize("batch", [2, 40])
def test_wide_kernels_on_small_batches_go_by_columns_and_match_the_loops(batch, monkeypatch):
    """k 8..11 with small columns runs im2col, larger ones tap by tap; both give the loops'."""
    c, k, length = fn.COLS_MIN_CHANNELS, 8, 23
    out_len = length  # padding 'same'
    cols_bytes = c * k * batch * out_len * 8
    monkeypatch.setattr(fn, "COLS_SMALL_BYTES", c * k * 10 * out_len * 8)  # batch 2: cols
    monkeypatch.setattr(blas, "_gemms", {})  # the rule for NumPy builds without bundled OpenBLAS
    assert fn.uses_taps(c, k, 1, cols_bytes) == (batch == 40)
    assert fn.uses_taps(c, 12, 1, cols_bytes) and not fn.uses_taps(c, 11, 1, 0)
    assert fn.uses_taps(c // 2, k, 1, 0)  # fewer channels: col2im costs more than taps
    rng = np.random.default_rng(1)
    layer = Conv1d(c, 4, k, padding="same", dtype=np.float64, rng=rng)
    x = rng.standard_normal((batch, c, length))
    y = layer.forward(x)
    np.testing.assert_allclose(y, conv1d_forward_loops(x, layer.W, layer.b, 1, "same"), atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    ref_dx, ref_dW, ref_db = conv1d_backward_loops(x, layer.W, dy, 1, "same")
    np.testing.assert_allclose(dx, ref_dx, atol=1e-12)
    np.testing.assert_allclose(layer.dW, ref_dW, atol=1e-12)
    np.testing.assert_allclose(layer.db, ref_db, atol=1e-12)


def test_wide_kernels_stay_on_taps_when_the_gemms_accumulate():
    """With NumPy's BLAS reachable, taps add inside the GEMM and beat columns for k 8..11."""
    if not blas.available():
        pytest.skip("NumPy is not built with its bundled OpenBLAS here")
    c, k = fn.COLS_MIN_CHANNELS, 8
    assert fn.uses_taps(c, k, 1, 0)
