"""ONNX export of regression networks: ``prediction`` in the targets' units, checked against the
engine's de-standardized outputs; classification exports keep their outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from trained_runs import train_run
from typer.testing import CliRunner

from conv1d_cli import load_model
from conv1d_cli.build.objects import build_model
from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config_dict
from conv1d_cli.inference.export import (
    check_samples,
    engine_outputs,
    export_onnx,
    onnx_outputs,
    onnx_predictions,
)
from conv1d_cli.inference.export.onnx_export import build_onnx
from conv1d_cli.inference.load import LoadedModel
from conv1d_cli.task.regression import destandardize
from conv1d_cli.training import setup as commands

RTOL = 1e-5  # the bar: eval, predict and ONNX agree within 1e-5 relative
CONV = {"type": "conv1d", "channels": 6, "kernel": 5, "padding": "same"}
# conv, batchnorm and a residual block with a projection shortcut, then the regression head
# (the last dense without units gets K outputs).
NET = [
    CONV,
    {"type": "batchnorm1d"},
    {"type": "relu"},
    {
        "type": "residual",
        "layers": [
            {**CONV, "channels": 8},
            {"type": "batchnorm1d"},
            {"type": "relu"},
            {**CONV, "channels": 8, "kernel": 3},
            {"type": "batchnorm1d"},
        ],
        "shortcut": "projection",
        "shortcut_batchnorm": True,
        "activation": "relu",
    },
    {"type": "globalavgpool1d"},
    {"type": "dense"},
]


def regression_model(k: int, scaling: dict, dtype: str = "float64", seed: int = 0) -> LoadedModel:
    """A random network with K outputs (batchnorm statistics randomised) as a regression run."""
    cfg = load_config_dict(
        {"model": {"layers": NET}, "train": {"dtype": dtype}, "task": "regression"}, "<test>"
    )
    shape = (2, 40)
    rng = np.random.default_rng(seed)
    model = build_model(cfg.model, shape, k, rng, dtype)
    for name, array in model.buffers().items():
        low = 0.5 if name.endswith("running_var") else -1.0
        array[...] = rng.uniform(low, 1.5, array.shape)
    for name, array in model.parameters().items():
        if name.endswith(("gamma", "beta", ".b")):
            array[...] = rng.uniform(-1, 1, array.shape)
    stats = {"method": "standardize", "shift": [3.0, -1.0], "scale": [2.0, 0.5]}
    names = tuple(f"y{i}" for i in range(k))
    return LoadedModel(model, cfg, (), shape, stats, None, None, {}, "regression", names, scaling)


def assert_close_in_units(got: np.ndarray, want: np.ndarray, scaling: dict) -> None:
    """Each output within RTOL of the engine's, relative to the prediction (or, for one
    closer to zero than the target's std, to the std: float32 rounds relative to the scale)."""
    for j, std in enumerate(scaling["std"]):
        np.testing.assert_allclose(got[:, j], want[:, j], rtol=RTOL, atol=RTOL * std)


SCALINGS = {
    1: {"mean": [41.5], "std": [7.25]},
    # Two targets of very different units: a small one near zero and a large offset one.
    2: {"mean": [0.0125, 1250.0], "std": [0.004, 80.0]},
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("k", [1, 2])
def test_prediction_equals_the_engine_in_original_units(k, dtype):
    scaling = SCALINGS[k]
    loaded = regression_model(k, scaling, dtype)
    model = build_onnx(loaded)
    assert [o.name for o in model.graph.output] == ["prediction"]
    dims = model.graph.output[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == k
    x = check_samples(loaded, 32, seed=1)
    got = onnx_predictions(model.SerializeToString(), x)
    assert got.shape == (32, k) and got.dtype == np.float32
    raw = engine_outputs(loaded, x)
    want = destandardize(raw, scaling)
    # Not a trivial comparison: the network's outputs vary and are far from the units.
    assert np.all(raw.std(axis=0) > 0.01)
    assert np.all(np.abs(want.mean(axis=0) - scaling["mean"]) < 10 * np.asarray(scaling["std"]))
    assert_close_in_units(got, want, scaling)


def test_graph_has_no_classifier_outputs_and_stores_the_scaling():
    loaded = regression_model(2, SCALINGS[2])
    model = build_onnx(loaded)
    ops = {node.op_type for node in model.graph.node}
    assert "Softmax" not in ops
    assert {o.name for o in model.graph.output} == {"prediction"}
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["task"] == "regression"
    assert json.loads(meta["target_names"]) == ["y0", "y1"]
    assert json.loads(meta["target_scaling"]) == SCALINGS[2]
    assert json.loads(meta["class_names"]) == []
    assert "targets' units" in model.doc_string


def test_scaling_that_does_not_fit_the_network_is_refused():
    loaded = regression_model(1, SCALINGS[2])
    with pytest.raises(ValueError, match="2 means and 2 stds but the network has 1 outputs"):
        build_onnx(loaded)
    loaded.target_scaling = None
    with pytest.raises(ValueError, match="no target scaling"):
        build_onnx(loaded)


def train_regression_run(folder, k: int):
    """A short real regression run on noisy sines: targets frequency (Hz) and, for K = 2, an
    amplitude; (run dir, raw test samples, test targets (N, K))."""
    rng = np.random.default_rng(0)
    n, length = 160, 48
    t = np.arange(length) / length
    freq = rng.uniform(2.0, 6.0, n)
    amp = rng.uniform(50.0, 150.0, n)
    x = amp[:, None] * np.sin(2 * np.pi * freq[:, None] * t) + rng.normal(0, 5.0, (n, length))
    y = np.stack([freq, amp], axis=1)[:, :k]
    y = y[:, 0] if k == 1 else y
    data = folder / "reg.npz"
    np.savez(
        data, x=x[:120, None].astype(np.float32), y=y[:120], x_test=x[120:, None], y_test=y[120:]
    )
    config = {
        "name": "reg",
        "seed": 0,
        "data": {"dataset": "npz", "path": str(data), "val_split": 0.2},
        "model": {"layers": NET},
        "optimizer": {"type": "adam", "lr": 0.003},
        "train": {"epochs": 2, "batch_size": 16},
        "output": {"runs_dir": str(folder / "runs"), "plots": False},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = commands.run_training(commands.setup_training(path))
    return result.run_dir, x[120:, None].astype(np.float32), y[120:]


@pytest.mark.parametrize("k", [1, 2])
def test_trained_regression_run_through_the_command(tmp_path, k):
    import onnx

    run_dir, x_test, _ = train_regression_run(tmp_path, k)
    loaded = load_model(run_dir)
    assert loaded.task == "regression"
    result = CliRunner().invoke(app, ["export", str(run_dir)])
    assert result.exit_code == 0, result.stderr
    path = run_dir / "model.onnx"
    assert "prediction (batch, " + str(k) + ")" in result.stdout
    assert "probabilities" not in result.stdout + result.stderr
    assert "prediction differs from the NumPy engine" in result.stderr
    model = onnx.load(path)
    assert [o.name for o in model.graph.output] == ["prediction"]
    got = onnx_predictions(path.read_bytes(), x_test)  # raw samples, as predict takes
    want = destandardize(engine_outputs(loaded, x_test), loaded.target_scaling)
    assert_close_in_units(got, want, loaded.target_scaling)
    out = tmp_path / "m.onnx"
    payload = json.loads(
        CliRunner().invoke(app, ["export", str(run_dir), "--out", str(out), "--json"]).stdout
    )
    assert payload["task"] == "regression" and payload["outputs"] == ["prediction"]
    assert payload["max_rel_diff"] <= RTOL and "max_prob_diff" not in payload


def test_classification_export_keeps_its_outputs(tmp_path):
    import onnx

    run_dir, x_test, _ = train_run(tmp_path, epochs=1)
    result = export_onnx(run_dir)
    assert result.task == "classification" and result.max_rel_diff is None
    assert result.outputs == ("probabilities", "logits") and result.n_outputs == 3
    assert result.max_prob_diff <= 1e-5
    assert "max_prob_diff" in result.as_json()
    model = onnx.load(result.path)
    assert [o.name for o in model.graph.output] == ["probabilities", "logits"]
    assert "Softmax" in {node.op_type for node in model.graph.node}
    out = onnx_outputs(result.path.read_bytes(), x_test)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
