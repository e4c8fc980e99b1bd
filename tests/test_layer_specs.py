"""The layer table: one declaration per kind drives the schema, the builder and the messages;
blocks in configs (paths in shape errors, did-you-mean inside blocks); dense units default."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from conv1d_cli import nn
from conv1d_cli.build.objects import build_model
from conv1d_cli.config import Config, ModelConfig, load_config
from conv1d_cli.config.layers import LAYER_SPECS
from conv1d_cli.config.slots import Slot, child_slot, union_tags
from conv1d_cli.errors import ConfigError

ENGINE = {
    "conv1d": nn.Conv1d, "dense": nn.Dense, "linear": nn.Dense, "relu": nn.ReLU,
    "leakyrelu": nn.LeakyReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
    "maxpool1d": nn.MaxPool1d, "avgpool1d": nn.AvgPool1d, "globalavgpool1d": nn.GlobalAvgPool1d,
    "flatten": nn.Flatten, "dropout": nn.Dropout, "batchnorm1d": nn.BatchNorm1d,
    "residual": nn.Residual, "parallel": nn.Parallel,
}  # fmt: skip
REQUIRED = {
    "conv1d": {"channels": 2, "kernel": 3},
    "dense": {"units": 5},
    "linear": {"units": 5},
    "residual": {"layers": [{"type": "relu"}]},
    "parallel": {"branches": [[{"type": "relu"}], []]},
}


def _build(layers, input_shape=(2, 12), n_classes=3) -> nn.Sequential:
    return build_model(
        ModelConfig(layers=layers), input_shape, n_classes, np.random.default_rng(0), "float64"
    )


def _build_error(layers, input_shape=(2, 12), n_classes=3) -> str:
    with pytest.raises(ConfigError) as info:
        _build(layers, input_shape, n_classes)
    return str(info.value)


def test_the_schema_union_is_the_table():
    layers_slot = child_slot(child_slot(child_slot(Slot(Config), "model"), "layers"), 0)
    assert list(union_tags(layers_slot)) == list(LAYER_SPECS) == list(ENGINE)
    block_items = child_slot(child_slot(Slot(LAYER_SPECS["residual"]), "layers"), 0)
    assert list(union_tags(block_items)) == list(LAYER_SPECS)  # blocks hold any kind, blocks too


@pytest.mark.parametrize("kind", list(LAYER_SPECS))
def test_every_kind_builds_its_engine_layer_from_its_declaration(kind):
    spec = {"type": kind, **REQUIRED.get(kind, {})}
    flat = kind in ("dense", "linear")
    layers = [{"type": "flatten"}, spec] if flat else [spec]
    layers += [] if flat or kind in ("flatten", "globalavgpool1d") else [{"type": "flatten"}]
    layers.append({"type": "dense", "units": 3})
    model = _build(layers)
    assert type(model[1 if flat else 0]) is ENGINE[kind]
    model.forward(np.zeros((2, 2, 12)))


def test_unknown_layer_type_lists_the_blocks_too(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {layers: [{type: residul, layers: [{type: relu}]}]}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "unknown layer type 'residul' (did you mean 'residual'?)" in str(info.value)
    assert "batchnorm1d, residual, parallel" in str(info.value)


# ------------------------------------------------------------------------ blocks in YAML
BLOCKS = """\
data: {dataset: digits}
model:
  layers:
    - {type: conv1d, channels: 8, kernel: 3, padding: same}
    - type: residual
      layers:
        - {type: conv1d, channels: 16, kernel: 3, stride: 2, padding: same}
        - {type: batchnorm1d}
        - {type: relu}
        - {type: conv1d, channels: 16, kernel: 3, padding: causal, dilation: 2}
      shortcut_batchnorm: true
      activation: relu
    - type: parallel
      branches:
        - [{type: conv1d, channels: 4, kernel: 1}]
        - - {type: maxpool1d, kernel: 3, stride: 1, padding: 1}
          - {type: conv1d, channels: 4, kernel: 1}
        - []
    - {type: globalavgpool1d}
    - {type: dense}
"""


def _write(tmp_path, text):
    path = tmp_path / "blocks.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_blocks_config_builds_the_tree(tmp_path):
    cfg = load_config(_write(tmp_path, BLOCKS))
    model = _build(cfg.model.layers, (1, 64), 10)
    residual, parallel = model[1], model[2]
    assert isinstance(residual, nn.Residual) and isinstance(parallel, nn.Parallel)
    assert [type(layer) for layer in residual.shortcut] == [nn.Conv1d, nn.BatchNorm1d]
    assert residual.shortcut[0].stride == 2 and "b" not in residual.shortcut[0].params
    assert residual.layers[3].padding == "causal"
    assert isinstance(residual.activation, nn.ReLU)
    assert model.output_shape((1, 64)) == (10,)  # the last dense's units: the classes
    assert model[2].output_shape((16, 32)) == (4 + 4 + 16, 32)
    assert "3.shortcut.1.running_var" not in model.buffers()
    assert "1.shortcut.1.running_var" in model.buffers()
    assert "2.branches.1.1.W" in model.parameters()


def test_identity_shortcut_when_shapes_match_and_projection_on_request():
    body = [{"type": "conv1d", "channels": 2, "kernel": 3, "padding": "same"}]
    tail = [{"type": "flatten"}, {"type": "dense"}]
    auto = _build([{"type": "residual", "layers": body}, *tail])
    assert auto[0].shortcut is None
    forced = _build([{"type": "residual", "layers": body, "shortcut": "projection"}, *tail])
    assert forced[0].shortcut[0].kernel_size == 1 and forced[0].shortcut[0].stride == 1
    assert "b" in forced[0].shortcut[0].params and len(forced[0].shortcut) == 1
    normed = _build([{"type": "residual", "layers": body, "shortcut_batchnorm": True}, *tail])
    assert [type(layer) for layer in normed[0].shortcut] == [nn.BatchNorm1d]
    assert "0.shortcut.0.running_var" in normed.buffers()


def test_shape_errors_name_the_path_inside_blocks():
    message = _build_error(
        [
            {"type": "conv1d", "channels": 4, "kernel": 3},
            {
                "type": "residual",
                "layers": [
                    {"type": "relu"},
                    {"type": "parallel", "branches": [[{"type": "dense", "units": 3}]]},
                ],
            },
        ]
    )
    assert message.startswith(
        "model.layers[1].layers[1].branches[0][0] (dense) on input (4, 10): dense expects "
        "(features,) input"
    ), message


def test_mismatched_branches_and_shortcuts_are_block_errors():
    branches = [[{"type": "conv1d", "channels": 2, "kernel": 3}], [{"type": "relu"}]]
    message = _build_error([{"type": "parallel", "branches": branches}])
    assert message.startswith("model.layers[0] (parallel) on input (2, 12): the branches give")
    assert "(2, 10), (2, 12)" in message
    valid = [{"type": "conv1d", "channels": 4, "kernel": 3}]
    message = _build_error([{"type": "relu"}, {"type": "residual", "layers": valid}])
    assert message.startswith(
        "model.layers[1] (residual) on input (2, 12): the layers give (4, 10)"
    )
    assert "projection shortcut (1x1 conv, stride 1) gives (4, 12)" in message
    same = [{"type": "conv1d", "channels": 4, "kernel": 3, "padding": "same"}]
    message = _build_error([{"type": "residual", "layers": same, "shortcut": "identity"}])
    assert "shortcut: identity needs the layers to keep the input shape" in message
    flat = [{"type": "flatten"}, {"type": "residual", "layers": [{"type": "dense", "units": 4}]}]
    assert "needs (channels, length) on both sides" in _build_error(flat)


def _config_error(tmp_path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    assert "\n" not in str(info.value)
    return str(info.value)


def test_unknown_keys_inside_blocks_get_paths_and_suggestions_all_at_once(tmp_path):
    text = BLOCKS.replace("channels: 16, kernel: 3, stride", "channels: 16, kernal: 3, stride")
    text = text.replace(
        "shortcut_batchnorm: true", "shortcut_batchnorm: true\n      activaton: relu"
    )
    text = text.replace(
        "[{type: conv1d, channels: 4, kernel: 1}]", "[{type: conv1d, channel: 4, kernel: 1}]"
    )
    message = _config_error(tmp_path, text)
    for fragment in (
        "5 errors",
        "model.layers[1].layers[0].kernal (line 7): unknown key for layer type 'conv1d' "
        "(did you mean 'kernel'?)",
        "model.layers[1].activaton (line 12): unknown key for layer type 'residual' (did you mean "
        "'activation'?), allowed keys: type, layers, shortcut, shortcut_batchnorm, activation",
        "model.layers[2].branches[0][0].channel (line 16): unknown key for layer type 'conv1d' "
        "(did you mean 'channels'?)",
    ):
        assert fragment in message, message
    message = _config_error(tmp_path, BLOCKS.replace("activation: relu", "activation: rleu"))
    assert "model.layers[1].activation (line 12): got 'rleu' (did you mean 'relu'?)" in message
    assert "expected one of: relu, leakyrelu, tanh, sigmoid, gelu or null" in message
    message = _config_error(tmp_path, BLOCKS.replace("padding: causal", "padding: causl"))
    assert "model.layers[1].layers[3].padding (line 10): got 'causl' (did you mean 'causal'?)" in (
        message
    )


def test_set_reaches_inside_blocks(tmp_path):
    path = _write(tmp_path, BLOCKS)
    cfg = load_config(
        path,
        ["model.layers[1].layers[0].channels=32", "model.layers[2].branches[2]=[{type: relu}]"],
    )
    assert cfg.model.layers[1].layers[0].channels == 32
    assert cfg.model.layers[2].branches[2][0].type == "relu"
    with pytest.raises(ConfigError) as info:
        load_config(path, ["model.layers[1].layers[0].kernal=5"])
    assert "model.layers[1].layers[0].kernal is not a config key for layer type 'conv1d'" in str(
        info.value
    )
    assert "did you mean 'kernel'" in str(info.value)


# ------------------------------------------------------------------- dense without units
def test_the_last_dense_takes_the_number_of_classes():
    model = _build(
        [{"type": "flatten"}, {"type": "dense", "units": 7}, {"type": "dense"}], n_classes=4
    )
    assert model[2].out_features == 4 and model.output_shape((2, 12)) == (4,)


@pytest.mark.parametrize(
    ("layers", "where"),
    [
        (
            [{"type": "flatten"}, {"type": "dense"}, {"type": "dense", "units": 3}],
            "model.layers[1]",
        ),
        (
            [{"type": "residual", "layers": [{"type": "flatten"}, {"type": "linear"}]}],
            "model.layers[0].layers[1]",
        ),
    ],
)
def test_any_other_dense_needs_units(tmp_path, layers, where):
    import yaml

    text = yaml.safe_dump({"data": {"dataset": "digits"}, "model": {"layers": layers}})
    message = _config_error(tmp_path, text)
    assert f"{where}.units" in message
    assert (
        "missing, expected an integer > 0 (only the network's last layer may leave units out"
        in (message)
    )


def test_blocks_survive_the_yaml_round_trip(tmp_path):
    from conv1d_cli.config import config_to_yaml

    cfg = load_config(_write(tmp_path, BLOCKS))
    again = tmp_path / "again.yaml"
    again.write_text(config_to_yaml(cfg))
    assert load_config(again) == cfg


def test_outsize_accepts_causal_padding():
    from typer.testing import CliRunner

    from conv1d_cli.cli.app import app

    result = CliRunner().invoke(
        app, ["outsize", "--n", "100", "--f", "3", "--d", "4", "--p", "causal"]
    )
    assert result.exit_code == 0 and result.stdout.strip() == "100"
    strided = ["outsize", "--n", "10", "--f", "3", "--s", "3", "--p", "causal", "--explain"]
    text = CliRunner().invoke(app, strided).stdout
    assert "'causal': padding D(F-1) = 1*(3-1) = 2 on the left only" in text
    assert text.strip().endswith("4")  # ceil(10 / 3)
