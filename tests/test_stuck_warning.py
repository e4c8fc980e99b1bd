"""The stuck-training warning: a dead network warns once (stderr and train.log), a healthy one
does not, and measuring never changes what training computes (exact resume still holds)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from signal_files import write_sines
from typer.testing import CliRunner

from conv1d_cli import diagnostics
from conv1d_cli.cli import app
from conv1d_cli.nn import Dense, ReLU, Sequential
from conv1d_cli.runs import load_checkpoint

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


def _train(config, *args):
    result = runner.invoke(app, ["train", str(config), *args])
    assert result.exit_code == 0, result.output
    return result


def test_a_dead_network_warns_once_with_its_causes(tmp_path):
    result = _train(_config(tmp_path, "scale", lr=0.1))
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
    result = _train(_config(tmp_path, "standardize"))
    assert WARNING not in result.stderr
    assert WARNING not in (tmp_path / "runs" / "standardize" / "train.log").read_text()
    summary = (tmp_path / "runs" / "standardize" / "summary.json").read_text()
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
    assert diagnostics.relu_activity(model, x) == [(1, 1, 2, 3)]
    assert model.training
