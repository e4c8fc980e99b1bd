"""Every non-conv layer: float64 gradient checks, shapes, modes, dtypes; and the initializers."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_layer, count_lines

from conv1d_cli.nn import (
    GELU,
    AvgPool1d,
    BatchNorm1d,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool1d,
    LeakyReLU,
    Linear,
    MaxPool1d,
    ReLU,
    Sigmoid,
    Tanh,
    get_initializer,
)


def away_from_zero(shape, seed=0):
    """Inputs that keep |x| > 0.05 so ReLU-type kinks are never inside a finite difference."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return x + 0.05 * np.sign(x)


# ------------------------------------------------------------------------- gradient checks
def f64_dense(bias):
    return Dense(5, 3, bias=bias, dtype=np.float64, rng=np.random.default_rng(0))


GRAD_CASES = {
    "dense": (lambda: f64_dense(True), (4, 5)),
    "dense-nobias": (lambda: f64_dense(False), (4, 5)),
    "relu": (ReLU, (2, 3, 6)),
    "leakyrelu": (lambda: LeakyReLU(0.1), (2, 3, 6)),
    "tanh": (Tanh, (2, 3, 6)),
    "sigmoid": (Sigmoid, (2, 3, 6)),
    "gelu": (GELU, (2, 3, 6)),
    "gelu-tanh": (lambda: GELU("tanh"), (2, 3, 6)),
    "maxpool-2": (lambda: MaxPool1d(2), (2, 3, 9)),
    "maxpool-3s2p1": (lambda: MaxPool1d(3, 2, 1), (2, 3, 10)),
    "maxpool-3s1": (lambda: MaxPool1d(3, 1), (2, 2, 8)),
    "maxpool-2s3": (lambda: MaxPool1d(2, 3), (2, 3, 11)),  # gaps between windows stay zero
    "maxpool-1": (lambda: MaxPool1d(1), (2, 2, 5)),
    "avgpool-2": (lambda: AvgPool1d(2), (2, 3, 9)),
    "avgpool-3s2p1": (lambda: AvgPool1d(3, 2, 1), (2, 3, 10)),
    "avgpool-4s1p2": (lambda: AvgPool1d(4, 1, 2), (2, 2, 7)),
    "globalavgpool": (GlobalAvgPool1d, (2, 3, 7)),
    "flatten": (Flatten, (2, 3, 4)),
    "batchnorm-ncl": (lambda: BatchNorm1d(3, dtype=np.float64), (4, 3, 5)),
    "batchnorm-nf": (lambda: BatchNorm1d(6, dtype=np.float64), (5, 6)),
    "batchnorm-eval": (lambda: BatchNorm1d(3, dtype=np.float64).eval(), (4, 3, 5)),
}


@pytest.mark.parametrize("case", GRAD_CASES)
def test_layer_gradients(case):
    make, shape = GRAD_CASES[case]
    layer = make()
    if isinstance(layer, BatchNorm1d):  # non-trivial affine parameters and running stats
        rng = np.random.default_rng(1)
        layer.params["gamma"][...] = rng.uniform(0.5, 2, layer.num_features)
        layer.params["beta"][...] = rng.standard_normal(layer.num_features)
        layer.buffers["running_var"][...] = rng.uniform(0.5, 2, layer.num_features)
    check_layer(layer, away_from_zero(shape))


def test_dropout_gradients_in_training_mode():
    layer = Dropout(0.4)

    def same_mask():
        layer.rng = np.random.default_rng(7)

    check_layer(layer, away_from_zero((3, 2, 8)), before_forward=same_mask)


@pytest.mark.parametrize(
    "make", [lambda: MaxPool1d(3, 2, 1), lambda: AvgPool1d(2), GlobalAvgPool1d, ReLU, GELU]
)
def test_no_python_loop_over_batch_channels_or_positions(make):
    def run(n, c, length):
        layer = make()
        x = np.random.default_rng(0).standard_normal((n, c, length)).astype(np.float32)
        return lambda: layer.backward(layer.forward(x) * 1)

    assert count_lines(run(2, 2, 20)) == count_lines(run(6, 5, 300))


# ------------------------------------------------------------------- activations and dtype
@pytest.mark.parametrize(
    "layer",
    [ReLU(), LeakyReLU(), Tanh(), Sigmoid(), GELU(), GELU("tanh"), Dropout(0.5), Flatten()],
    ids=repr,
)
def test_elementwise_layers_keep_float32(layer):
    x = np.random.default_rng(0).standard_normal((4, 3, 5)).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32


@pytest.mark.parametrize(
    "layer", [MaxPool1d(2), AvgPool1d(3, 1, 1), GlobalAvgPool1d(), BatchNorm1d(3)], ids=repr
)
def test_pool_and_norm_layers_keep_float32(layer):
    x = np.random.default_rng(0).standard_normal((4, 3, 6)).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32


def test_activation_values():
    x = np.array([-2.0, -0.5, 0.0, 1.0, 3.0])
    np.testing.assert_array_equal(ReLU().forward(x), [0, 0, 0, 1, 3])
    np.testing.assert_allclose(LeakyReLU(0.1).forward(x), [-0.2, -0.05, 0, 1, 3])
    np.testing.assert_allclose(
        GELU().forward(np.array([1.0, -1.0])), [0.8413447, -0.1586553], rtol=1e-6
    )
    np.testing.assert_allclose(GELU("tanh").forward(np.array([1.0])), [0.8411920], rtol=1e-6)
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x))


def test_sigmoid_is_stable_for_huge_inputs():
    with np.errstate(all="raise"):
        y = Sigmoid().forward(np.array([-1e4, -800.0, 0.0, 800.0, 1e4], np.float32))
    np.testing.assert_allclose(y, [0, 0, 0.5, 1, 1])


def test_activation_settings_are_validated():
    with pytest.raises(ValueError, match="approximate"):
        GELU("fast")
    with pytest.raises(ValueError, match="negative_slope"):
        LeakyReLU(-1)


# ------------------------------------------------------------------------------------ dense
def test_dense_layout_and_values():
    layer = Linear(3, 2, dtype=np.float64)
    assert layer.W.shape == (3, 2)  # (in, out): y = x @ W + b
    layer.W = np.arange(6.0).reshape(3, 2)
    layer.b = [1.0, -1.0]
    np.testing.assert_array_equal(layer.forward(np.array([[1.0, 1, 1]])), [[7, 8]])
    assert layer.macs((3,)) == 6 and layer.output_shape((3,)) == (2,)
    assert repr(layer) == "Dense(3, 2)"


def test_dense_shape_errors_explain_the_fix():
    with pytest.raises(
        ValueError, match=r"dense expects \(features,\) input, got \(32, 14\); add a flatten"
    ):
        Dense(448, 10).output_shape((32, 14))
    with pytest.raises(ValueError, match="448"):
        Dense(448, 10).output_shape((100,))
    with pytest.raises(ValueError, match="dense"):
        Dense(4, 2).forward(np.zeros((2, 1, 4), np.float32))


# ---------------------------------------------------------------------------------- pooling
def test_pool_values_follow_pytorch():
    x = np.array([[[1.0, 2, 3, 4]]])
    np.testing.assert_array_equal(AvgPool1d(2, padding=1).forward(x), [[[0.5, 2.5, 2.0]]])
    np.testing.assert_array_equal(MaxPool1d(2).forward(x), [[[2, 4]]])
    negative = -x
    # -inf padding: a padded window still returns a real value, never the pad
    np.testing.assert_array_equal(MaxPool1d(2, padding=1).forward(negative), [[[-1, -2, -4]]])
    np.testing.assert_array_equal(MaxPool1d(3, 1).forward(x), [[[3, 4]]])


def test_maxpool_gradient_goes_to_the_first_maximum_and_adds_over_overlaps():
    layer = MaxPool1d(2, stride=1)
    layer.forward(np.array([[[1.0, 5, 2]]]))  # both windows pick the 5
    np.testing.assert_array_equal(layer.backward(np.array([[[1.0, 10.0]]])), [[[0, 11, 0]]])
    layer.forward(np.array([[[5.0, 5, 1]]]))  # a tie goes to the first, as in PyTorch
    np.testing.assert_array_equal(layer.backward(np.array([[[1.0, 10.0]]])), [[[1, 10, 0]]])


def test_pool_shapes_and_errors():
    assert MaxPool1d(2).output_shape((32, 784)) == (32, 392)
    assert AvgPool1d(3, 2, 1).output_shape((4, 10)) == (4, 5)
    assert GlobalAvgPool1d().output_shape((32, 98)) == (32,)
    with pytest.raises(ValueError, match="at most half"):
        MaxPool1d(2, padding=2)
    with pytest.raises(
        ValueError, match=r"kernel 5 \(dilated 5\) is longer than the padded input 4"
    ):
        MaxPool1d(5).output_shape((1, 4))
    with pytest.raises(ValueError, match="channels, length"):
        AvgPool1d(2).output_shape((10,))
    assert repr(MaxPool1d(3, 2, 1)) == "MaxPool1d(3, stride=2, padding=1)"


def test_flatten_is_channel_major():
    x = np.arange(6.0).reshape(1, 2, 3)
    np.testing.assert_array_equal(Flatten().forward(x), [[0, 1, 2, 3, 4, 5]])
    assert Flatten().output_shape((32, 14)) == (448,)


# ---------------------------------------------------------------------------------- dropout
def test_dropout_is_inverted_and_identity_in_eval():
    layer = Dropout(0.25, rng=np.random.default_rng(0))
    x = np.ones((200, 4, 50), np.float32)
    y = layer.forward(x)
    assert set(np.unique(y).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01 and abs(y.mean() - 1) < 0.02
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), y)
    layer.eval()
    assert layer.forward(x) is x
    g = np.ones_like(x)
    assert layer.backward(g) is g
    with pytest.raises(ValueError, match="rate"):
        Dropout(1.0)


# ------------------------------------------------------------------------------- batchnorm
def test_batchnorm_statistics_follow_pytorch():
    layer = BatchNorm1d(2, momentum=0.1, dtype=np.float64)
    x = np.array([[[1.0, 3.0], [0.0, 0.0]], [[5.0, 7.0], [2.0, 4.0]]])  # (N=2, C=2, L=2)
    y = layer.forward(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(
        y.var(axis=(0, 2)), [5 / (5 + 1e-5), 2.75 / (2.75 + 1e-5)], rtol=1e-9
    )
    # channel 0: mean 4, biased var 5, unbiased 20/3; channel 1: mean 1.5, unbiased 11/3
    np.testing.assert_allclose(layer.buffers["running_mean"], [0.4, 0.15])
    np.testing.assert_allclose(
        layer.buffers["running_var"], [0.9 + 0.1 * 20 / 3, 0.9 + 0.1 * 11 / 3]
    )
    layer.eval()
    running = layer.buffers["running_mean"].copy(), layer.buffers["running_var"].copy()
    y_eval = layer.forward(x)
    np.testing.assert_allclose(
        y_eval, (x - running[0][:, None]) / np.sqrt(running[1][:, None] + 1e-5)
    )
    np.testing.assert_array_equal(layer.buffers["running_mean"], running[0])  # eval: frozen


def test_batchnorm_shapes_and_errors():
    layer = BatchNorm1d(4)
    assert set(layer.params) == {"gamma", "beta"}
    assert set(layer.buffers) == {"running_mean", "running_var"}
    assert layer.output_shape((4, 10)) == (4, 10) and layer.output_shape((4,)) == (4,)
    with pytest.raises(ValueError, match="4"):
        layer.output_shape((3, 10))
    with pytest.raises(ValueError, match="more than one value"):
        layer.forward(np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm1d(4, momentum=0)


# ---------------------------------------------------------------------------- initializers
@pytest.mark.parametrize(
    "name,kind,scale",
    [
        ("gaussian", "normal", 0.05),
        ("xavier", "normal", np.sqrt(2 / (200 + 100))),
        ("xavier_uniform", "uniform", np.sqrt(6 / (200 + 100))),
        ("he", "normal", np.sqrt(2 / 200)),
        ("he_uniform", "uniform", np.sqrt(6 / 200)),
    ],
)
def test_initializer_scales(name, kind, scale):
    init = get_initializer(name, sigma=0.05)
    W = init((400, 500), 200, 100, np.random.default_rng(0), np.float32)
    assert W.dtype == np.float32 and W.shape == (400, 500)
    if kind == "normal":
        assert abs(W.std() - scale) < 0.01 * scale
    else:
        assert np.abs(W).max() <= scale and abs(W.std() - scale / np.sqrt(3)) < 0.01 * scale
    again = init((400, 500), 200, 100, np.random.default_rng(0), np.float64)
    np.testing.assert_allclose(W, again, rtol=1e-6)  # float32 and float64 runs start alike


def test_zeros_initializer_and_errors():
    init = get_initializer("zeros")
    np.testing.assert_array_equal(init((3, 2), 3, 2, None, np.float64), 0)
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        get_initializer("glorot")
    with pytest.raises(ValueError, match="sigma"):
        get_initializer("gaussian", sigma=0)
    layer = Dense(3, 2, initializer="zeros")
    np.testing.assert_array_equal(layer.W, 0)
