"""Explanations on the engine: Grad-CAM and input x gradient against direct computations in
float64 (central differences through residual and parallel blocks), and the layer paths."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import numerical_gradient, relative_error

from conv1d_cli import nn
from conv1d_cli.errors import ConfigError
from conv1d_cli.inference.explain import (
    decision_grad,
    default_layer,
    explain_batch,
    feature_maps,
    find_layer,
    named_layers,
    resample,
    tapped,
    target_index,
)

SHAPE = (2, 12)


def _network(seed: int = 0) -> nn.Sequential:
    """Conv, batchnorm (eval: its running statistics), a residual block and a parallel block
    whose branches are a strided conv and an average pool, then GAP and dense; float64."""
    rng = np.random.default_rng(seed)
    f64 = {"dtype": np.float64, "rng": rng}
    norm = nn.BatchNorm1d(3, dtype=np.float64)
    norm.buffers["running_mean"][...] = rng.normal(0, 0.3, 3)
    norm.buffers["running_var"][...] = rng.uniform(0.5, 2.0, 3)
    model = nn.Sequential(
        [
            nn.Conv1d(2, 3, 3, padding="same", **f64),
            norm,
            nn.ReLU(),
            nn.Residual(
                nn.Sequential([nn.Conv1d(3, 3, 3, padding="same", **f64), nn.Tanh()]),
                activation=nn.ReLU(),
            ),
            nn.Parallel(
                [
                    nn.Sequential([nn.Conv1d(3, 2, 3, stride=2, padding=1, **f64)]),
                    nn.Sequential([nn.AvgPool1d(2)]),
                ]
            ),
            nn.Tanh(),
            nn.GlobalAvgPool1d(),
            nn.Dense(5, 3, **f64),
        ]
    )
    for name, array in model.parameters().items():  # biases away from zero: every path counts
        if name.endswith(".b"):
            array[...] = rng.normal(0, 0.2, array.shape)
    return model


def _layer(model: nn.Sequential, path: str):
    return next(entry.layer for entry in named_layers(model, SHAPE) if entry.path == path)


def _decision(model: nn.Sequential, x: np.ndarray, targets: np.ndarray) -> float:
    """sum over samples of z[n, t_n] - mean(z[n]): what the explanations differentiate."""
    z = model.forward(x)
    return float(np.sum(z[np.arange(len(x)), targets] - z.mean(axis=1)))


def _reference_resample(cam: np.ndarray, length: int) -> np.ndarray:
    """PyTorch's linear, align_corners=False: sample centres at (i + 0.5) * L'/L - 0.5."""
    short = cam.shape[1]
    where = (np.arange(length) + 0.5) * short / length - 0.5
    return np.stack([np.interp(where, np.arange(short), row) for row in cam])


def _direct_gradcam(model, x, path, targets) -> np.ndarray:
    """Grad-CAM from its definition: the layer's output A, dz/dA by central differences of
    the network with A perturbed, channel weights = mean over time, resampled to x's length."""
    layer = _layer(model, path)
    model.eval()
    with tapped(layer) as tap:
        model.forward(x)
    activation = tap.activation
    delta = np.zeros(activation.shape)  # C order: numerical_gradient perturbs a flat view
    own_forward = layer.forward
    layer.forward = lambda h: own_forward(h) + delta
    try:
        grad = numerical_gradient(lambda: _decision(model, x, targets), delta)
    finally:
        del layer.forward
    weights = grad.mean(axis=2)
    cam = np.stack([weights[n] @ activation[n] for n in range(len(x))])
    return _reference_resample(cam, x.shape[2])


@pytest.mark.parametrize("path", ["0", "3", "3.layers.0", "4", "4.branches.0.0", "5"])
def test_gradcam_matches_its_definition_through_blocks(path):
    model = _network()
    x = np.random.default_rng(1).normal(size=(3, *SHAPE))
    targets = np.array([0, 2, 1])
    got, logits = explain_batch(model, x, "gradcam", layer=path, target=targets)
    expected = _direct_gradcam(model, x, path, targets)
    assert got.shape == x.shape and got.dtype == np.float64
    np.testing.assert_array_equal(got[:, 0], got[:, 1])  # the same map on every input channel
    assert relative_error(got[:, 0], expected) < 1e-7
    np.testing.assert_allclose(logits, model.forward(x), rtol=1e-12)


def test_input_x_gradient_matches_central_differences():
    model = _network(seed=3).eval()
    x = np.random.default_rng(2).normal(size=(2, *SHAPE))
    targets = np.array([1, 0])
    got, _ = explain_batch(model, x, "input-x-gradient", target=targets)
    grad = numerical_gradient(lambda: _decision(model, x, targets), x)
    assert relative_error(got, x * grad) < 1e-7


def test_the_predicted_class_is_explained_by_default_and_one_target_fits_all():
    model = _network()
    x = np.random.default_rng(4).normal(size=(4, *SHAPE))
    predicted = np.argmax(model.eval().forward(x), axis=1)
    default, _ = explain_batch(model, x, "input-x-gradient")
    chosen, _ = explain_batch(model, x, "input-x-gradient", target=predicted)
    np.testing.assert_array_equal(default, chosen)
    one, _ = explain_batch(model, x, "input-x-gradient", target=2)
    each, _ = explain_batch(model, x, "input-x-gradient", target=np.full(4, 2))
    np.testing.assert_array_equal(one, each)


def test_a_shift_of_every_logit_changes_nothing():
    """z_t - mean(z) ignores what all logits share: the dense bias cannot move the maps."""
    model = _network()
    x = np.random.default_rng(5).normal(size=(2, *SHAPE))
    before, _ = explain_batch(model, x, "gradcam", target=1)
    model.layers[-1].params["b"][...] += 3.0
    after, _ = explain_batch(model, x, "gradcam", target=1)
    np.testing.assert_allclose(after, before, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        decision_grad(np.zeros((1, 4)), np.array([2])), [[-0.25] * 2 + [0.75, -0.25]]
    )


def test_resample_is_linear_between_cell_centres():
    np.testing.assert_allclose(resample(np.array([[0.0, 1.0]]), 4), [[0.0, 0.25, 0.75, 1.0]])
    cam = np.random.default_rng(6).normal(size=(3, 7))
    np.testing.assert_allclose(resample(cam, 20), _reference_resample(cam, 20), rtol=1e-12)
    assert resample(cam, 7) is cam


def test_paths_are_named_like_parameters_and_taps_leave_no_trace():
    model = _network()
    paths = [entry.path for entry in named_layers(model, SHAPE)]
    assert paths[:6] == ["0", "1", "2", "3", "3.layers.0", "3.layers.1"]
    assert "3.activation" in paths and "4.branches.1.0" in paths
    for name in model.parameters():
        assert name.rsplit(".", 1)[0] in paths
    assert default_layer(model, SHAPE).path == "4"  # the last block holding a convolution
    model.train()
    x = np.random.default_rng(7).normal(size=(2, *SHAPE))
    maps = feature_maps(model, x, "4.branches.0.0")
    assert maps.shape == (2, 2, 6) and model.training  # the mode is restored
    for entry in named_layers(model, SHAPE):
        assert "forward" not in vars(entry.layer) and "backward" not in vars(entry.layer)


def test_bad_layers_and_targets_are_one_line_naming_what_is_allowed():
    model = _network()
    with pytest.raises(
        ConfigError, match=r"--layer 9: no such layer; .*4\.branches\.0\.0 \(Conv1d\)"
    ):
        find_layer(model, SHAPE, "9")
    with pytest.raises(ConfigError, match=r"--layer 6 is GlobalAvgPool1d with output \(5,\)"):
        explain_batch(model, np.zeros((1, *SHAPE)), "gradcam", layer="6")
    with pytest.raises(ConfigError, match=r"not a conv1d layer; allowed: 0 \(Conv1d\), 3\.layers"):
        find_layer(model, SHAPE, "2", need="conv")
    with pytest.raises(ConfigError, match="--method saliency: allowed methods: gradcam, input-x"):
        explain_batch(model, np.zeros((1, *SHAPE)), "saliency")
    assert target_index(("a", "b"), "b") == 1 and target_index(("a", "b"), 0) == 0
    with pytest.raises(ConfigError, match="--target c: not a class of the network; classes: a, b"):
        target_index(("a", "b"), "c")
    no_conv = nn.Sequential([nn.Flatten(), nn.Dense(24, 2, dtype=np.float64)])
    with pytest.raises(ConfigError, match="no convolution for Grad-CAM; use input-x-gradient"):
        explain_batch(no_conv, np.zeros((1, *SHAPE)), "gradcam")
