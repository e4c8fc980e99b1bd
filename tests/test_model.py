"""Sequential: naming, state round trips, summary numbers, modes, and a tiny training run."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_layer

from conv1d_cli.nn import (
    BatchNorm1d,
    Conv1d,
    Dense,
    Dropout,
    Flatten,
    LayerInfo,
    MaxPool1d,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
    Tanh,
)
from conv1d_cli.training.optim import Adam


def small_net(seed=0, dtype=np.float32, dropout=0.5) -> Sequential:
    rng = np.random.default_rng(seed)
    return Sequential(
        [
            Conv1d(1, 4, 5, stride=2, padding="same", dtype=dtype, rng=rng),
            ReLU(),
            MaxPool1d(2),
            BatchNorm1d(4, dtype=dtype),
            Flatten(),
            Dropout(dropout, rng=rng),
            Dense(28, 3, dtype=dtype, rng=rng),
        ]
    )


def test_parameters_are_live_and_qualified():
    model = small_net()
    params = model.parameters()
    assert list(params) == ["0.W", "0.b", "3.gamma", "3.beta", "6.W", "6.b"]
    assert params["0.W"] is model.layers[0].params["W"]
    assert list(model.gradients()) == list(params)
    assert model.gradients()["6.W"] is model.layers[6].grads["W"]
    assert list(model.buffers()) == ["3.running_mean", "3.running_var"]


def test_state_dict_round_trip_copies_in_place():
    source, target = small_net(seed=1), small_net(seed=2)
    source.train().forward(np.random.default_rng(0).standard_normal((8, 1, 28)).astype(np.float32))
    state = source.state_dict()
    assert set(state) == set(source.parameters()) | set(source.buffers())
    assert state["0.W"] is not source.parameters()["0.W"]  # a copy, not the live array
    live = target.parameters()["0.W"]
    target.load_state_dict(state)
    assert target.parameters()["0.W"] is live  # loaded into the existing array
    for name, value in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[name], value)
    x = np.random.default_rng(1).standard_normal((4, 1, 28)).astype(np.float32)
    np.testing.assert_array_equal(source.eval().forward(x), target.eval().forward(x))


def test_load_state_dict_reports_every_problem():
    model = small_net()
    state = model.state_dict()
    del state["0.b"]
    state["9.W"] = np.zeros(3)
    state["6.W"] = np.zeros((3, 28))
    with pytest.raises(ValueError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "missing keys: 0.b" in message and "unexpected keys: 9.W" in message
    assert "6.W" in message and "(3, 28)" in message and "(28, 3)" in message


def test_summary_numbers():
    model = small_net()
    rows = model.summary((1, 28))
    assert all(isinstance(row, LayerInfo) for row in rows)
    assert [row.output_shape for row in rows] == [
        (4, 14), (4, 14), (4, 7), (4, 7), (28,), (28,), (3,)
    ]  # fmt: skip
    assert [row.n_params for row in rows] == [24, 0, 0, 8, 0, 0, 87]
    assert [row.macs for row in rows] == [14 * 4 * 1 * 5, 0, 0, 0, 0, 0, 28 * 3]
    assert rows[0].name == "Conv1d" and rows[0].description.startswith("Conv1d(1, 4")
    assert model.output_shape((1, 28)) == (3,)
    assert model.num_parameters() == 24 + 8 + 87
    with pytest.raises(ValueError, match="dense"):
        model.output_shape((1, 40))


def test_train_and_eval_reach_every_layer():
    model = small_net()
    x = np.random.default_rng(0).standard_normal((6, 1, 28)).astype(np.float32)
    model.eval()
    assert not any(layer.training for layer in model.layers)
    np.testing.assert_array_equal(model.forward(x), model.forward(x))  # dropout is identity
    model.train()
    assert all(layer.training for layer in model.layers)
    assert not np.array_equal(model.forward(x), model.forward(x))


def test_predict_logits_batches_in_eval_mode_and_restores_the_mode():
    model = small_net().train()
    x = np.random.default_rng(0).standard_normal((25, 1, 28)).astype(np.float32)
    logits = model.predict_logits(x, batch_size=7)
    assert model.training and all(layer.training for layer in model.layers)
    # float32: a batch of 7 may round a row's sums differently from one of 25 (BLAS blocking)
    np.testing.assert_allclose(logits, model.eval().forward(x), rtol=1e-5, atol=1e-6)


class _ModelAsLayer:
    """Lets check_layer see a whole network through the layer interface."""

    def __init__(self, model):
        self.model, self.params, self.grads = model, model.parameters(), model.gradients()

    def forward(self, x):
        return self.model.forward(x)

    def backward(self, grad):
        return self.model.backward(grad)


def test_whole_network_gradient_check():
    model = small_net(dtype=np.float64, dropout=0.0)
    model.layers.insert(4, Tanh())
    x = np.random.default_rng(3).standard_normal((3, 1, 28))
    check_layer(_ModelAsLayer(model), x, tol=1e-5)


def test_tiny_training_run_separates_three_classes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    x = 0.3 * rng.standard_normal((300, 1, 24)).astype(np.float32)
    for c in range(3):  # class c has a bump in its own third of the sequence
        x[labels == c, 0, 8 * c + 2 : 8 * c + 6] += 1.0
    model = Sequential(
        [
            Conv1d(1, 4, 3, padding="same", rng=rng),
            ReLU(),
            MaxPool1d(2),
            Flatten(),
            Dense(48, 3, rng=rng),
        ]
    )
    loss, opt = SoftmaxCrossEntropy(), Adam(lr=0.02)
    for _ in range(15):
        for start in range(0, 200, 25):
            batch = slice(start, start + 25)
            loss.forward(model.forward(x[batch]), labels[batch])
            model.backward(loss.backward())
            opt.step(model.parameters(), model.gradients())
    accuracy = (model.predict_logits(x[200:]).argmax(axis=1) == labels[200:]).mean()
    assert accuracy >= 0.95
    assert model.parameters()["0.W"].dtype == np.float32
