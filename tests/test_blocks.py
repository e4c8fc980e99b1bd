"""Residual and Parallel blocks in the engine: values against loops, float64 gradient checks,
recursive names, modes, and causal padding against its definition."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_layer
from reference_loops import conv1d_causal_loops

from conv1d_cli.nn import (
    AvgPool1d,
    BatchNorm1d,
    Conv1d,
    Dense,
    Dropout,
    Flatten,
    MaxPool1d,
    Parallel,
    ReLU,
    Residual,
    Sequential,
    SoftmaxCrossEntropy,
    Tanh,
    output_size,
)
from conv1d_cli.training.optim import Adam

F64 = np.float64


def _rng(seed=0):
    return np.random.default_rng(seed)


def _conv(c_in, c_out, k, rng, **kw):
    return Conv1d(c_in, c_out, k, dtype=F64, rng=rng, **kw)


def _downsampling_residual(rng, bn=True):
    """Body: stride-2 padding-0 conv then a padded conv; projection shortcut 1x1 stride 2."""
    body = Sequential([_conv(3, 4, 2, rng, stride=2), Tanh(), _conv(4, 4, 3, rng, padding=1)])
    # A bias before batchnorm has no gradient to check (the block's builder drops it too).
    proj = [_conv(3, 4, 1, rng, stride=2, bias=not bn)] + (
        [BatchNorm1d(4, dtype=F64)] if bn else []
    )
    return Residual(body, Sequential(proj), activation=Tanh())


def _inception(rng):
    return Parallel(
        [
            Sequential([_conv(3, 2, 1, rng)]),
            Sequential([_conv(3, 2, 1, rng), Tanh(), _conv(2, 3, 5, rng, padding="same")]),
            Sequential([MaxPool1d(3, stride=1, padding=1), _conv(3, 2, 1, rng)]),
            Sequential([]),  # the input itself
        ]
    )


# ------------------------------------------------------------------------- values vs loops
def test_residual_is_the_elementwise_sum_of_its_paths():
    rng = _rng()
    block = _downsampling_residual(rng, bn=False)
    x = rng.standard_normal((2, 3, 12))
    body = block.layers.forward(x)
    short = block.shortcut.forward(x)
    want = np.zeros_like(body)
    for i, c, t in np.ndindex(*body.shape):
        want[i, c, t] = np.tanh(body[i, c, t] + short[i, c, t])
    np.testing.assert_allclose(block.forward(x), want, rtol=1e-12)
    assert block.output_shape((3, 12)) == (4, 6) == want.shape[1:]


def test_identity_residual_adds_the_input():
    rng = _rng(1)
    block = Residual(Sequential([_conv(3, 3, 3, rng, padding="same"), ReLU()]))
    x = rng.standard_normal((2, 3, 8))
    h = block.layers.forward(x)
    np.testing.assert_allclose(block.forward(x), h + x, rtol=1e-12)


def test_parallel_concatenates_branches_along_channels():
    rng = _rng(2)
    block = _inception(rng)
    x = rng.standard_normal((2, 3, 9))
    outs = [branch.forward(x) for branch in block.branches]
    want = np.zeros((2, sum(o.shape[1] for o in outs), 9))
    channel = 0
    for out in outs:
        for c in range(out.shape[1]):
            for i in range(2):
                want[i, channel] = out[i, c]
            channel += 1
    got = block.forward(x)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert block.output_shape((3, 9)) == (10, 9)
    np.testing.assert_array_equal(got[:, 7:], x)  # the empty branch passes the input on


def test_parallel_on_features_concatenates_widths():
    rng = _rng(3)
    block = Parallel([Sequential([Dense(5, 2, dtype=F64, rng=rng)]), Sequential([Tanh()])])
    x = rng.standard_normal((4, 5))
    np.testing.assert_allclose(
        block.forward(x), np.concatenate([x @ block.branches[0][0].W, np.tanh(x)], axis=1)
    )
    check_layer(block, x)


# ------------------------------------------------------------------------ gradient checks
def test_residual_gradients_with_projection_stride_and_no_padding():
    rng = _rng(4)
    check_layer(_downsampling_residual(rng), rng.standard_normal((3, 3, 12)))


def test_residual_gradients_with_identity_shortcut():
    rng = _rng(5)
    block = Residual(Sequential([_conv(2, 2, 3, rng, padding="causal", dilation=2), Tanh()]))
    check_layer(block, rng.standard_normal((2, 2, 10)))


def test_parallel_gradients_with_strided_branches():
    rng = _rng(6)
    block = Parallel(
        [
            Sequential([_conv(2, 3, 3, rng, stride=2)]),  # padding 0: 11 -> 5
            Sequential([AvgPool1d(3, stride=2), _conv(2, 1, 1, rng)]),
            Sequential([_conv(2, 2, 5, rng, stride=2, padding=1)]),
        ]
    )
    assert block.output_shape((2, 11)) == (6, 5)
    check_layer(block, rng.standard_normal((2, 2, 11)))


def test_nested_blocks_gradients():
    rng = _rng(7)
    inner = Parallel([Sequential([_conv(3, 2, 3, rng, padding=1)]), Sequential([Tanh()])])
    block = Residual(Sequential([inner, _conv(5, 3, 1, rng)]), activation=Tanh())
    check_layer(block, rng.standard_normal((2, 3, 7)))
    check_layer(_inception(rng), rng.standard_normal((2, 3, 6)))


# ------------------------------------------------------------------------ names and modes
def _net(seed=0, dtype=np.float32):
    rng = _rng(seed)
    body = Sequential(
        [
            Conv1d(4, 8, 3, stride=2, padding=1, dtype=dtype, rng=rng),
            BatchNorm1d(8, dtype=dtype),
            ReLU(),
            Dropout(0.3, rng=rng),
            Conv1d(8, 8, 3, padding=1, dtype=dtype, rng=rng),
        ]
    )
    shortcut = Sequential([Conv1d(4, 8, 1, stride=2, dtype=dtype, rng=rng)])
    return Sequential(
        [
            Conv1d(1, 4, 3, padding=1, dtype=dtype, rng=rng),
            ReLU(),
            MaxPool1d(2),
            Residual(body, shortcut, ReLU()),
            Parallel(
                [
                    Sequential([Conv1d(8, 4, 1, dtype=dtype, rng=rng)]),
                    Sequential([MaxPool1d(3, 1, 1), Conv1d(8, 4, 3, padding=1, rng=rng)]),
                ]
            ),
            Flatten(),
            Dense(8 * 4, 3, dtype=dtype, rng=rng),
        ]
    )


def test_names_recurse_like_pytorch_state_dict():
    model = _net()
    assert list(model.parameters()) == [
        "0.W", "0.b",
        "3.layers.0.W", "3.layers.0.b", "3.layers.1.gamma", "3.layers.1.beta",
        "3.layers.4.W", "3.layers.4.b", "3.shortcut.0.W", "3.shortcut.0.b",
        "4.branches.0.0.W", "4.branches.0.0.b", "4.branches.1.1.W", "4.branches.1.1.b",
        "6.W", "6.b",
    ]  # fmt: skip
    assert list(model.gradients()) == list(model.parameters())
    assert list(model.buffers()) == ["3.layers.1.running_mean", "3.layers.1.running_var"]
    block = model.layers[3]
    assert model.parameters()["3.layers.4.W"] is block.layers[4].params["W"]  # live arrays
    assert model.gradients()["3.shortcut.0.W"] is block.shortcut[0].grads["W"]


def test_state_dict_round_trip_and_eval_mode_reach_inside_blocks():
    source, target = _net(1), _net(2)
    x = _rng(0).standard_normal((6, 1, 16)).astype(np.float32)
    source.train().forward(x)  # moves the running statistics inside the residual block
    target.load_state_dict(source.state_dict())
    source.eval(), target.eval()
    assert not source.layers[3].layers[3].training and not source.layers[3].training
    np.testing.assert_array_equal(target.forward(x), source.forward(x))
    np.testing.assert_array_equal(source.forward(x), source.forward(x))  # dropout off
    source.train()
    assert source.layers[3].layers[1].training
    assert not np.array_equal(source.forward(x), source.forward(x))  # dropout on again


def test_backward_without_input_gradient_gives_the_same_parameter_gradients():
    for first in ("residual", "parallel"):
        model = _net(3, dtype=np.float64)
        model.layers = model.layers[3:] if first == "residual" else model.layers[4:]
        shape = (4, 8) if first == "residual" else (8, 4)
        model.eval()  # no dropout masks or batch statistics between the two passes
        x = _rng(1).standard_normal((5, *shape))
        grad = _rng(2).standard_normal((5, 3))
        model.forward(x)
        model.backward(grad)
        want = {k: v.copy() for k, v in model.gradients().items()}
        model.forward(x)
        assert model.backward(grad, input_grad=False) is None
        for name, value in model.gradients().items():
            np.testing.assert_allclose(value, want[name], rtol=1e-12, err_msg=name)


def test_identity_residual_first_skips_only_the_input_gradient():
    rng = _rng(8)
    body = Sequential([_conv(3, 3, 3, rng, padding="causal", stride=1), Tanh()])
    model = Sequential(
        [Residual(body, activation=Tanh()), Flatten(), Dense(3 * 6, 2, dtype=F64, rng=rng)]
    )
    x, grad = rng.standard_normal((4, 3, 6)), rng.standard_normal((4, 2))
    model.forward(x)
    dx = model.backward(grad)
    want = {k: v.copy() for k, v in model.gradients().items()}
    model.forward(x)
    assert model.backward(grad, input_grad=False) is None
    for name, value in model.gradients().items():
        np.testing.assert_allclose(value, want[name], rtol=1e-12, err_msg=name)
    assert dx.shape == x.shape


def test_training_steps_reduce_the_loss_and_keep_optimizer_state_by_name():
    model, loss_fn, opt = _net(4), SoftmaxCrossEntropy(), Adam(lr=0.01)
    rng = _rng(5)
    x = rng.standard_normal((32, 1, 16)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    losses = []
    for _ in range(30):
        loss = loss_fn(model.forward(x), y)
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step(model.parameters(), model.gradients())
        losses.append(loss)
    assert losses[-1] < 0.5 * losses[0]
    state = opt.state_dict()
    assert {"m.3.shortcut.0.W", "v.4.branches.1.1.W"} <= set(state)


def test_summary_rows_recurse_with_paths_and_totals():
    model = _net()
    rows = model.summary((1, 16))
    top = [row for row in rows if row.depth == 0]
    assert [row.path for row in top] == [str(i) for i in range(7)]
    assert sum(row.n_params for row in top) == model.num_parameters()
    paths = [row.path for row in rows]
    assert paths[3:11] == [
        "3", "3.layers.0", "3.layers.1", "3.layers.2", "3.layers.3", "3.layers.4",
        "3.shortcut.0", "3.activation",
    ]  # fmt: skip
    assert paths[11:16] == ["4", "4.branches.0.0", "4.branches.1.0", "4.branches.1.1", "5"]
    residual = rows[3]
    assert residual.output_shape == (8, 4) and residual.depth == 0
    assert residual.macs == sum(row.macs for row in rows[4:11]) > 0
    assert residual.n_params == sum(row.n_params for row in rows[4:11])
    assert rows[12].output_shape == (4, 4) and rows[12].depth == 1


# ------------------------------------------------------------------------ causal padding
@pytest.mark.parametrize(
    ("k", "stride", "dilation", "length"),
    [(3, 1, 1, 9), (2, 1, 3, 10), (5, 2, 1, 11), (3, 3, 2, 8), (1, 2, 1, 7), (4, 1, 1, 2)],
)
def test_causal_conv_matches_its_definition(k, stride, dilation, length):
    rng = _rng(k * 10 + stride)
    for c_in in (2, 9):  # both GEMM paths (columns, and taps from 8 channels)
        conv = _conv(c_in, 3, k, rng, stride=stride, dilation=dilation, padding="causal")
        x = rng.standard_normal((2, c_in, length))
        want = conv1d_causal_loops(x, conv.W, conv.b, stride, dilation)
        np.testing.assert_allclose(conv.forward(x), want, rtol=1e-10, atol=1e-12)
        assert conv.output_shape((c_in, length)) == want.shape[1:]
        assert output_size(length, k, stride, "causal", dilation) == want.shape[2]
        check_layer(conv, x)


def test_causal_output_never_sees_the_future():
    rng = _rng(9)
    conv = _conv(1, 1, 3, rng, dilation=2, padding="causal")
    x = rng.standard_normal((1, 1, 12))
    y = conv.forward(x)
    x2 = x.copy()
    x2[..., 7:] += 5.0
    np.testing.assert_array_equal(conv.forward(x2)[..., :7], y[..., :7])
    assert y.shape == x.shape
