"""Optimizers and schedules against values worked out by hand; exact state export and resume."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conv1d_cli.nn import SimpleConv1d
from conv1d_cli.training.optim import SGD, AdaGrad, Adam, AdamW, Momentum, RMSProp, clip_grad_norm
from conv1d_cli.training.schedules import ConstantLR, CosineLR, OneCycleLR, StepLR

G1, G2 = np.array([0.5, -1.0]), np.array([0.1, 0.2])


def two_steps(opt, g1=G1, g2=G2):
    """Parameters [1, -2] after a step with g1 and a step with g2; grads must stay untouched."""
    p = np.array([1.0, -2.0])
    grads = {"w": g1.copy()}
    opt.step({"w": p}, grads)
    after_one = p.copy()
    np.testing.assert_array_equal(grads["w"], g1)
    opt.step({"w": p}, {"w": g2.copy()})
    return after_one, p


# ---------------------------------------------------------------------- hand-computed steps
def test_sgd():
    one, two = two_steps(SGD(lr=0.1))
    np.testing.assert_allclose(one, [0.95, -1.9])
    np.testing.assert_allclose(two, [0.94, -1.92])


def test_sgd_weight_decay_is_added_to_the_gradient():
    one, _ = two_steps(SGD(lr=0.1, weight_decay=0.1))  # g + 0.1 p = [0.6, -1.2]
    np.testing.assert_allclose(one, [0.94, -1.88])


def test_momentum():
    # buf1 = g1; buf2 = 0.9 g1 + g2 = [0.55, -0.7]
    one, two = two_steps(Momentum(lr=0.1, momentum=0.9))
    np.testing.assert_allclose(one, [0.95, -1.9])
    np.testing.assert_allclose(two, [0.95 - 0.055, -1.9 + 0.07])


def test_nesterov():
    # step 1: g1 + 0.9 g1 = [0.95, -1.9]; step 2: g2 + 0.9 * [0.55, -0.7] = [0.595, -0.43]
    one, two = two_steps(Momentum(lr=0.1, momentum=0.9, nesterov=True))
    np.testing.assert_allclose(one, [0.905, -1.81])
    np.testing.assert_allclose(two, [0.905 - 0.0595, -1.81 + 0.043])


def test_adagrad():
    # sq1 = [0.25, 1] -> steps of 0.1 * sign; sq2 = [0.26, 1.04]
    one, two = two_steps(AdaGrad(lr=0.1))
    np.testing.assert_allclose(one, [0.9, -1.9])
    np.testing.assert_allclose(two, [0.9 - 0.01 / math.sqrt(0.26), -1.9 - 0.02 / math.sqrt(1.04)])


def test_rmsprop():
    # sq1 = 0.1 * g1^2 = [0.025, 0.1]; sq2 = 0.9 sq1 + 0.1 g2^2 = [0.0235, 0.094]
    one, two = two_steps(RMSProp(lr=0.01, alpha=0.9))
    np.testing.assert_allclose(one, [1 - 0.005 / math.sqrt(0.025), -2 + 0.01 / math.sqrt(0.1)])
    np.testing.assert_allclose(
        two, [one[0] - 0.001 / math.sqrt(0.0235), one[1] - 0.002 / math.sqrt(0.094)]
    )


def test_adam():
    # m2 = [0.055, -0.07], v2 = [2.5975e-4, 1.039e-3]; bias corrections 0.19 and 1.999e-3
    one, two = two_steps(Adam(lr=0.1))
    np.testing.assert_allclose(one, [0.9, -1.9], rtol=1e-7)
    np.testing.assert_allclose(two, [0.8196959064, -1.8488973940], rtol=1e-7)


def test_adam_l2_versus_adamw_decoupled_decay():
    # Adam's L2 enters the moments (step 1 is still lr * sign); AdamW shrinks p first.
    one, _ = two_steps(Adam(lr=0.1, weight_decay=0.1))
    np.testing.assert_allclose(one, [0.9, -1.9], rtol=1e-7)
    one, _ = two_steps(AdamW(lr=0.1, weight_decay=0.1))
    np.testing.assert_allclose(one, [0.99 - 0.1, -1.98 + 0.1], rtol=1e-7)
    assert AdamW(lr=1e-3).weight_decay == 0.01


def test_clipping_inside_step_leaves_the_gradients_alone():
    opt = SGD(lr=1.0, clip_grad_norm=1.0)
    p, g = np.array([0.0, 0.0]), np.array([3.0, 4.0])
    opt.step({"w": p}, {"w": g})
    np.testing.assert_allclose(p, [-0.6, -0.8], rtol=1e-6)
    np.testing.assert_array_equal(g, [3, 4])
    assert opt.grad_norm == pytest.approx(5.0)


def test_clip_grad_norm_scales_in_place_and_returns_the_old_norm():
    grads = {"a": np.array([3.0]), "b": np.array([[4.0]])}
    assert clip_grad_norm(grads, 10.0) == pytest.approx(5.0)
    np.testing.assert_array_equal(grads["a"], [3.0])
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose([grads["a"][0], grads["b"][0, 0]], [0.6, 0.8], rtol=1e-6)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(grads, 0)


# ------------------------------------------------------------------- in place, float32, state
ALL = [
    lambda: SGD(lr=0.05, weight_decay=0.01, clip_grad_norm=2.0),
    lambda: Momentum(lr=0.05),
    lambda: Momentum(lr=0.05, nesterov=True, weight_decay=1e-3),
    lambda: AdaGrad(lr=0.05),
    lambda: RMSProp(lr=0.01),
    lambda: Adam(lr=0.01, weight_decay=1e-3, clip_grad_norm=1.0),
    lambda: AdamW(lr=0.01),
]


def params32():
    rng = np.random.default_rng(0)
    return {
        "0.W": rng.standard_normal((3, 2, 4)).astype(np.float32),
        "0.b": np.zeros(3, np.float32),
    }


def grads_at(step, params):
    rng = np.random.default_rng(100 + step)
    return {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}


@pytest.mark.parametrize("make", ALL)
def test_updates_are_in_place_and_float32(make):
    opt, params = make(), params32()
    ids = {k: id(v) for k, v in params.items()}
    opt.step(params, grads_at(0, params))
    assert {k: id(v) for k, v in params.items()} == ids
    assert all(v.dtype == np.float32 for v in params.values())
    state = opt.state_dict()
    assert state["step"].dtype == np.int64 and state["step"].shape == () and state["step"] == 1
    assert all(v.dtype == np.float32 for k, v in state.items() if k != "step")


@pytest.mark.parametrize("make", ALL)
def test_resume_from_exported_state_is_bit_identical(make):
    schedule = CosineLR(0.05, total_steps=8, warmup_steps=2)
    straight, params = make(), params32()
    for t in range(8):
        straight.lr = schedule.lr_at(t)
        straight.step(params, grads_at(t, params))

    first, resumed = make(), params32()
    for t in range(3):
        first.lr = schedule.lr_at(t)
        first.step(resumed, grads_at(t, resumed))
    saved_params = {k: v.copy() for k, v in resumed.items()}
    saved_state = first.state_dict()
    first.step(resumed, grads_at(99, resumed))  # later changes must not leak into the export

    second, resumed = make(), saved_params
    second.load_state_dict(saved_state)
    for t in range(3, 8):
        second.lr = schedule.lr_at(t)
        second.step(resumed, grads_at(t, resumed))
    for name in params:
        np.testing.assert_array_equal(resumed[name], params[name])
    assert second.state_dict().keys() == straight.state_dict().keys()


def run_steps(opt, params, schedule):
    """Apply ``schedule``: a list of (step index, names) pairs; returns params and state."""
    for t, names in schedule:
        subset = {k: params[k] for k in names}
        opt.step(subset, grads_at(t, subset))
    return params, opt.state_dict()


@pytest.mark.parametrize("make", ALL)
def test_flat_steps_equal_the_per_array_loop_bit_for_bit(make):
    # Includes a step on a subset of the names in between: the flat state must see its update.
    both, one = ("0.W", "0.b", "1.W"), ("0.W",)
    schedule = [(0, both), (1, both), (2, one), (3, both), (4, ("0.b", "1.W")), (5, both)]

    def params():
        out = params32()
        out["1.W"] = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
        return out

    looped = make()
    looped.flat = False
    expected_params, expected_state = run_steps(looped, params(), schedule)
    flat = make()
    got_params, got_state = run_steps(flat, params(), schedule)
    assert flat._layouts, "the flat path never ran"
    for name in expected_params:
        np.testing.assert_array_equal(got_params[name], expected_params[name])
    assert got_state.keys() == expected_state.keys()
    for key in expected_state:
        np.testing.assert_array_equal(got_state[key], expected_state[key])


def test_flat_step_falls_back_for_mixed_dtypes_and_reports_bad_shapes():
    params = {"a": np.ones(3, np.float32), "b": np.ones(2, np.float64)}
    grads = {"a": np.full(3, 0.5, np.float32), "b": np.full(2, 0.5)}
    Adam(lr=0.1).step(params, grads)
    np.testing.assert_allclose(params["a"], 0.9, rtol=1e-6)
    assert params["a"].dtype == np.float32 and params["b"].dtype == np.float64
    with pytest.raises(ValueError, match=r"gradient of b has shape \(3,\), parameter \(2,\)"):
        Adam(lr=0.1).step(params, {"a": grads["a"], "b": np.ones(3)})


def test_state_names_and_load_errors():
    opt, params = Adam(lr=0.1), params32()
    opt.step(params, grads_at(0, params))
    assert set(opt.state_dict()) == {"step", "m.0.W", "m.0.b", "v.0.W", "v.0.b"}
    assert set(Momentum(lr=0.1).state_dict()) == {"step"}
    with pytest.raises(ValueError, match=r"unexpected keys for SGD: m\.0\.W"):
        SGD(lr=0.1).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="step"):
        Adam(lr=0.1).load_state_dict({"m.0.W": np.zeros(2)})
    with pytest.raises(ValueError, match="no gradient for parameters: 0.b"):
        Adam(lr=0.1).step(params, {"0.W": params["0.W"]})


def test_course_hook_keeps_separate_state_per_layer():
    opt = Adam(lr=0.1)
    layers = [SimpleConv1d(2, rng=np.random.default_rng(i), optimizer=opt) for i in range(2)]
    for layer in layers:
        layer.forward(np.arange(4.0))
        layer.backward(np.ones(3))
    assert {"m.layer0.W", "m.layer1.B"} <= set(opt.state_dict())


@pytest.mark.parametrize(
    "make,name",
    [
        (lambda: SGD(lr=-1), "lr"),
        (lambda: SGD(lr=0.1, weight_decay=-0.1), "weight_decay"),
        (lambda: SGD(lr=0.1, clip_grad_norm=0), "clip_grad_norm"),
        (lambda: Momentum(lr=0.1, momentum=1.0), "momentum"),
        (lambda: Momentum(lr=0.1, momentum=0.0, nesterov=True), "nesterov"),
        (lambda: RMSProp(lr=0.1, alpha=1.5), "alpha"),
        (lambda: AdaGrad(lr=0.1, eps=0), "eps"),
        (lambda: Adam(lr=0.1, betas=(1.0, 0.9)), r"betas\[0\]"),
        (lambda: Adam(lr=0.1, betas=0.9), "betas"),
        (lambda: Adam(lr="fast"), "lr"),
    ],
)
def test_settings_are_validated_by_name(make, name):
    with pytest.raises(ValueError, match=name):
        make()


# ---------------------------------------------------------------------------------- schedules
def test_constant_and_step_schedules():
    assert ConstantLR(0.1).lr_at(0) == ConstantLR(0.1).lr_at(10**6) == 0.1
    step = StepLR(0.1, step_size=10, gamma=0.5)
    assert [step.lr_at(t) for t in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])


def test_cosine_schedule():
    plain = CosineLR(1.0, total_steps=10)
    assert [plain.lr_at(t) for t in (0, 5, 10, 20)] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    warm = CosineLR(1.0, total_steps=12, warmup_steps=2, min_lr=0.1)
    # warmup (s+1)/2, then cosine over the remaining 10 steps from 1.0 down to 0.1
    assert [warm.lr_at(t) for t in (0, 1, 2, 7, 12)] == pytest.approx([0.5, 1.0, 1.0, 0.55, 0.1])


def test_one_cycle_schedule_matches_pytorch():
    # initial 1/25 = 0.04; final 0.04/1e4; phase one ends at step 0.3*10 - 1 = 2
    sched = OneCycleLR(1.0, total_steps=10, pct_start=0.3)
    values = [sched.lr_at(t) for t in (0, 1, 2, 4, 9, 50)]
    assert values == pytest.approx([0.04, 0.52, 1.0, 0.8117456539, 4e-6, 4e-6])


@pytest.mark.parametrize(
    "make,name",
    [
        (lambda: StepLR(0.1, step_size=0), "step_size"),
        (lambda: CosineLR(0.1, total_steps=5, warmup_steps=6), "warmup_steps"),
        (lambda: CosineLR(0.1, total_steps=5, min_lr=0.2), "min_lr"),
        (lambda: OneCycleLR(0.1, total_steps=5, pct_start=1.0), "pct_start"),
        (lambda: ConstantLR(0.1).lr_at(-1), "step"),
    ],
)
def test_schedule_settings_are_validated(make, name):
    with pytest.raises(ValueError, match=name):
        make()
