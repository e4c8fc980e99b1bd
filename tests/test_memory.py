"""The memory preflight: hand-computed estimates, shape pass == the engine's summary, refusals."""

from __future__ import annotations

import glob
import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from conv1d_cli.build import memory
from conv1d_cli.build.memory import available_memory, check_memory, estimate, preflight_config
from conv1d_cli.build.objects import build_model, build_optimizer
from conv1d_cli.build.shapes import config_rows
from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config_dict, resolve_config
from conv1d_cli.data import load_dataset
from conv1d_cli.errors import DataError, NotEnoughMemory
from conv1d_cli.training.setup import preflight_training

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [*sorted(glob.glob(str(ROOT / "configs" / "*.yaml"))), str(ROOT / "benchmarks/deep.yaml")]

HUGE = """
name: huge
data: {dataset: digits, limit: 400, val_split: 0.2, test_split: 0.25}
model:
  layers:
    - {type: conv1d, channels: 100000, kernel: 3}
    - {type: relu}
    - {type: flatten}
    - {type: dense, units: 100000}
    - {type: relu}
    - {type: dense, units: 10}
train: {epochs: 1, batch_size: 32}
output: {runs_dir: RUNS}
"""


def _small_model(dtype="float32"):
    cfg = resolve_config_text(
        """
        model:
          layers:
            - {type: conv1d, channels: 4, kernel: 3}
            - {type: relu}
            - {type: flatten}
            - {type: dense, units: 10}
        """
    )
    return cfg, build_model(cfg.model, (1, 64), 10, np.random.default_rng(0), dtype)


def resolve_config_text(text: str):
    return load_config_dict(yaml.safe_load(textwrap.dedent(text)), "test")


def test_estimate_by_hand():
    # conv 1->4, k3: 4*1*3 + 4 = 16 params, output (4, 62); relu (4, 62); flatten (248,);
    # dense 248->10: 2490 params, output (10,). 2506 params in all.
    _cfg, model = _small_model()
    rows = model.summary((1, 64))
    need = estimate(rows, (1, 64), batch_size=8, training=True, itemsize=4, optimizer_buffers=2)
    assert need.params == need.grads == 2506 * 4
    assert need.optimizer == 2 * 2506 * 4
    sizes = [64, 248, 248, 248, 10]  # the input and every layer's output, per sample
    assert need.activations == (sum(sizes) + max(sizes)) * 8 * 4
    assert need.total == 4 * 2506 * 4 + (sum(sizes) + 248) * 32
    assert need.biggest.index == 3  # the dense layer: 2490 params x (W, grad, m, v)
    evaluation = estimate(rows, (1, 64), batch_size=100, training=False, itemsize=4)
    assert (evaluation.grads, evaluation.optimizer) == (0, 0)
    assert evaluation.activations == (64 + 248 + 248) * 100 * 4  # input + two largest outputs


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: Path(p).name)
def test_shape_pass_matches_the_engine_and_shipped_configs_pass(path):
    cfg = resolve_config(Path(path))
    try:
        data = load_dataset(cfg.data, cfg.seed, purpose="eval")
    except DataError:  # not on this machine: its declared view, MNIST-sized splits
        if cfg.data.view is None:
            pytest.skip("its data is not on this machine and the config gives no data.view")
        n_classes = cfg.model.layers[-1].units
        data = SimpleNamespace(
            sample_shape=tuple(cfg.data.view),
            n_classes=n_classes,
            n_outputs=n_classes,
            y_train=np.zeros(54_000),
            y_val=np.zeros(6_000),
            y_test=np.zeros(10_000),
        )
    shape = tuple(data.sample_shape)
    model = build_model(cfg.model, shape, data.n_classes, np.random.default_rng(0), cfg.train.dtype)
    got = config_rows(cfg.model, shape, cfg.train.dtype, data.n_classes)
    want = model.summary(shape)
    assert [(r.index, r.path, r.depth, r.output_shape, r.n_params, r.macs) for r in got] == [
        (r.index, r.path, r.depth, r.output_shape, r.n_params, r.macs) for r in want
    ]
    preflight_training(cfg, data)  # never refuses today's configs
    buffers = len(build_optimizer(cfg.optimizer).buffer_names)
    built = check_memory(model, shape, cfg.train.batch_size, True, buffers)
    planned = preflight_config(
        cfg.model,
        shape,
        cfg.train.batch_size,
        True,
        cfg.train.dtype,
        buffers,
        n_classes=data.n_classes,
    )
    # the built model's weights and gradients are allocated already: not counted again
    assert built.total == planned.total - planned.params - planned.grads


def test_check_memory_refuses_past_what_is_available(monkeypatch):
    _cfg, model = _small_model()
    need = check_memory(model, (1, 64), 1000, training=False)
    monkeypatch.setattr(memory, "available_memory", lambda: (need.total - 1, "MemAvailable"))
    with pytest.raises(NotEnoughMemory) as info:
        check_memory(model, (1, 64), 1000, training=False)
    message = str(info.value)
    assert "not enough memory for evaluation" in message
    assert message.endswith("; lower train.eval_batch_size or make the network smaller")
    assert "model.layers[" in message and "\n" not in message


def test_available_memory_is_capped_by_the_cgroup(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n")
    limit, usage = tmp_path / "memory.max", tmp_path / "memory.current"
    limit.write_text("3000000000\n")
    usage.write_text("1000000000\n")
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    monkeypatch.setattr(memory, "CGROUP_FILES", ((limit, usage),))
    assert available_memory() == (2_000_000_000, "the cgroup memory limit")
    limit.write_text("max\n")
    assert available_memory() == (4_000_000 * 1024, "MemAvailable")


def test_huge_model_is_refused_before_allocating_with_the_numbers(tmp_path):
    runs = tmp_path / "runs"
    config = tmp_path / "huge.yaml"
    config.write_text(HUGE.replace("RUNS", str(runs)))
    result = runner.invoke(app, ["train", str(config), "-q"])
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    line = lines[0]
    assert line.startswith("error: not enough memory for training huge: needs about ")
    assert "TiB" in line and "is available (" in line
    # the dense layer of 100,000 channels x 62 positions -> 100,000 units holds the most
    assert "the biggest layer is model.layers[3] (dense, 100,000 units: 620,000,100,000" in line
    assert line.endswith("; make the network smaller")  # no batch size would help
    assert not runs.exists()  # no run directory left behind
    summary = runner.invoke(app, ["train", str(config), "--print-config"])
    assert summary.exit_code == 0  # only training (and eval) allocate


def test_eval_and_predict_preflight_refuse_a_batch_too_big(tiny_config, monkeypatch, tmp_path):
    run = tiny_config.parent / "runs" / "tiny"
    assert runner.invoke(app, ["train", str(tiny_config), "-q"]).exit_code == 0
    monkeypatch.setattr(memory, "available_memory", lambda: (10_000, "MemAvailable"))
    result = runner.invoke(app, ["eval", str(run)])
    assert result.exit_code == 2
    assert "not enough memory for evaluation: needs about" in result.stderr
    assert not (run / "eval.json").exists()
    samples = tmp_path / "x.npy"
    np.save(samples, np.zeros((3, 1, 64), dtype=np.float32))
    result = runner.invoke(app, ["predict", str(run), str(samples)])
    assert result.exit_code == 2
    assert "not enough memory for prediction: needs about" in result.stderr
    monkeypatch.undo()
    result = runner.invoke(app, ["eval", str(run), "--json"])
    assert result.exit_code == 0 and "accuracy" in json.loads(result.stdout)
    assert runner.invoke(app, ["predict", str(run), str(samples)]).exit_code == 0


BLOCK = """
name: hugeblock
data: {dataset: digits, limit: 400, val_split: 0.2, test_split: 0.25}
model:
  layers:
    - {type: conv1d, channels: 8, kernel: 3, padding: same}
    - type: residual
      layers:
        - {type: conv1d, channels: 8, kernel: 3, padding: same}
        - type: parallel
          branches:
            - [{type: conv1d, channels: 4, kernel: 1}]
            - [{type: conv1d, channels: 100000, kernel: 1},
               {type: conv1d, channels: 100000, kernel: 3, padding: same}]
    - {type: flatten}
    - {type: dense}
train: {epochs: 1, batch_size: 32}
output: {runs_dir: RUNS}
"""


def test_a_huge_layer_inside_blocks_is_refused_before_the_block_is_built(tmp_path):
    runs = tmp_path / "runs"
    config = tmp_path / "block.yaml"
    config.write_text(BLOCK.replace("RUNS", str(runs)))
    result = runner.invoke(app, ["train", str(config), "-q"])
    assert result.exit_code == 2, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and "not enough memory for training hugeblock" in line
    # conv 100,000 -> 100,000 channels, kernel 3: 3e10 weights (112 GiB) inside a parallel
    # block inside a residual block: the pass stops at the block it cannot build.
    assert "model.layers[1].layers[1].branches[1][1] (conv1d, 100,000 channels" in line
    assert "30,000,100,000 parameters" in line
    assert not runs.exists()


TEMPLATES = sorted(glob.glob(str(ROOT / "configs" / "templates" / "*.yaml")))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: Path(p).name)
def test_shape_pass_matches_the_engine_on_the_block_templates(path):
    """Residual and inception blocks: the same rows as the built network's summary."""
    cfg = resolve_config(Path(path))
    shape, n_classes = (3, 500), 5  # templates take their shape from the data; any will do
    model = build_model(cfg.model, shape, n_classes, np.random.default_rng(0), cfg.train.dtype)
    got = config_rows(cfg.model, shape, cfg.train.dtype, n_classes)
    want = model.summary(shape)
    assert [(r.path, r.depth, r.output_shape, r.n_params, r.macs) for r in got] == [
        (r.path, r.depth, r.output_shape, r.n_params, r.macs) for r in want
    ]


GIB = 1 << 30


def _summary_json(config: Path) -> dict:
    result = runner.invoke(app, ["summary", str(config), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_summary_of_a_network_too_big_to_build_shows_the_table_without_allocating(
    tmp_path, monkeypatch
):
    from conv1d_cli.build import summary

    config = tmp_path / "huge.yaml"
    config.write_text(HUGE.replace("RUNS", str(tmp_path / "runs")))
    monkeypatch.setattr(memory, "available_memory", lambda: (8 * GIB, "MemAvailable"))

    def no_build(*args, **kwargs):
        raise AssertionError("summary built the model")

    monkeypatch.setattr(summary, "build_model", no_build)
    payload = _summary_json(config)
    # by hand, digits (1, 64): conv 100,000 x 1 x 3 + bias -> (100,000, 62); flatten 6,200,000;
    # dense 6,200,000 x 100,000 + bias; dense 100,000 x 10 + bias
    rows = [(r["name"], r["output_shape"], r["params"], r["macs"]) for r in payload["layers"]]
    assert rows == [
        ("Conv1d", [100_000, 62], 400_000, 62 * 300_000),
        ("ReLU", [100_000, 62], 0, 0),
        ("Flatten", [6_200_000], 0, 0),
        ("Dense", [100_000], 620_000_100_000, 620_000_000_000),
        ("ReLU", [100_000], 0, 0),
        ("Dense", [10], 1_000_010, 1_000_000),
    ]
    assert payload["total_params"] == 620_001_500_010
    assert payload["total_macs"] == 620_019_600_000
    # weights and gradients: 2 x 620,001,500,010 x 4 bytes = 4.5 TiB
    assert payload["note"].startswith("shape-only summary, nothing allocated: building this")
    assert "would take 4.5 TiB (weights and gradients) but 8.0 GiB is available" in payload["note"]
    table = runner.invoke(app, ["summary", str(config)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "620,001,500,010" in table.stdout and "dense, 100,000 units" in table.stdout
    assert table.stdout.strip().splitlines()[-1] == payload["note"]


def test_shape_only_summary_is_the_built_models_summary(tiny_config, monkeypatch):
    built = _summary_json(tiny_config)
    assert built["note"] == ""  # fits: the engine's own rows
    monkeypatch.setattr(memory, "available_memory", lambda: (1000, "MemAvailable"))
    shape_only = _summary_json(tiny_config)
    assert shape_only["note"].startswith("shape-only summary")
    keys = ("path", "depth", "output_shape", "params", "macs")
    assert [[r[k] for k in keys] for r in shape_only["layers"]] == [
        [r[k] for k in keys] for r in built["layers"]
    ]
    assert shape_only["total_params"] == built["total_params"] > 0
    assert shape_only["total_macs"] == built["total_macs"] > 0


def test_summary_refuses_a_block_too_big_to_build_in_one_line(tmp_path, monkeypatch):
    config = tmp_path / "block.yaml"
    config.write_text(BLOCK.replace("RUNS", str(tmp_path / "runs")))
    monkeypatch.setattr(memory, "available_memory", lambda: (8 * GIB, "MemAvailable"))
    result = runner.invoke(app, ["summary", str(config)])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith("error: not enough memory for a summary of hugeblock: needs about")
    assert "30,000,100,000 parameters" in line and "8.0 GiB is available" in line
    assert line.endswith("; make the network smaller")
