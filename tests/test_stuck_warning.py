"""The stuck-training warning: a dead network warns once (stderr and train.log), a healthy one
does not, and measuring never changes what training computes (exact resume still holds)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from signal_files import write_sines
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.nn import Dense, Parallel, ReLU, Residual, Sequential
from conv1d_cli.rundir.checkpoints import load_checkpoint
from conv1d_cli.training import diagnostics

runner = CliRunner()
WARNING = "warning: training looks stuck"


def _config(tmp_path, normalize: str, epochs: int = 10, lr: float = 0.01, dropout: float = 0.0):
    data = write_sines(tmp_path / "sines.npz", n=300)
    path = tmp_path / f"{normalize}.yaml"
    path.write_text(
        textwrap.dedent(f"""
        data: {{path: {data}, normalize: {normalize}}}
        model:
          layers:
            - {{type: conv1d, channels: 8, kernel: 9, padding: same}}
            - {{type: relu}}
            - {{type: globalavgpool1d}}
            - {{type: dropout, rate: {dropout}}}
            - {{type: dense, units: 3}}
        optimizer: {{lr: {lr}}}
        train: {{epochs: {epochs}, batch_size: 32}}
        output: {{runs_dir: {tmp_path / "runs"}, plots: false}}
        """)
    )
    return path


def _residual_config(tmp_path, normalize: str, lr: float):
    """Every ReLU inside a residual block: one in its body, one as its activation."""
    data = write_sines(tmp_path / "sines.npz", n=300)
    path = tmp_path / f"residual-{normalize}.yaml"
    path.write_text(
        textwrap.dedent(f"""
        data: {{path: {data}, normalize: {normalize}}}
        model:
          layers:
            - type: residual
              activation: relu
              layers:
                - {{type: conv1d, channels: 8, kernel: 9, padding: same}}
                - {{type: relu}}
                - {{type: conv1d, channels: 8, kernel: 9, padding: same}}
            - {{type: globalavgpool1d}}
            - {{type: dense, units: 3}}
        optimizer: {{lr: {lr}}}
        train: {{epochs: 10, batch_size: 32}}
        output: {{runs_dir: {tmp_path / "runs"}, plots: false}}
        """)
    )
    return path


def _train(config, *args):
    result = runner.invoke(app, ["train", str(config), *args])
    assert result.exit_code == 0, result.output
    return result


def test_a_dead_network_warns_once_with_its_causes(tmp_path):
    result = _train(_config(tmp_path, "scale", lr=0.1), "--name", "scale")
    warnings = [line for line in result.stderr.splitlines() if line.startswith(WARNING)]
    assert len(warnings) == 1, result.stderr
    line = warnings[0]
    assert "never fire" in line and "the inputs are all >= 0" in line, line
    assert "optimizer.lr 0.1 is outside the usual" in line, line
    log = (tmp_path / "runs" / "scale" / "train.log").read_text().splitlines()
    assert log.count(line) == 1
    # after the epoch it measured: 216 training samples (of 300), 7 steps an epoch, 50 steps
    assert log[log.index(line) - 1].startswith("epoch 8/10")


def test_a_healthy_network_does_not_warn(tmp_path):
    result = _train(_config(tmp_path, "standardize"), "--name", "standardize")
    assert WARNING not in result.stderr
    assert WARNING not in (tmp_path / "runs" / "standardize" / "train.log").read_text()
    summary = (tmp_path / "runs" / "standardize" / "summary.json").read_text()
    assert '"accuracy": 0.9' in summary or '"accuracy": 1.0' in summary, summary


def test_dead_relus_inside_a_residual_block_are_counted_and_named(tmp_path):
    result = _train(_residual_config(tmp_path, "scale", lr=0.3))
    warnings = [line for line in result.stderr.splitlines() if line.startswith(WARNING)]
    assert len(warnings) == 1, result.stderr
    # no ReLU at the top level: the body's ReLU and the block's activation are the 16 units
    assert "16 of 16 ReLU units (100%) never fire" in warnings[0], warnings[0]
    assert "(layer 0.layers.1: 8 of 8; layer 0.activation: 8 of 8)" in warnings[0], warnings[0]


def test_a_healthy_residual_network_does_not_warn(tmp_path):
    config = _residual_config(tmp_path, "standardize", lr=0.01)
    result = _train(config, "--name", "residual-standardize")
    assert WARNING not in result.stderr
    summary = (tmp_path / "runs" / "residual-standardize" / "summary.json").read_text()
    assert '"accuracy": 0.9' in summary or '"accuracy": 1.0' in summary, summary


def test_measuring_does_not_change_training_and_resume_is_exact(tmp_path, monkeypatch):
    config = _config(tmp_path, "scale", epochs=10, dropout=0.2)  # dropout draws too
    _train(config, "--quiet", "--name", "straight")
    # the same run with the check never due, and one that stops after the check and resumes
    with monkeypatch.context() as patch:
        patch.setattr(diagnostics, "check_due", lambda *args: False)
        _train(config, "--quiet", "--name", "unchecked")
    runs = tmp_path / "runs"
    for name, first_epochs in (("early", 5), ("late", 9)):  # stopped before / after the check
        _train(config, "--quiet", "--name", name, "--set", f"train.epochs={first_epochs}")
        _train(config, "--quiet", "--resume", str(runs / name), "--set", "train.epochs=10")
    final = {
        name: load_checkpoint(runs / name / "checkpoints" / "last.safetensors")
        for name in ("straight", "unchecked", "early", "late")
    }
    for name in ("unchecked", "early", "late"):
        for key, value in final["straight"].model_state.items():
            np.testing.assert_array_equal(final[name].model_state[key], value, err_msg=name)
        assert final[name].meta["rng_state"] == final["straight"].meta["rng_state"]
    assert WARNING in (runs / "straight" / "train.log").read_text()
    assert WARNING not in (runs / "unchecked" / "train.log").read_text()
    for name in ("early", "late"):
        assert (runs / name / "train.log").read_text().count(WARNING) == 1


@pytest.mark.parametrize(("steps_per_epoch", "first_due"), [(100, 3), (9, 6), (7, 8), (1, 50)])
def test_the_check_is_due_once(steps_per_epoch, first_due):
    due = [
        e for e in range(1, 80) if diagnostics.check_due(e, e * steps_per_epoch, steps_per_epoch)
    ]
    assert due == [first_due]


def test_chance_is_the_largest_class():
    assert diagnostics.chance_level(np.array([0, 0, 0, 1, 2, 2]), 3) == 0.5
    assert diagnostics.chance_level(np.array([], dtype=np.int64), 4) == 0.25


def test_relu_activity_counts_by_hand():
    dense = Dense(2, 3, rng=np.random.default_rng(0))
    dense.params["W"][...] = [[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]
    dense.params["b"][...] = [0.0, 0.0, 1.0]
    model = Sequential([dense, ReLU()])
    x = np.array([[1.0, 0.0], [2.0, 1.0]])  # unit 0 fires (always), 1 never, 2 always
    assert diagnostics.relu_activity(model, x) == [("1", 1, 2, 3)]
    assert model.training


def _dense(weights, bias):
    layer = Dense(len(weights), len(weights[0]), rng=np.random.default_rng(0))
    layer.params["W"][...] = weights
    layer.params["b"][...] = bias
    return layer


def test_relu_activity_inside_blocks_counts_by_hand():
    x = np.array([[1.0, -1.0], [2.0, 1.0]])
    body = Sequential([_dense([[1.0, 0.0], [0.0, -1.0]], [0.0, -5.0]), ReLU()])
    # body ReLU: z = (x0, -x1 - 5) = (1, -4), (2, -6): unit 0 always fires, unit 1 never
    # block activation on body + x: (2, -1), (4, 1): unit 0 always, unit 1 fires once
    block = Residual(body, activation=ReLU())
    branches = Parallel([Sequential([ReLU()]), Sequential([_dense([[-1.0], [0.0]], [0.0])])])
    # branch 0's ReLU sees (2, 0), (4, 1): unit 0 always, unit 1 fires once
    model = Sequential([block, branches, ReLU()])
    # the last ReLU sees (2, 0, -2), (4, 1, -4): unit 2 (branch 1) never fires
    relus = diagnostics.named_relus(model.layers)
    assert [name for name, _ in relus] == ["0.layers.1", "0.activation", "1.branches.0.0", "2"]
    assert diagnostics.relu_activity(model, x) == [
        ("0.layers.1", 1, 1, 2),
        ("0.activation", 0, 1, 2),
        ("1.branches.0.0", 0, 1, 2),
        ("2", 1, 1, 3),
    ]
    # the recording forwards are gone again: the next training step runs the class's own
    assert all("forward" not in vars(relu) for _, relu in relus)
    assert model.training
