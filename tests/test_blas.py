"""blas.gemm_accumulate against NumPy's matmul, and the tap convolution with and without it."""

from __future__ import annotations

import numpy as np
import pytest
from reference_loops import conv1d_backward_loops, conv1d_forward_loops

from conv1d_cli.nn import Conv1d, blas

needs_blas = pytest.mark.skipif(not blas.available(), reason="no bundled OpenBLAS in NumPy")


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_accumulates_products_of_shifted_and_transposed_views(dtype):
    rng = np.random.default_rng(0)
    wide = rng.standard_normal((6, 40)).astype(dtype)  # a batch-inside buffer
    taps = rng.standard_normal((3, 5, 6)).astype(dtype)
    out = rng.standard_normal((5, 40)).astype(dtype)
    expected = out.copy()
    for j in range(3):  # column slices of a wider buffer: row stride 40, not 37
        assert blas.gemm_accumulate(taps[j], wide[:, j : j + 37], out[:, :37])
        expected[:, :37] += taps[j] @ wide[:, j : j + 37]
    np.testing.assert_allclose(out, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
    dW = np.full((5, 6), np.nan, dtype)  # beta 0 ignores what is there, NaN included
    assert blas.gemm_accumulate(out[:, :37], wide[:, 2:39].T, dW, beta=0.0)
    np.testing.assert_allclose(dW, out[:, :37] @ wide[:, 2:39].T, rtol=1e-5)
    t = taps.transpose(0, 2, 1)[1]  # (6, 5) transposed view
    grad = np.zeros((6, 37), dtype)
    assert blas.gemm_accumulate(t, out[:, :37], grad)
    np.testing.assert_allclose(grad, t @ out[:, :37], rtol=1e-5)


def test_declines_what_blas_cannot_take():
    rng = np.random.default_rng(1)
    a32, b32 = rng.standard_normal((4, 3)).astype(np.float32), np.ones((3, 5), np.float32)
    out = np.zeros((4, 5), np.float32)
    assert not blas.gemm_accumulate(a32, b32.astype(np.float64), out)  # mixed dtypes
    assert not blas.gemm_accumulate(a32, np.ones((2, 5), np.float32), out)  # shapes
    every_other = np.ones((3, 10), np.float32)[:, ::2]  # no unit stride
    assert not blas.gemm_accumulate(a32, every_other, out)
    assert not blas.gemm_accumulate(a32, b32, np.zeros((5, 4), np.float32).T)  # out transposed
    np.testing.assert_array_equal(out, 0)
    assert not blas.gemm_accumulate(a32.astype(np.int64), b32.astype(np.int64), out.astype(int))


@pytest.mark.parametrize("direct", [True, False], ids=["direct-blas", "matmul-add"])
@pytest.mark.parametrize("kernel,dilation", [(3, 1), (8, 1), (5, 2)])
def test_tap_convolution_matches_the_loops_either_way(direct, kernel, dilation, monkeypatch):
    if direct and not blas.available():
        pytest.skip("no bundled OpenBLAS in NumPy")
    if not direct:
        monkeypatch.setattr(blas, "_gemms", {})
    rng = np.random.default_rng(2)
    layer = Conv1d(32, 6, kernel, padding="same", dilation=dilation, dtype=np.float64, rng=rng)
    x = rng.standard_normal((3, 32, 29))
    y = layer.forward(x)
    ref_y = conv1d_forward_loops(x, layer.W, layer.b, 1, "same", dilation=dilation)
    np.testing.assert_allclose(y, ref_y, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    ref_dx, ref_dW, ref_db = conv1d_backward_loops(x, layer.W, dy, 1, "same", dilation=dilation)
    np.testing.assert_allclose(dx, ref_dx, atol=1e-12)
    np.testing.assert_allclose(layer.dW, ref_dW, atol=1e-12)
    np.testing.assert_allclose(layer.db, ref_db, atol=1e-12)


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("CONV1D_DIRECT_BLAS", "0")
    assert blas.find_gemms() == {}
