"""Softmax cross-entropy: values, gradient checks, stability, dtype, label smoothing."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import numerical_gradient, relative_error

from conv1d_cli.nn import SoftmaxCrossEntropy


def test_value_and_probs_by_hand():
    loss = SoftmaxCrossEntropy()
    logits = np.array([[0.0, np.log(3.0)], [2.0, 2.0]])
    value = loss.forward(logits, np.array([1, 0]))
    assert value == pytest.approx((-np.log(0.75) - np.log(0.5)) / 2)
    np.testing.assert_allclose(loss.probs, [[0.25, 0.75], [0.5, 0.5]])
    np.testing.assert_allclose(loss.backward(), [[0.125, -0.125], [-0.25, 0.25]])


def test_label_smoothing_by_hand():
    loss = SoftmaxCrossEntropy(label_smoothing=0.1)
    logits = np.array([[0.0, 0.0, 0.0, 0.0]])
    # target (0.925, 0.025, 0.025, 0.025); log p = log 0.25 everywhere
    assert loss.forward(logits, np.array([0])) == pytest.approx(np.log(4))
    np.testing.assert_allclose(loss.backward(), [[0.25 - 0.925, 0.225, 0.225, 0.225]])


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_gradient_check(smoothing):
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((5, 4)) * 3, rng.integers(0, 4, 5)
    loss = SoftmaxCrossEntropy(label_smoothing=smoothing)
    loss.forward(logits, labels)
    analytic = loss.backward()
    numeric = numerical_gradient(lambda: loss.forward(logits, labels), logits)
    assert relative_error(analytic, numeric) < 1e-7


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_stay_finite_and_keep_dtype(dtype):
    loss = SoftmaxCrossEntropy(label_smoothing=0.1)
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):
        value = loss.forward(logits, np.array([0, 2]))
        grad = loss.backward()
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert loss.probs.dtype == grad.dtype == dtype
    plain = SoftmaxCrossEntropy()
    assert plain.forward(logits, np.array([0, 2])) == pytest.approx(np.log(2) / 2)
    assert plain.forward(logits, np.array([2, 0])) == pytest.approx((2e4 + 2e4 + np.log(2)) / 2)


def test_backward_is_averaged_over_the_batch():
    loss = SoftmaxCrossEntropy()
    logits = np.zeros((10, 2))
    loss.forward(logits, np.zeros(10, int))
    np.testing.assert_allclose(loss.backward()[:, 0], -0.05)


def test_bad_inputs_are_rejected():
    loss = SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        loss.forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="labels"):
        loss.forward(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        loss.forward(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="label_smoothing"):
        SoftmaxCrossEntropy(label_smoothing=1.0)
    with pytest.raises(RuntimeError):
        SoftmaxCrossEntropy().backward()
