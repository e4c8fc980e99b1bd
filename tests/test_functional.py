"""output_size, padding and the shared window machinery (im2col / col2im)."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import numerical_gradient, relative_error
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_loops import pad_loops

from conv1d_cli.nn import calc_conv1d_output_size, output_size
from conv1d_cli.nn import functional as fn


def test_output_size_formula_and_aliases():
    assert output_size(784, 7, 2, 3) == 392
    assert output_size(784, 7, 2, "same") == 392
    assert output_size(4, 3) == 2
    assert output_size(10, 3, p="valid") == 8
    assert output_size(10, 3, 1, 0, 2) == 6  # receptive field 5
    assert output_size(10, 3, 3, 1) == 4  # floor((10 + 2 - 3) / 3) + 1
    assert output_size(10, 4, 1, (1, 2)) == 10
    assert calc_conv1d_output_size is output_size


@pytest.mark.parametrize("n,s", [(784, 2), (784, 3), (5, 4), (1, 3), (28, 28), (29, 28)])
@pytest.mark.parametrize("f,d", [(1, 1), (7, 1), (4, 2)])
def test_same_gives_ceil_of_length_over_stride(n, f, s, d):
    assert output_size(n, f, s, "same", d) == -(-n // s)


def test_same_puts_the_odd_padding_on_the_right():
    assert fn.same_padding(784, 7, 2) == (2, 3)  # total 5: TensorFlow's rule
    assert fn.same_padding(10, 4) == (1, 2)
    assert fn.same_padding(10, 3) == (1, 1)
    assert fn.same_padding(10, 1, 5) == (0, 0)


@pytest.mark.parametrize(
    "args,name",
    [
        ((0, 3), "n"),
        ((5, 0), "f"),
        ((5, 3, 0), "s"),
        ((5, 3, 1, -1), "p"),
        ((5, 3, 1, 0, 0), "d"),
        ((5, 3, 1, "full"), "p"),
        ((5.0, 3), "n"),
        ((True, 3), "n"),
        ((5, 3, 1, (1, -1)), "p"),
    ],
)
def test_output_size_names_the_bad_argument(args, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        output_size(*args)


def test_output_size_rejects_an_empty_output():
    with pytest.raises(ValueError, match="output would be empty"):
        output_size(4, 5)
    with pytest.raises(ValueError, match=r"dilated 7"):
        output_size(6, 4, 1, 0, 2)
    assert output_size(6, 4, 1, 1, 2) == 2


@pytest.mark.parametrize("mode", fn.PADDING_MODES)
@pytest.mark.parametrize("left,right", [(0, 0), (2, 0), (0, 3), (3, 3), (1, 2)])
def test_pad1d_matches_the_loop_definition(mode, left, right):
    x = np.arange(2 * 3 * 5, dtype=np.float64).reshape(2, 3, 5)
    np.testing.assert_array_equal(fn.pad1d(x, left, right, mode), pad_loops(x, left, right, mode))


def test_pad1d_modes_by_example():
    x = np.array([[[1.0, 2, 3, 4]]])
    assert fn.pad1d(x, 2, 2, "zeros")[0, 0].tolist() == [0, 0, 1, 2, 3, 4, 0, 0]
    assert fn.pad1d(x, 2, 2, "replicate")[0, 0].tolist() == [1, 1, 1, 2, 3, 4, 4, 4]
    assert fn.pad1d(x, 2, 2, "reflect")[0, 0].tolist() == [3, 2, 1, 2, 3, 4, 3, 2]
    assert fn.pad1d(x, 2, 2, "circular")[0, 0].tolist() == [3, 4, 1, 2, 3, 4, 1, 2]
    assert fn.pad1d(x, 1, 1, "zeros", value=-np.inf)[0, 0, 0] == -np.inf
    assert fn.pad1d(x, 0, 0, "reflect") is x  # no copy without padding


def test_circular_padding_wider_than_the_input_wraps_again():
    x = np.array([[[1.0, 2]]])
    assert fn.pad1d(x, 3, 3, "circular")[0, 0].tolist() == [2, 1, 2, 1, 2, 1, 2, 1]


@pytest.mark.parametrize("mode", fn.PADDING_MODES)
@pytest.mark.parametrize("left,right", [(2, 1), (3, 3), (0, 2)])
def test_pad1d_backward_is_the_gradient_of_pad1d(mode, left, right):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 4))
    G = rng.standard_normal((2, 2, 4 + left + right))
    numeric = numerical_gradient(lambda: float(np.sum(fn.pad1d(x, left, right, mode) * G)), x)
    analytic = fn.pad1d_backward(G, left, right, mode, 4)
    assert relative_error(analytic, numeric) < 1e-8


def test_check_padding_rejects_reflect_at_least_the_input_and_unknown_modes():
    fn.check_padding(4, 3, 3, "reflect")
    with pytest.raises(ValueError, match="reflect padding 4 .* length 4"):
        fn.check_padding(4, 1, 4, "reflect")
    with pytest.raises(ValueError, match="padding_mode"):
        fn.check_padding(4, 1, 1, "edge")


def test_window_view_is_a_strided_view():
    xp = np.arange(10.0).reshape(1, 1, 10)
    win = fn.window_view(xp, 3, 2, 2, 2)  # taps at t*2 + {0, 2, 4}
    assert np.shares_memory(win, xp) and not win.flags.writeable
    np.testing.assert_array_equal(win[0, 0], [[0, 2], [2, 4], [4, 6]])


@settings(max_examples=30, deadline=None, database=None)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    d=st.integers(1, 3),
    extra=st.integers(0, 7),
)
def test_col2im_is_the_adjoint_of_im2col(n, c, k, s, d, extra):
    """<im2col(x), G> == <x, col2im(G)> for every x and G: col2im is the exact backward."""
    rng = np.random.default_rng(0)
    length = d * (k - 1) + 1 + extra
    out_len = (length - d * (k - 1) - 1) // s + 1
    x = rng.standard_normal((n, c, length))
    cols = fn.im2col(x, k, s, d, out_len)
    assert cols.shape == (c * k, n * out_len) and cols.flags.c_contiguous
    G = rng.standard_normal((n, c, k, out_len))
    back = fn.col2im(G, s, d, out=np.zeros_like(x))
    lhs = np.sum(cols.reshape(c, k, n, out_len).transpose(2, 0, 1, 3) * G)
    np.testing.assert_allclose(lhs, np.sum(x * back))


def test_conv1d_backward_can_skip_the_input_gradient():
    rng = np.random.default_rng(0)
    xp, W = rng.standard_normal((2, 3, 9)), rng.standard_normal((4, 3, 2))
    y, cols = fn.conv1d_forward(xp, W, None, 2, 1)
    dxp, dW, db = fn.conv1d_backward(np.ones_like(y), xp, W, 2, 1, cols, input_grad=False)
    assert dxp is None and dW.shape == W.shape and db.shape == (4,)
