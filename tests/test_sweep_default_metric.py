"""A sweep file without ``metric:`` sweeps the base config's task's headline metric: val_acc
for classification, val_rmse (minimized) for regression, ``task: auto`` settled once from the
base config's data; a named metric is kept as it was."""

from __future__ import annotations

import numpy as np
import pytest
from freq_files import make_freq, write_freq
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config
from conv1d_cli.sweep.plan import make_plan
from tests.sweep_helpers import BASE, load_yaml, metric_rows, read_trials, write_sweep

runner = CliRunner()

# noisy sines whose frequency is the target; one process per trial, two short epochs
REGRESSION_BASE = """
seed: 0
task: TASK
data: {path: DATA}
model:
  layers:
    - {type: conv1d, channels: 4, kernel: 7, padding: same}
    - {type: relu}
    - {type: globalavgpool1d}
    - {type: dense}
optimizer: {type: adam, lr: 0.01}
train: {epochs: 2, batch_size: 16, workers: 1}
output: {runs_dir: RUNS, plots: false}
"""

NO_METRIC = """
name: NAME
parameters:
  optimizer.lr: {values: [0.03, 0.0001]}
executor: {workers: 1}
"""


def _regression_base(data, task: str = "auto") -> str:
    return REGRESSION_BASE.replace("DATA", str(data)).replace("TASK", task)


def _ts_regression(path, n: int = 60) -> None:
    """A .ts file saying ``@targetLabel true`` whose targets are whole numbers: only the file's
    word makes it regression (whole targets alone would read as classes)."""
    x, cycles = make_freq(n, length=32)
    header = [
        "@problemName Sines",
        "@timeStamps false",
        "@univariate true",
        "@equalLength true",
        "@seriesLength 32",
        "@targetLabel true",
        "@data",
    ]
    rows = [
        ",".join(f"{v:.4f}" for v in row) + f":{round(c)}" for row, c in zip(x, cycles, strict=True)
    ]
    path.write_text("\n".join(header + rows) + "\n")


def _run(path):
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def _dry(path):
    result = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout.splitlines()[0]


def test_no_metric_on_auto_regression_data_minimizes_val_rmse(tmp_path):
    data = write_freq(tmp_path / "freq.npz", n=120)
    path = write_sweep(tmp_path, NO_METRIC.replace("NAME", "reg"), base=_regression_base(data))
    assert "metric val_rmse (minimize)" in _dry(path)
    result = _run(path)
    sweep_dir = tmp_path / "runs" / "reg"
    trials = read_trials(sweep_dir)
    assert list(trials[0]) == ["trial", "optimizer.lr", "status", "val_rmse", "epochs", "seconds"]
    for row in trials:
        assert row["status"] == "completed", row
        rows = metric_rows(sweep_dir / row["trial"])
        assert float(row["val_rmse"]) == pytest.approx(
            min(float(r["val_rmse"]) for r in rows), rel=1e-5
        )
    rmses = [float(row["val_rmse"]) for row in trials]
    assert rmses[0] != rmses[1]  # the trials differ: choosing one means something
    winner = trials[int(np.argmin(rmses))]
    assert f"best: {winner['trial']} completed val_rmse" in result.stdout
    header = (sweep_dir / "best.yaml").read_text().splitlines()[0]
    assert header.startswith(f"# best trial of sweep reg: {winner['trial']} completed val_rmse")
    assert load_config(sweep_dir / "best.yaml").optimizer.lr == float(winner["optimizer.lr"])
    assert load_yaml(sweep_dir / "sweep.yaml")["metric"] == {"name": "val_rmse", "goal": None}
    assert "metric val_rmse (minimize)" in _dry(path)  # the same sweep again: it resumes
    assert "2 finished before" in _run(path).stderr  # ... with the identity it was made with


def _classification_base(task: str) -> str:
    return f"task: {task}\n" + BASE.replace("batch_size: 32}", "batch_size: 32, workers: 1}")


@pytest.mark.parametrize(
    ("kind", "shown"),
    [
        ("ts-auto", "metric val_rmse (minimize)"),
        ("npz-regression", "metric val_rmse (minimize)"),
        ("digits-classification", "metric val_acc (maximize)"),
    ],
)
def test_no_metric_plans_the_task_s_headline_metric(tmp_path, kind, shown):
    if kind == "ts-auto":
        _ts_regression(tmp_path / "Sines_TRAIN.ts")
        base = _regression_base(tmp_path / "Sines_TRAIN.ts")
    elif kind == "npz-regression":
        base = _regression_base(write_freq(tmp_path / "freq.npz", n=60), "regression")
    else:
        base = _classification_base("classification")
    path = write_sweep(tmp_path, NO_METRIC.replace("NAME", "plan"), base=base)
    assert shown in _dry(path)
    metric = make_plan(path).sweep.spec.metric
    assert f"metric {metric.name} ({'maximize' if metric.maximize else 'minimize'})" == shown


def test_a_swept_data_path_settles_the_task_from_the_first_trial_s_data(tmp_path):
    # the base config's file is a placeholder: the trials train on the swept one
    write_freq(tmp_path / "freq.npz", n=60)
    body = NO_METRIC.replace("NAME", "swept").replace(
        "optimizer.lr: {values: [0.03, 0.0001]}", f"data.path: {{value: {tmp_path / 'freq.npz'}}}"
    )
    path = write_sweep(tmp_path, body, base=_regression_base(tmp_path / "placeholder.npz"))
    assert "metric val_rmse (minimize)" in _dry(path)


def test_no_metric_on_auto_classification_data_still_maximizes_val_acc(tmp_path):
    path = write_sweep(
        tmp_path, NO_METRIC.replace("NAME", "cls"), base=_classification_base("auto")
    )
    assert "metric val_acc (maximize)" in _dry(path)
    result = _run(path)
    trials = read_trials(tmp_path / "runs" / "cls")
    assert list(trials[0]) == ["trial", "optimizer.lr", "status", "val_acc", "epochs", "seconds"]
    accs = [float(row["val_acc"]) for row in trials]
    winner = trials[0] if accs[0] >= accs[1] else trials[1]  # a tie keeps the first
    assert f"best: {winner['trial']} completed val_acc" in result.stdout


def test_a_named_metric_is_kept_and_reads_no_data(tmp_path, monkeypatch):
    # the data file does not exist: a sweep naming its metric never reads it to plan
    base = _regression_base(tmp_path / "missing.npz")
    named = "metric: {name: val_loss}\n" + NO_METRIC.replace("NAME", "named")
    path = write_sweep(tmp_path, named, base=base)
    plan = make_plan(path)
    assert plan.sweep.spec.metric.name == "val_loss"
    assert "metric val_loss (minimize)" in _dry(path)
    # and a named metric of the other task is still the wrong-task line (task given: at once)
    path = write_sweep(
        tmp_path,
        "metric: {name: val_acc}\n" + NO_METRIC,
        base=_regression_base("x.npz", "regression"),
    )
    result = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: metric.name val_acc is a classification metric but the trials are "
        "regression runs; use one of val_rmse, val_mae, val_r2, train_rmse, train_mae, train_r2, "
        "test_rmse, test_mae, test_r2 or a *_loss (task: regression in base.yaml)"
    ]


def test_a_data_problem_settling_the_task_is_train_s_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz file")
    path = write_sweep(tmp_path, NO_METRIC.replace("NAME", "bad"), base=_regression_base(bad))
    result = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0], lines
    train = runner.invoke(app, ["train", str(tmp_path / "base.yaml")])
    assert train.exit_code == 2
    assert [line for line in train.stderr.splitlines() if line.startswith("error:")] == lines
    assert not (tmp_path / "runs").exists()
