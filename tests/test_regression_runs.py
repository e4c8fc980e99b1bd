"""Regression runs through the training loop's extras: early stopping on val_rmse (minimized)
and val_r2 (maximized), the stuck warning's twin, curves.png, ``conv1d runs``, ``runs compare``
and ``conv1d summary``."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from freq_files import write_freq
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.nn import Dense, Flatten, Sequential
from conv1d_cli.rundir.compare import compare_figure
from conv1d_cli.rundir.listing import read_metrics, read_run
from conv1d_cli.training import diagnostics
from conv1d_cli.training.report import curves_figure, curves_title, pyplot

runner = CliRunner()
WARNING = "warning: training looks stuck"


def _config(
    tmp_path: Path, *, epochs: int = 4, lr: float = 0.01, normalize: str = "standardize", extra=""
) -> Path:
    data = tmp_path / "freq.npz"
    if not data.exists():
        write_freq(data)  # 300 samples: 216 train / 24 val / 60 test
    path = tmp_path / f"reg-{lr}-{normalize}-{epochs}.yaml"
    path.write_text(
        textwrap.dedent(f"""
        seed: 0
        data: {{path: {data}, normalize: {normalize}}}
        model:
          layers:
            - {{type: conv1d, channels: 8, kernel: 7, padding: same}}
            - {{type: relu}}
            - {{type: globalavgpool1d}}
            - {{type: dense}}
        optimizer: {{lr: {lr}}}
        train: {{epochs: {epochs}, batch_size: 16{extra}}}
        output: {{runs_dir: {tmp_path / "runs"}, plots: false}}
        """)
    )
    return path


def _train(config: Path, *args: str):
    result = runner.invoke(app, ["train", str(config), *args])
    assert result.exit_code == 0, result.output
    return result


def _metrics(run: Path) -> list[dict[str, float]]:
    with (run / "metrics.csv").open(newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    pyplot().close("all")


# --------------------------------------------------------------------------- early stopping
def _stopping_rule(values, higher: bool, patience: int) -> tuple[int, int]:
    """(epoch the run stops after, best epoch) by the loop's rule, min_delta 0."""
    best, best_epoch, bad = None, 0, 0
    for epoch, value in enumerate(values, start=1):
        if best is None or (value > best if higher else value < best):
            best, best_epoch, bad = value, epoch, 0
        else:
            bad += 1
        if bad >= patience:
            return epoch, best_epoch
    return len(values), best_epoch


@pytest.mark.parametrize(("monitor", "higher"), [("val_rmse", False), ("val_r2", True)])
def test_early_stopping_follows_the_regression_metrics_direction(tmp_path, monitor, higher):
    extra = ", early_stopping: {patience: 2}"
    config = _config(tmp_path, epochs=20, extra=extra)
    name = monitor.replace("_", "-")
    args = ["--quiet", "--name", name]
    if monitor != "val_rmse":
        args += ["--set", f"output.monitor={monitor}"]
    _train(config, *args)
    run = tmp_path / "runs" / name
    summary = json.loads((run / "summary.json").read_text())
    rows = _metrics(run)
    values = [row[monitor] for row in rows]
    stop, best_epoch = _stopping_rule(values, higher, patience=2)
    assert summary["status"] == "early_stopped", summary["status"]
    assert summary["epochs_completed"] == len(rows) == stop < 20
    assert summary["best"]["metric"] == monitor
    assert summary["best"]["epoch"] == best_epoch
    # the best is the extreme in the metric's own direction over the epochs run
    pick = max if higher else min
    assert summary["best"]["value"] == pytest.approx(pick(values), rel=1e-12)
    # the test result is that of the best epoch's weights, in the targets' units
    assert set(summary["test"]) == {"loss", "rmse", "mae", "r2", "n"}
    assert summary["test"]["r2"] > 0.9


def test_regression_runs_monitor_val_rmse_by_default(tmp_path):
    _train(_config(tmp_path, epochs=2), "--quiet", "--name", "default")
    summary = json.loads((tmp_path / "runs" / "default" / "summary.json").read_text())
    assert summary["best"]["metric"] == "val_rmse"
    assert "monitor: val_rmse" in (tmp_path / "runs" / "default" / "config.yaml").read_text()


# ----------------------------------------------------------------------- the stuck warning
def _warnings(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(WARNING)]


def test_a_tiny_learning_rate_warns_once_no_better_than_the_mean(tmp_path):
    result = _train(_config(tmp_path, lr=1e-6), "--name", "tiny")
    (line,) = _warnings(result)
    assert "no better than predicting the mean (R^2 <= 0.05)" in line, line
    assert "optimizer.lr 1e-06 is outside the usual 0.0001..0.01 for adam" in line, line
    log = (tmp_path / "runs" / "tiny" / "train.log").read_text().splitlines()
    assert log.count(line) == 1
    # measured after epoch 4: 216 training samples, batch 16: 14 steps an epoch, 50 steps
    assert log[log.index(line) - 1].startswith("epoch 4/4")
    r2 = _metrics(tmp_path / "runs" / "tiny")[3]["train_r2"]
    assert f"train_r2 {r2:.3f} after epoch 4" in line


def test_a_dead_network_names_dead_relus_one_sign_inputs_and_flat_outputs(tmp_path):
    result = _train(_config(tmp_path, lr=0.3, normalize="scale"), "--name", "dead")
    (line,) = _warnings(result)
    assert "8 of 8 ReLU units (100%) never fire on 216 training samples (layer 1: 8 of 8)" in line
    assert "the inputs are all >= 0 (data.normalize: scale" in line, line
    assert "optimizer.lr 0.3 is outside the usual" in line, line
    # every ReLU dead: the output is the dense layer's bias whatever the input
    assert "the outputs barely vary: over 216 training samples their std is 0.0%" in line, line


def test_a_regression_run_that_learns_does_not_warn(tmp_path):
    result = _train(_config(tmp_path), "--name", "learns")
    assert WARNING not in result.stderr
    assert WARNING not in (tmp_path / "runs" / "learns" / "train.log").read_text()
    assert _metrics(tmp_path / "runs" / "learns")[3]["train_r2"] > 0.3


def _linear(weights: np.ndarray) -> Sequential:
    """Flatten then Dense(L, 1) with these weights and bias 0."""
    dense = Dense(len(weights), 1, rng=np.random.default_rng(0))
    dense.params["W"][...] = np.asarray(weights, dtype=dense.params["W"].dtype)[:, None]
    dense.params["b"][...] = 0.0
    return Sequential([Flatten(), dense])


def _data(y: np.ndarray, x: np.ndarray) -> SimpleNamespace:
    return SimpleNamespace(
        x_train=x,
        y_train=y,
        target_names=("target",),
        normalization={"method": "standardize"},
    )


def _cfg(lr: float = 0.001) -> SimpleNamespace:
    return SimpleNamespace(
        train=SimpleNamespace(dtype="float64"), optimizer=SimpleNamespace(type="adam", lr=lr)
    )


def test_regression_warning_measures_outlying_targets_and_flat_outputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 1, 4))
    y = rng.normal(size=(200, 1))
    y[7] = 30.0  # standardized with it, about 13 stds out
    y = (y - y.mean()) / y.std()
    assert np.abs(y).max() > 10
    flat = _linear(np.zeros(4))
    line = diagnostics.regression_stuck_warning(flat, _data(y, x), _cfg(), 4, -0.01)
    assert line is not None and line.startswith(WARNING)
    assert f"one lies {np.abs(y).max():.1f} std from the mean" in line, line
    assert "the outputs barely vary: over 200 training samples their std is 0.0%" in line, line
    assert "ReLU" not in line and "optimizer.lr" not in line  # none there, a usual lr
    # outputs that vary with the input, targets without outliers: only the generic advice
    lively = _linear(np.ones(4))
    calm = rng.normal(size=(200, 1))
    calm = (calm - calm.mean()) / calm.std()
    line = diagnostics.regression_stuck_warning(lively, _data(calm, x), _cfg(), 4, 0.02)
    assert line is not None and "none of dead ReLUs" in line and "outliers" not in line
    # learning (R^2 above 0.05), or no R^2 at all (constant targets): no warning
    assert diagnostics.regression_stuck_warning(flat, _data(y, x), _cfg(), 4, 0.06) is None
    assert diagnostics.regression_stuck_warning(flat, _data(y, x), _cfg(), 4, float("nan")) is None


# ----------------------------------------------------------------------------- curves.png
def _rows(epochs: int, r2_first: float = 0.2) -> list[dict[str, float]]:
    return [
        {
            "epoch": float(e),
            "train_loss": 1.0 / e,
            "train_rmse": 2.0 / e,
            "train_mae": 1.5 / e,
            "train_r2": 1 - (1 - r2_first) / e,
            "val_loss": 1.1 / e,
            "val_rmse": 2.2 / e,
            "val_mae": 1.6 / e,
            "val_r2": 1 - (1 - r2_first) / e - 0.01,
        }
        for e in range(1, epochs + 1)
    ]


def test_regression_curves_show_loss_rmse_and_r2():
    fig = curves_figure(_rows(5), "t")
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "RMSE", "R²"]
    ax_rmse, ax_r2 = fig.axes[1], fig.axes[2]
    train, val = ax_rmse.get_lines()
    np.testing.assert_allclose(train.get_ydata(), [2.0 / e for e in range(1, 6)])
    np.testing.assert_allclose(val.get_ydata(), [2.2 / e for e in range(1, 6)])
    assert ax_r2.get_ylim()[1] == pytest.approx(1.05)


def test_an_r2_far_below_zero_is_cut_at_minus_one_and_says_so():
    fig = curves_figure(_rows(5, r2_first=-40.0), "t")
    ax_r2 = fig.axes[2]
    assert ax_r2.get_ylim() == pytest.approx((-1.0, 1.05))
    assert ax_r2.get_ylabel() == "R² (below -1 not shown)"


def test_regression_curves_title_has_test_rmse_and_r2():
    data_cfg = SimpleNamespace(path="/x/Covid3Month_TRAIN.ts", dataset="ts")
    data = SimpleNamespace(y_test=np.zeros((61, 1)))
    test = {"loss": 0.9, "rmse": 0.04362, "mae": 0.03, "r2": 0.0512, "n": 61}
    title = curves_title("covid", data_cfg, test, data)
    assert title == "covid · Covid3Month_TRAIN.ts · test RMSE 0.04362, R² 0.051 (n=61)"


def test_a_trained_regression_runs_curves_png_is_drawn(tmp_path):
    config = _config(tmp_path, epochs=2)
    _train(config, "--quiet", "--name", "pic", "--set", "output.plots=true")
    run = tmp_path / "runs" / "pic"
    assert (run / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert not (run / "confusion.png").exists()


# -------------------------------------------------------------------- conv1d runs / compare
def _fake_run(path: Path, task: str, test: dict | None, rows: list[dict[str, float]]) -> Path:
    """A finished run's files as the trainer writes them (summary, config with its task)."""
    path.mkdir(parents=True)
    with (path / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    monitor = "val_rmse" if task == "regression" else "val_acc"
    (path / "config.yaml").write_text(
        f"name: {path.name}\nseed: 0\ntask: {task}\ndata:\n  path: /d/{path.name}.npz\n"
        f"output:\n  monitor: {monitor}\n"
    )
    summary = {
        "status": "completed",
        "name": path.name,
        "epochs_completed": len(rows),
        "epochs": len(rows),
        "best": {"epoch": 2, "metric": monitor, "value": rows[1][monitor]},
        "test": test,
        "wall_seconds": 3.5,
        "started": f"2026-01-0{len(list(path.parent.iterdir()))}T00:00:00Z",
    }
    (path / "summary.json").write_text(json.dumps(summary))
    return path


def _class_rows(epochs: int) -> list[dict[str, float]]:
    return [
        {"epoch": e, "train_loss": 1 / e, "train_acc": 0.5, "val_loss": 1 / e, "val_acc": 0.6}
        for e in range(1, epochs + 1)
    ]


@pytest.fixture
def mixed(tmp_path) -> Path:
    runs = tmp_path / "runs"
    runs.mkdir()
    _fake_run(
        runs / "digits",
        "classification",
        {"loss": 0.3, "accuracy": 0.9467, "n": 60},
        _class_rows(3),
    )
    reg = {"loss": 0.01, "rmse": 0.0004362, "mae": 0.0003, "r2": 0.9871, "n": 61}
    _fake_run(runs / "covid", "regression", reg, _rows(3))
    _fake_run(runs / "covid-2", "regression", None, _rows(2))  # stopped before its test
    return runs


def test_runs_lists_regression_runs_with_rmse_and_r2_beside_accuracy(mixed):
    result = runner.invoke(app, ["runs", str(mixed)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = lines[1].split()
    assert header == [
        "run", "status", "data", "epochs", "monitor", "best", "test", "acc", "test", "rmse",
        "test", "r2", "wall", "started",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[3:]}
    assert rows["digits"][6:9] == ["0.9467", "-", "-"]
    # an RMSE keeps four significant digits whatever the unit (0.0004 would say little)
    assert rows["covid"][4:9] == ["val_rmse", "1.1", "-", "0.0004362", "0.9871"]
    assert rows["covid-2"][6:9] == ["-", "-", "-"]
    assert "nan" not in result.stdout.lower()
    payload = json.loads(runner.invoke(app, ["runs", str(mixed), "--json"]).stdout)
    by_name = {row["name"]: row for row in payload["runs"]}
    assert (
        by_name["covid"]["task"] == "regression" and by_name["digits"]["task"] == "classification"
    )
    assert by_name["covid"]["test_rmse"] == 0.0004362 and by_name["covid"]["test_r2"] == 0.9871
    assert by_name["covid"]["test_accuracy"] is None and by_name["digits"]["test_rmse"] is None


def test_runs_of_regression_alone_show_no_accuracy_column(mixed):
    import shutil

    shutil.rmtree(mixed / "digits")
    result = runner.invoke(app, ["runs", str(mixed)])
    assert result.exit_code == 0, result.output
    assert "test acc" not in result.stdout and "test rmse" in result.stdout


def test_a_runs_task_comes_from_its_results_when_its_config_is_older(tmp_path):
    run = _fake_run(tmp_path / "runs" / "old", "regression", {"rmse": 1.5, "r2": 0.2}, _rows(2))
    text = (run / "config.yaml").read_text().replace("task: regression\n", "")
    (run / "config.yaml").write_text(text)
    assert read_run("old", run).task == "regression"
    (run / "config.yaml").write_text("name: old\n")
    (run / "summary.json").write_text(json.dumps({"status": "completed", "test": {"accuracy": 1}}))
    assert read_run("old", run).task == "classification"


def test_runs_compare_shows_regression_metrics(mixed, tmp_path):
    out = tmp_path / "cmp.png"
    paths = [str(mixed / "covid"), str(mixed / "covid-2")]
    result = runner.invoke(app, ["runs", "compare", *paths, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    table = json.loads(result.stdout)["table"]
    assert table["test rmse"] == ["0.0004362", "-"]
    assert table["test r2"] == ["0.9871", "-"]
    assert table["last val_rmse"] == [f"{2.2 / 3:.4g}", f"{2.2 / 2:.4g}"]
    assert "test accuracy" not in table and "last val_acc" not in table
    assert out.read_bytes().startswith(b"\x89PNG")
    runs = [read_run(name, mixed / name) for name in ("covid", "covid-2")]
    fig = compare_figure(runs, [read_metrics(mixed / name) for name in ("covid", "covid-2")])
    assert [ax.get_ylabel() for ax in fig.axes[:2]] == ["loss", "RMSE"]
    cells = fig.axes[2].tables[0].get_celld()
    header = [cells[0, c].get_text().get_text() for c in range(7)]
    assert header == ["run", "status", "epochs", "best", "test rmse", "test r2", "data"]


def test_runs_compare_refuses_mixed_tasks_in_one_line(mixed, tmp_path):
    paths = [str(mixed / "digits"), str(mixed / "covid")]
    result = runner.invoke(app, ["runs", "compare", *paths, "--out", str(tmp_path / "c.png")])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: runs compare compares runs of one task, these mix them (classification: digits; "
        "regression: covid); compare each task's runs on their own"
    ]
    assert not (tmp_path / "c.png").exists()


# --------------------------------------------------------------------------- conv1d summary
def test_summary_of_a_regression_config_says_its_targets_and_k_outputs(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "two.npz", x=rng.normal(size=(40, 32)), y=rng.normal(size=(40, 2)))
    config = _config(tmp_path)
    config.write_text(
        config.read_text().replace(str(tmp_path / "freq.npz"), str(tmp_path / "two.npz"))
    )
    result = runner.invoke(app, ["summary", str(config)])
    assert result.exit_code == 0, result.output
    assert "2 targets (regression: " in result.stdout.splitlines()[0]
    payload = json.loads(runner.invoke(app, ["summary", str(config), "--json"]).stdout)
    assert payload["task"] == "regression" and payload["outputs"] == 2
    assert payload["layers"][-1]["name"] == "Dense" and payload["layers"][-1]["output_shape"] == [2]
    one = _config(tmp_path, lr=0.02)
    assert "1 target (regression)" in runner.invoke(app, ["summary", str(one)]).stdout
