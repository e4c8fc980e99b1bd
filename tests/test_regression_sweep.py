"""Sweeps over regression runs: minimizing val_rmse picks the trial with the smallest one, the
goal follows the metric's direction, and a metric of the other task is one line."""

from __future__ import annotations

import json

import pytest
from freq_files import write_freq
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config
from conv1d_cli.sweep.spec import MetricSpec, metric_tasks
from conv1d_cli.training.setup import settle_task
from tests.sweep_helpers import load_yaml, metric_rows, read_trials, write_sweep

runner = CliRunner()

# 300 noisy sines whose frequency is the target (216 train / 24 val / 60 test)
BASE = """
seed: 0
TASK
data: {path: DATA}
model:
  layers:
    - {type: conv1d, channels: 4, kernel: 7, padding: same}
    - {type: relu}
    - {type: globalavgpool1d}
    - {type: dense}
optimizer: {type: adam, lr: 0.01}
train: {epochs: 2, batch_size: 16}
output: {runs_dir: RUNS, plots: false}
"""


def _base(tmp_path, task: str = "auto") -> str:
    data = write_freq(tmp_path / "freq.npz")
    return BASE.replace("DATA", str(data)).replace("TASK", f"task: {task}")


def test_a_sweep_minimizing_val_rmse_picks_the_smallest(tmp_path):
    path = write_sweep(
        tmp_path,
        """
        name: rmse
        metric: {name: val_rmse, goal: minimize}
        parameters:
          optimizer.lr: {values: [0.03, 0.0001]}
          model.layers[0].channels: {values: [2, 8]}
        executor: {workers: 2}
        """,
        base=_base(tmp_path),
    )
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 0, result.output
    sweep_dir = tmp_path / "runs" / "rmse"
    trials = read_trials(sweep_dir)
    assert list(trials[0]) == [
        "trial", "optimizer.lr", "model.layers[0].channels", "status", "val_rmse", "epochs",
        "seconds",
    ]  # fmt: skip
    for row in trials:
        run = sweep_dir / row["trial"]
        assert row["status"] == "completed" and row["epochs"] == "2"
        # a trial's metric is its smallest val_rmse over the epochs, as metrics.csv has it
        rows = metric_rows(run)
        assert {"val_rmse", "val_mae", "val_r2", "train_r2"} <= set(rows[0])
        assert float(row["val_rmse"]) == pytest.approx(
            min(float(r["val_rmse"]) for r in rows), rel=1e-5
        )
    rmses = [float(row["val_rmse"]) for row in trials]
    assert len(set(rmses)) == 4  # the trials differ: picking one means something
    winner = min(trials, key=lambda row: float(row["val_rmse"]))
    assert f"best: {winner['trial']} completed val_rmse" in result.stdout
    best = load_config(sweep_dir / "best.yaml")
    assert best.name == "rmse-best"
    trial_cfg = load_config(sweep_dir / winner["trial"] / "config.yaml")
    assert trial_cfg.task == "regression" and trial_cfg.output.monitor == "val_rmse"
    best = settle_task(best, "regression", True)
    assert best.model_dump(exclude={"name", "output"}) == trial_cfg.model_dump(
        exclude={"name", "output"}
    )
    assert "# best trial of sweep rmse: " + winner["trial"] in (sweep_dir / "best.yaml").read_text()
    assert (sweep_dir / "metric.png").read_bytes().startswith(b"\x89PNG")


def test_a_sweep_on_test_r2_maximizes_it_by_default(tmp_path):
    path = write_sweep(
        tmp_path,
        """
        name: r2
        metric: {name: test_r2}
        parameters:
          optimizer.lr: {values: [0.03, 0.0001]}
        executor: {workers: 2}
        """,
        base=_base(tmp_path, "regression"),
    )
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 0, result.output
    sweep_dir = tmp_path / "runs" / "r2"
    trials = read_trials(sweep_dir)
    for row in trials:
        summary = json.loads((sweep_dir / row["trial"] / "summary.json").read_text())
        assert float(row["test_r2"]) == pytest.approx(summary["test"]["r2"], rel=1e-5)
    winner = max(trials, key=lambda row: float(row["test_r2"]))
    assert f"best: {winner['trial']} completed test_r2" in result.stdout
    assert "(maximize)" in runner.invoke(app, ["sweep", str(path), "--dry-run"]).stdout


@pytest.mark.parametrize(
    ("name", "maximize"),
    [
        ("val_rmse", False),
        ("val_mae", False),
        ("val_r2", True),
        ("train_r2", True),
        ("test_rmse", False),
        ("test_r2", True),
        ("val_acc", True),
        ("test_loss", False),
    ],
)
def test_the_goal_follows_the_metric_unless_given(name, maximize):
    assert MetricSpec(name=name).maximize is maximize
    assert MetricSpec(name=name, goal="minimize").maximize is False
    assert MetricSpec(name=name, goal="maximize").maximize is True


def test_metric_tasks():
    assert metric_tasks("val_rmse") == ("regression",)
    assert metric_tasks("test_acc") == ("classification",)
    assert metric_tasks("train_loss") == ("classification", "regression")


def test_a_classification_metric_on_a_regression_base_is_refused_before_anything_runs(tmp_path):
    path = write_sweep(
        tmp_path,
        """
        name: wrong
        metric: {name: val_acc}
        parameters:
          optimizer.lr: {values: [0.03, 0.0001]}
        """,
        base=_base(tmp_path, "regression"),
    )
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: metric.name val_acc is a classification metric but the trials are "
        "regression runs; use one of val_rmse, val_mae, val_r2, train_rmse, train_mae, train_r2, "
        "test_rmse, test_mae, test_r2 or a *_loss (task: regression in base.yaml)"
    ]
    assert not (tmp_path / "runs" / "wrong").exists()


def test_the_wrong_task_found_from_the_data_stops_the_sweep_in_one_line(tmp_path):
    # task: auto: the trials are regression runs only once a trial has read its data
    path = write_sweep(
        tmp_path,
        """
        name: auto
        metric: {name: val_acc}
        parameters:
          optimizer.lr: {values: [0.03, 0.0001]}
        executor: {workers: 1}
        """,
        base=_base(tmp_path),
    )
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {path}: metric.name val_acc is a classification metric but the trials are "
        "regression runs; use one of val_rmse, val_mae, val_r2, train_rmse, train_mae, train_r2, "
        "test_rmse, test_mae, test_r2 or a *_loss (task: auto, settled by trial-000's data); "
        f"after fixing it remove {tmp_path / 'runs' / 'auto'} or give the sweep another name"
    ]
    # stopped when trial-000's metrics.csv was first read (its 2 epochs may be done by then on
    # a busy machine): trial-001 never started
    state = load_yaml(tmp_path / "runs" / "auto" / "state.json")  # JSON is YAML
    assert state["trials"][0]["status"] in ("interrupted", "completed"), state
    assert state["trials"][1]["status"] == "pending"
    assert not (tmp_path / "runs" / "auto" / "trial-001").exists()
