"""The engine's speed paths give the loop reference's numbers: tap-by-tap convolution, chunked
working buffers (bounded memory), and the malloc setting that keeps freed blocks."""

from __future__ import annotations

import numpy as np
import pytest
from reference_loops import conv1d_backward_loops, conv1d_forward_loops

from conv1d_cli.nn import Conv1d, alloc
from conv1d_cli.nn import functional as fn


@pytest.mark.parametrize("padding", [0, 2, "same", (1, 3)])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("kernel", [1, 3, 4])
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
    assert fn._batch_chunk(50, 100) == 50  # fits: one chunk
    assert fn._batch_chunk(70, 100) == 35  # two even chunks, not 64 + 6
    assert fn._batch_chunk(5, 10**9) == 1  # a sample larger than the bound still runs


def test_tap_path_in_float32_stays_float32():
    layer = Conv1d(16, 8, 5, padding="same", rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((4, 16, 50)).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.dW.dtype == np.float32 and y.flags.c_contiguous


def test_keep_freed_memory_can_be_switched_off(monkeypatch):
    monkeypatch.setenv(alloc.ENV_SWITCH, "0")
    assert alloc.keep_freed_memory() is False
