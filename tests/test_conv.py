"""Conv1d and SimpleConv1d: the issue's check values, gradients, the loop reference, float32."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from gradcheck import check_layer, count_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_loops import (
    conv1d_backward_loops,
    conv1d_forward_loops,
    resolve_padding_loops,
)

from conv1d_cli.nn import Conv1d, SimpleConv1d, functional
from conv1d_cli.training.optim import SGD

# ----------------------------------------------------------------------------- check values


def course_layer(optimizer=None) -> SimpleConv1d:
    layer = SimpleConv1d(3, optimizer=optimizer)
    layer.W = np.array([3, 5, 7])
    layer.B = 1
    return layer


def test_simple_conv1d_check_values():
    layer = course_layer()
    np.testing.assert_array_equal(layer.forward(np.array([1, 2, 3, 4])), [35, 50])
    dx = layer.backward(np.array([10, 20]))
    np.testing.assert_array_equal(dx, [30, 110, 170, 140])
    np.testing.assert_array_equal(layer.dW, [50, 80, 110])
    assert layer.dB == 30 and layer.B == 1
    assert layer.W.shape == (3,) and layer.B.shape == ()


def test_simple_conv1d_calls_the_optimizer_hook_after_storing_gradients():
    seen = []

    class Recorder:
        def update(self, layer):
            seen.append((layer, layer.dW.copy(), float(layer.dB)))

    layer = course_layer(Recorder())
    layer.forward(np.array([1.0, 2, 3, 4]))
    layer.backward(np.array([10.0, 20]))
    assert len(seen) == 1 and seen[0][0] is layer
    np.testing.assert_array_equal(seen[0][1], [50, 80, 110])
    assert seen[0][2] == 30


def test_simple_conv1d_with_sgd_updates_its_weights():
    layer = course_layer(SGD(lr=0.01))
    layer.forward(np.array([1.0, 2, 3, 4]))
    layer.backward(np.array([10.0, 20]))
    np.testing.assert_allclose(layer.W, [3 - 0.5, 5 - 0.8, 7 - 1.1])
    np.testing.assert_allclose(layer.B, 1 - 0.3)


def test_simple_conv1d_gradients():
    check_layer(SimpleConv1d(4, rng=np.random.default_rng(0)), np.linspace(-1, 2, 9))


def check_value_layer(dtype=np.float64) -> Conv1d:
    layer = Conv1d(2, 3, 3, dtype=dtype)
    layer.W = np.ones((3, 2, 3))
    layer.b = np.array([1, 2, 3])
    return layer


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv1d_check_values(dtype):
    layer = check_value_layer(dtype)
    x = np.array([[[1, 2, 3, 4], [2, 3, 4, 5]]], dtype=dtype)
    np.testing.assert_array_equal(layer.forward(x), [[[16, 22], [17, 23], [18, 24]]])
    dx = layer.backward(np.ones((1, 3, 2), dtype=dtype))
    np.testing.assert_array_equal(dx, [[[3, 6, 6, 3], [3, 6, 6, 3]]])
    for o in range(3):
        np.testing.assert_array_equal(layer.dW[o], [[3, 5, 7], [5, 7, 9]])
    np.testing.assert_array_equal(layer.db, [2, 2, 2])


def test_conv1d_same_padding_for_mnist_rows():
    layer = Conv1d(1, 4, 7, stride=2, padding="same", rng=np.random.default_rng(0))
    assert layer.output_shape((1, 784)) == (4, 392)
    assert layer.forward(np.zeros((2, 1, 784), np.float32)).shape == (2, 4, 392)


# ------------------------------------------------------------------------- gradient checks
def grad_cases():
    """Every mode x stride x dilation x odd/even kernel x padding, at two lengths.

    Lengths 9 and 10 make (padded length - receptive field) both a multiple and not a
    multiple of the stride across the grid (asserted in test_grid_covers_leftover_inputs).
    """
    paddings = [0, "valid", 2, (1, 2), "same"]
    for mode, s, d, k, pad, length in itertools.product(
        functional.PADDING_MODES, (1, 2, 3), (1, 2), (2, 3), paddings, (9, 10)
    ):
        if mode != "zeros" and pad in (0, "valid"):
            continue  # without padding the mode changes nothing
        yield mode, s, d, k, pad, length


def leftover(s, d, k, pad, length):
    left, right = resolve_padding_loops(pad, length, k, s, d)
    return (length + left + right - d * (k - 1) - 1) % s


def test_grid_covers_leftover_inputs():
    remainders = [leftover(s, d, k, pad, n) for _, s, d, k, pad, n in grad_cases()]
    assert any(r != 0 for r in remainders) and any(r == 0 for r in remainders)


@pytest.mark.parametrize("mode,stride,dilation,kernel,padding,length", list(grad_cases()))
def test_conv1d_gradients(mode, stride, dilation, kernel, padding, length):
    rng = np.random.default_rng(stride * 100 + dilation * 10 + kernel)
    layer = Conv1d(2, 3, kernel, stride, padding, mode, dilation, dtype=np.float64, rng=rng)
    layer.b = rng.standard_normal(3)
    check_layer(layer, rng.standard_normal((2, 2, length)))


def test_conv1d_gradients_without_bias():
    rng = np.random.default_rng(1)
    layer = Conv1d(3, 2, 4, stride=2, padding=1, bias=False, dtype=np.float64, rng=rng)
    assert set(layer.params) == {"W"} and layer.b is None
    check_layer(layer, rng.standard_normal((2, 3, 11)))


# ------------------------------------------------------------------- direct-loop reference
paddings = st.one_of(
    st.sampled_from(["valid", "same"]),
    st.integers(0, 4),
    st.tuples(st.integers(0, 4), st.integers(0, 4)),
)


@settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    o=st.integers(1, 3),
    k=st.integers(1, 5),
    s=st.integers(1, 3),
    d=st.integers(1, 3),
    length=st.integers(1, 16),
    padding=paddings,
    mode=st.sampled_from(functional.PADDING_MODES),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_conv1d_matches_loops(n, c, o, k, s, d, length, padding, mode, bias, seed):
    rng = np.random.default_rng(seed)
    layer = Conv1d(c, o, k, s, padding, mode, d, bias, dtype=np.float64, rng=rng)
    left, right = resolve_padding_loops(padding, length, k, s, d)
    too_short = d * (k - 1) + 1 > length + left + right
    bad_reflect = mode == "reflect" and max(left, right) >= length
    if too_short or bad_reflect:
        with pytest.raises(ValueError):
            layer.output_shape((c, length))
        return
    if bias:
        layer.b = rng.standard_normal(o)
    x = rng.standard_normal((n, c, length))
    y = layer.forward(x)
    np.testing.assert_allclose(y, conv1d_forward_loops(x, layer.W, layer.b, s, padding, mode, d))
    assert layer.output_shape((c, length)) == y.shape[1:]
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    ref_dx, ref_dW, ref_db = conv1d_backward_loops(x, layer.W, dy, s, padding, mode, d)
    np.testing.assert_allclose(dx, ref_dx, atol=1e-12)
    np.testing.assert_allclose(layer.dW, ref_dW, atol=1e-12)
    if bias:
        np.testing.assert_allclose(layer.db, ref_db, atol=1e-12)


@settings(max_examples=50, deadline=None, database=None)
@given(
    n=st.integers(1, 60),
    f=st.integers(1, 9),
    s=st.integers(1, 5),
    p=st.one_of(st.integers(0, 5), st.sampled_from(["valid", "same"])),
    d=st.integers(1, 3),
)
def test_output_size_matches_conv1d(n, f, s, p, d):
    layer = Conv1d(1, 1, f, stride=s, padding=p, dilation=d, rng=np.random.default_rng(0))
    x = np.zeros((1, 1, n), np.float32)
    try:
        expected = functional.output_size(n, f, s, p, d)
    except ValueError:
        with pytest.raises(ValueError):
            layer.forward(x)
        return
    assert layer.forward(x).shape == (1, 1, expected)
    if p == "same":
        assert expected == -(-n // s)


# ----------------------------------------------------------------- speed, memory, float32
def test_conv1d_has_no_python_loop_over_batch_channels_or_positions():
    def run(n, c, length):
        layer = Conv1d(c, 5, 3, stride=2, padding=(1, 2), padding_mode="reflect")
        x = np.ones((n, c, length), np.float32)
        return lambda: layer.backward(layer.forward(x) * 1)

    assert count_lines(run(2, 2, 20)) == count_lines(run(7, 6, 500))


def test_conv1d_chunks_the_batch_when_columns_exceed_the_bound(monkeypatch):
    rng = np.random.default_rng(3)
    layer = Conv1d(3, 4, 5, stride=2, padding="same", dtype=np.float64, rng=rng)
    x, dy = rng.standard_normal((7, 3, 40)), rng.standard_normal((7, 4, 20))
    y_full, dx_full = layer.forward(x), layer.backward(dy)
    dW_full = layer.dW.copy()
    assert layer._cache[1] is not None  # the columns are kept for the backward pass
    monkeypatch.setattr(functional, "MAX_COLS_BYTES", 3 * 5 * 20 * 8 * 2)  # two samples
    y, dx = layer.forward(x), layer.backward(dy)
    assert layer._cache[1] is None  # rebuilt chunk by chunk instead
    np.testing.assert_allclose(y, y_full, atol=1e-12)
    np.testing.assert_allclose(dx, dx_full, atol=1e-12)
    np.testing.assert_allclose(layer.dW, dW_full, atol=1e-12)


def test_conv1d_in_eval_mode_keeps_no_columns_but_still_differentiates():
    rng = np.random.default_rng(5)
    layer = Conv1d(2, 3, 3, stride=2, padding=1, dtype=np.float64, rng=rng)
    x, dy = rng.standard_normal((2, 2, 9)), rng.standard_normal((2, 3, 5))
    layer.forward(x)
    dx_train, dW_train = layer.backward(dy), layer.dW.copy()
    layer.eval().forward(x)
    assert layer._cache[1] is None
    np.testing.assert_allclose(layer.backward(dy), dx_train)
    np.testing.assert_allclose(layer.dW, dW_train)


def test_conv1d_stays_float32_and_pads_nothing_when_padding_is_zero():
    layer = Conv1d(2, 4, 3, stride=2, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((3, 2, 11)).astype(np.float32)
    y = layer.forward(x)
    assert layer._cache[0] is x  # no padded copy of the input
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == layer.dW.dtype == layer.db.dtype == np.float32
    assert layer.W.dtype == np.float32
    assert y.transpose(1, 0, 2).flags.c_contiguous  # channel-major, the GEMM's own order


def test_conv1d_default_init_is_he_normal_with_fan_in_channels_times_kernel():
    layer = Conv1d(8, 64, 5, rng=np.random.default_rng(0))
    assert layer.W.shape == (64, 8, 5) and layer.b.shape == (64,)
    assert abs(layer.W.std() - np.sqrt(2 / 40)) < 0.02
    np.testing.assert_array_equal(layer.b, 0)


def test_conv1d_output_shape_errors_give_the_numbers():
    with pytest.raises(ValueError, match=r"kernel 9 \(dilated 9\).*padded input 8"):
        Conv1d(1, 1, 9).output_shape((1, 8))
    with pytest.raises(ValueError, match="dilated 9"):
        Conv1d(1, 1, 5, dilation=2).output_shape((1, 8))
    with pytest.raises(
        ValueError, match="reflect padding 4 must be smaller than the input length 4"
    ):
        Conv1d(1, 1, 3, padding=4, padding_mode="reflect").output_shape((1, 4))
    with pytest.raises(ValueError, match="channels"):
        Conv1d(1, 1, 3).output_shape((784,))
    with pytest.raises(ValueError, match="3"):
        Conv1d(3, 1, 3).output_shape((1, 784))
    with pytest.raises(ValueError, match="channels"):
        Conv1d(3, 1, 3).forward(np.zeros((2, 1, 10), np.float32))


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"kernel_size": 0}, "kernel_size"),
        ({"stride": 0}, "stride"),
        ({"dilation": 0}, "dilation"),
        ({"padding": -1}, "padding"),
        ({"padding": "full"}, "padding"),
        ({"padding": (1, 2, 3)}, "padding"),
        ({"padding_mode": "edge"}, "padding_mode"),
        ({"dtype": np.int32}, "dtype"),
    ],
)
def test_conv1d_rejects_bad_settings_by_name(kwargs, name):
    settings_ = {"in_channels": 1, "out_channels": 1, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=name):
        Conv1d(**settings_)


def test_conv1d_repr_reads_like_the_config():
    assert (
        repr(Conv1d(1, 32, kernel_size=28, stride=28)) == "Conv1d(1, 32, kernel_size=28, stride=28)"
    )
    assert (
        repr(Conv1d(4, 8, 3, padding="same", padding_mode="circular", bias=False))
        == "Conv1d(4, 8, kernel_size=3, padding='same', padding_mode='circular', bias=False)"
    )
    assert Conv1d(1, 32, 28, stride=28).macs((1, 784)) == 28 * 32 * 1 * 28
