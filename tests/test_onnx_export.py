"""ONNX export: onnxruntime against the NumPy engine, layer by layer and for whole networks."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest
from trained_runs import train_run
from typer.testing import CliRunner

from conv1d_cli import load_model
from conv1d_cli.build.objects import build_model
from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config, load_config_dict
from conv1d_cli.inference.export import check_samples, export_onnx, onnx_probabilities
from conv1d_cli.inference.export.onnx_export import build_onnx
from conv1d_cli.inference.load import LoadedModel

TOLERANCE = 1e-5  # max |onnxruntime - engine| on probabilities (the bar)
CONV = {"type": "conv1d", "channels": 5, "kernel": 3}
HEAD = [{"type": "flatten"}, {"type": "dense", "units": 4}]


def loaded_model(layers, shape=(3, 24), stats=None, seed=0) -> LoadedModel:
    """A randomly initialised network (batchnorm statistics randomised too) ready to export."""
    cfg = load_config_dict({"model": {"layers": layers}}, "<test>")
    rng = np.random.default_rng(seed)
    model = build_model(cfg.model, shape, 4, rng)
    for name, array in model.buffers().items():
        low = 0.5 if name.endswith("running_var") else -1.0
        array[...] = rng.uniform(low, 1.5, array.shape)
    for name, array in model.parameters().items():
        if name.endswith(("gamma", "beta", ".b")):
            array[...] = rng.uniform(-1, 1, array.shape)
    channels = shape[0]
    stats = stats or {"method": "standardize", "shift": [0.5] * channels, "scale": [2.0] * channels}
    return LoadedModel(model, cfg, ("a", "b", "c", "d"), shape, stats)


def assert_matches_engine(loaded: LoadedModel, n: int = 16) -> None:
    x = check_samples(loaded, n, seed=1)
    probs, logits = onnx_probabilities(build_onnx(loaded).SerializeToString(), x)
    engine_logits = loaded.logits(x)
    np.testing.assert_allclose(logits, engine_logits, atol=1e-4, rtol=1e-4)
    assert np.max(np.abs(probs - loaded.predict_proba(x))) <= TOLERANCE
    assert probs.shape == (n, 4)


LAYER_CASES = {
    "conv-pad0": [CONV],
    "conv-pad2": [{**CONV, "padding": 2}],
    "conv-pair": [{**CONV, "padding": [1, 3]}],
    "conv-same": [{**CONV, "padding": "same"}],
    "conv-same-stride3": [{**CONV, "padding": "same", "stride": 3, "kernel": 4}],
    "conv-valid-stride2": [{**CONV, "padding": "valid", "stride": 2}],
    "conv-dilation": [{**CONV, "padding": "same", "dilation": 3}],
    "conv-no-bias": [{**CONV, "bias": False, "channels": 9}],
    "conv-wide": [{**CONV, "channels": 12, "kernel": 7, "padding": 3}],
    "conv-reflect": [{**CONV, "padding": [2, 1], "padding_mode": "reflect"}],
    "conv-replicate": [{**CONV, "padding": "same", "padding_mode": "replicate", "kernel": 5}],
    "conv-circular": [{**CONV, "padding": 4, "padding_mode": "circular", "stride": 2}],
    "relu": [CONV, {"type": "relu"}],
    "leakyrelu": [CONV, {"type": "leakyrelu", "negative_slope": 0.2}],
    "tanh": [CONV, {"type": "tanh"}],
    "sigmoid": [CONV, {"type": "sigmoid"}],
    "gelu": [CONV, {"type": "gelu"}],
    "gelu-tanh": [CONV, {"type": "gelu", "approximate": "tanh"}],
    "maxpool": [CONV, {"type": "maxpool1d", "kernel": 2}],
    "maxpool-padded": [CONV, {"type": "maxpool1d", "kernel": 3, "stride": 2, "padding": 1}],
    "avgpool": [CONV, {"type": "avgpool1d", "kernel": 2}],
    "avgpool-padded": [CONV, {"type": "avgpool1d", "kernel": 5, "stride": 2, "padding": 2}],
    "dropout": [CONV, {"type": "dropout", "rate": 0.5}],
    "batchnorm": [CONV, {"type": "batchnorm1d"}],
    "dense-only": [],
    "conv-causal": [{**CONV, "padding": "causal", "dilation": 2}],
    "residual-identity": [
        {**CONV, "padding": "same"},
        {"type": "residual", "layers": [{**CONV, "padding": "same"}, {"type": "relu"}]},
    ],
    "residual-projection-bn-act": [
        {
            "type": "residual",
            "layers": [
                {**CONV, "channels": 8, "padding": "same", "stride": 2},
                {"type": "batchnorm1d"},
                {"type": "relu"},
                {**CONV, "channels": 8, "padding": "same"},
            ],
            "shortcut": "projection",
            "shortcut_batchnorm": True,
            "activation": "relu",
        }
    ],
    "parallel-inception": [
        {
            "type": "parallel",
            "branches": [
                [{**CONV, "channels": 2, "kernel": 1}],
                [{**CONV, "channels": 3, "kernel": 5, "padding": "same"}],
                [{"type": "maxpool1d", "kernel": 3, "stride": 1, "padding": 1}],
                [],
            ],
        },
        {"type": "batchnorm1d"},
        {"type": "relu"},
    ],
    "nested-blocks": [
        {
            "type": "residual",
            "layers": [
                {
                    "type": "parallel",
                    "branches": [[{**CONV, "padding": "same"}], [CONV | {"kernel": 1}]],
                },
                {**CONV, "channels": 3, "kernel": 1},
            ],
            "shortcut": "projection",
        }
    ],
}


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_every_layer_kind(name):
    assert_matches_engine(loaded_model(LAYER_CASES[name] + HEAD))


def test_global_pooling_dense_stack_and_batchnorm_on_features():
    layers = [
        {**CONV, "padding": "same"},
        {"type": "globalavgpool1d"},
        {"type": "dense", "units": 8},
        {"type": "batchnorm1d"},
        {"type": "gelu"},
        {"type": "dense", "units": 4},
    ]
    assert_matches_engine(loaded_model(layers))


@pytest.mark.parametrize(
    "stats",
    [
        {"method": "scale", "shift": [-1.0, 0.0, 3.0], "scale": [4.0, 255.0, 0.5]},
        {"method": "none", "shift": [0.0, 0.0, 0.0], "scale": [1.0, 1.0, 1.0]},
        {"method": "per_sample", "shift": [0.0, 0.0, 0.0], "scale": [1.0, 1.0, 1.0]},
    ],
)
def test_normalization_is_built_in(stats):
    loaded = loaded_model([CONV, *HEAD], stats=stats)
    assert_matches_engine(loaded)
    x = check_samples(loaded, 4) * 3 + 7  # raw data far from normalized
    if stats["method"] == "per_sample":
        x[0, 1] = 2.0  # a constant channel: its std 0 counts as 1
    probs, _ = onnx_probabilities(build_onnx(loaded).SerializeToString(), x)
    assert np.max(np.abs(probs - loaded.predict_proba(x))) <= TOLERANCE


def test_full_networks_of_the_shipped_configs():
    for path in ("configs/mnist.yaml", "benchmarks/deep.yaml"):
        cfg = load_config(path)
        layers = [spec.model_dump() for spec in cfg.model.layers]
        layers[-1]["units"] = 4
        stats = {"method": "scale", "shift": [0.0], "scale": [255.0]}
        assert_matches_engine(loaded_model(layers, (1, 784), stats), n=8)


@pytest.mark.parametrize("template", ["fcn", "resnet1d", "inception"])
def test_time_series_templates(template):
    """The templates' residual and inception networks, exported and run by onnxruntime."""
    from conv1d_cli.inference.fastpath import InferenceRunner

    cfg = load_config(f"configs/templates/{template}.yaml")
    layers = [spec.model_dump() for spec in cfg.model.layers]
    layers[-1]["units"] = 4
    loaded = loaded_model(layers, (2, 64))
    assert_matches_engine(loaded, n=6)
    x = check_samples(loaded, 6)
    engine = loaded.model.forward(loaded.normalize(x))
    fast = InferenceRunner(loaded.model, (2, 64), chunk_bytes=50_000).logits(loaded.normalize(x))
    np.testing.assert_allclose(fast, engine, rtol=2e-5, atol=2e-5)


def test_trained_run_exports_with_metadata_and_agrees_with_predict(tmp_path):
    import onnx

    run_dir, x_test, _ = train_run(tmp_path)
    result = runner_export(run_dir)
    assert result.exit_code == 0, result.stderr
    path = run_dir / "model.onnx"
    model = onnx.load(path)
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["class_names"]) == ["high", "low", "mid"]
    assert json.loads(meta["input_shape"]) == [2, 32]
    assert json.loads(meta["config"])["data"]["normalize"] == "standardize"
    assert model.opset_import[0].version >= 21
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [2, 32]
    probs, _ = onnx_probabilities(path.read_bytes(), x_test)  # raw samples, as predict takes
    loaded = load_model(run_dir)
    assert np.max(np.abs(probs - loaded.predict_proba(x_test))) <= TOLERANCE
    np.testing.assert_array_equal(loaded.classes_[probs.argmax(1)], loaded.predict(x_test))
    # Never overwritten without --force.
    again = runner_export(run_dir)
    assert again.exit_code == 2 and "--force" in again.stderr
    assert runner_export(run_dir, "--force").exit_code == 0
    out = tmp_path / "m.onnx"
    result = runner_export(run_dir, "--out", str(out), "--json")
    assert json.loads(result.stdout)["max_prob_diff"] <= TOLERANCE and out.is_file()


def runner_export(run_dir, *args):
    return CliRunner().invoke(app, ["export", str(run_dir), "--format", "onnx", *args])


def test_missing_extra_says_how_to_install(tmp_path, monkeypatch):
    run_dir, _, _ = train_run(tmp_path, epochs=1)
    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name.split(".")[0] in ("onnx", "onnxruntime"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    result = runner_export(run_dir)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        'error: ONNX export needs onnx and onnxruntime: pip install "conv1d-cli[onnx]"'
    )
    assert not (run_dir / "model.onnx").exists()
    with pytest.raises(Exception, match="pip install"):
        export_onnx(run_dir)
