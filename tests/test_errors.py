"""Bad input through the CLI: one line, exit code 2, no traceback, no run directory."""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors.numpy
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.rundir.checkpoints import load_checkpoint, save_checkpoint
from conv1d_cli.training import setup as commands

runner = CliRunner()


def _assert_one_line_error(result, *fragments: str, code: int = 2) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


CONFIG_CASES = [
    # (override, fragments in the message)
    ("model.layers[0].chanels=3", ["model.layers[0].chanels", "did you mean 'channels'"]),
    ("optimizer.lr=[1", ["--set optimizer.lr=[1", "YAML syntax error"]),
    ("train.epochs=-1", ["train.epochs", ">= 0"]),
    ("train.batch_size=-4", ["train.batch_size"]),
    ("optimizer.lr=0", ["optimizer.lr"]),
    ("model.layers[0].kernel=0", ["model.layers[0].kernel"]),
    ("model.layers[0].stride=0", ["model.layers[0].stride"]),
    ("model.layers[0].channels=0", ["model.layers[0].channels"]),
    ("model.layers[4].units=0", ["model.layers[4].units"]),
    ("model.layers[2].rate=1.0", ["model.layers[2].rate"]),
    ("model.layers[0].type=conv2d", ["model.layers[0]", "conv2d"]),
    ("optimizer.type=adamax", ["optimizer", "adamax"]),
    ("schedule.type=linear", ["schedule", "linear"]),
    ("data.dataset=cifar", ["data.dataset", "cifar"]),
    ("model.layers[0].padding=full", ["model.layers[0].padding"]),
    ("model.layers[0].padding_mode=mirror", ["model.layers[0].padding_mode"]),
    (
        "model.layers[0]={type: conv1d, channels: 4, kernel: 100}",
        ["model.layers[0] (conv1d)", "kernel 100", "empty"],
    ),
    ("model.layers[3]={type: dense, units: 10}", ["model.layers[3] (dense)", "flatten"]),
    ("model.layers[4].units=7", ["model.layers[4]", "10 classes"]),
    ("trian.epochs=3", ["trian", "did you mean 'train'"]),
    ("output.monitor=val_f1", ["output.monitor"]),
]


@pytest.mark.parametrize(("override", "fragments"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_exits_2_in_one_line_and_creates_no_run(tiny_config, override, fragments):
    result = runner.invoke(app, ["train", str(tiny_config), "--quiet", "--set", override])
    _assert_one_line_error(result, *fragments)
    assert not (tiny_config.parent / "runs").exists()


def test_reflect_padding_not_smaller_than_the_input(tiny_config):
    result = runner.invoke(
        app,
        [
            "train",
            str(tiny_config),
            "--set",
            "model.layers[0].padding=64",
            "--set",
            "model.layers[0].padding_mode=reflect",
        ],
    )
    _assert_one_line_error(result, "model.layers[0]", "reflect")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("- a\n- b\n", "mapping"),
        ("model: {layers: [\n", "line"),
    ],
    ids=["empty", "not-a-mapping", "syntax"],
)
def test_bad_yaml_files(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["train", str(path)])
    _assert_one_line_error(result, "bad.yaml", fragment)


def test_missing_config_file_and_checkpoint(tmp_path):
    _assert_one_line_error(runner.invoke(app, ["train", str(tmp_path / "no.yaml")]), "no.yaml")
    _assert_one_line_error(runner.invoke(app, ["eval", str(tmp_path / "no-run")]), "no-run")


def test_unwritable_runs_folder_is_reported_before_training(tiny_config, tmp_path):
    blocker = tmp_path / "runs-file"
    blocker.write_text("a file where the runs folder should be")
    result = runner.invoke(app, ["train", str(tiny_config), "--runs-dir", str(blocker)])
    _assert_one_line_error(result, str(blocker))
    assert "epoch 1" not in result.stderr


@pytest.fixture
def checkpoint(tiny_config):
    result = runner.invoke(app, ["train", str(tiny_config), "--quiet"])
    assert result.exit_code == 0, result.stderr
    return tiny_config.parent / "runs" / "tiny" / "checkpoints" / "best.safetensors"


def test_truncated_checkpoint(checkpoint):
    checkpoint.write_bytes(checkpoint.read_bytes()[:-100])
    _assert_one_line_error(runner.invoke(app, ["eval", str(checkpoint)]), str(checkpoint))


def test_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(safetensors.numpy.save({"w": np.zeros(3, np.float32)}))
    result = runner.invoke(app, ["eval", str(path)])
    _assert_one_line_error(result, "not a conv1d checkpoint")
    path.write_bytes(b"PK\x03\x04 a zip, or a pickle, or anything else")
    _assert_one_line_error(runner.invoke(app, ["eval", str(path)]), str(path))


def _rewrite_header(path, edit) -> None:
    """Edit a safetensors file's JSON header in place, keeping its length prefix consistent."""
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    edit(header)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # safetensors aligns the tensor data to 8 bytes
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + data[8 + size :])


def test_newer_checkpoint_format(checkpoint):
    _rewrite_header(checkpoint, lambda header: header["__metadata__"].update(format_version="99"))
    _assert_one_line_error(runner.invoke(app, ["eval", str(checkpoint)]), "format 99", "upgrade")


def test_checkpoint_whose_tensors_do_not_fit_the_config(checkpoint):
    loaded = load_checkpoint(checkpoint)
    loaded.model_state["0.W"] = np.zeros((4, 1, 5), np.float32)  # kernel 5, the config says 3
    save_checkpoint(checkpoint, loaded)
    _assert_one_line_error(runner.invoke(app, ["eval", str(checkpoint)]), "0.W")


def test_unexpected_errors_exit_1_and_debug_shows_the_traceback(tiny_config, monkeypatch):
    secret = np.arange(5)

    def explode(*args, **kwargs):
        local_array = secret  # noqa: F841 - a local a pretty traceback would dump
        raise RuntimeError("boom")

    monkeypatch.setattr(commands, "setup_training", explode)
    result = runner.invoke(app, ["train", str(tiny_config)])
    _assert_one_line_error(result, "RuntimeError", "boom", "--debug", code=1)
    debug = runner.invoke(app, ["--debug", "train", str(tiny_config)])
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr and "explode" in debug.stderr
    assert "local_array" not in debug.stderr  # Typer's pretty exceptions would print locals


def test_json_mode_errors_go_to_stderr(tiny_config):
    result = runner.invoke(app, ["train", str(tiny_config), "--json", "--set", "train.epochs=-1"])
    assert result.exit_code == 2
    assert result.stdout == ""
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)
