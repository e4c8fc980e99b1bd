"""Regression networks through ``conv1d eval``, ``conv1d predict`` and ``load_model``: numbers in
the targets' units that agree across the three (<= 1e-5 relative), eval.json's keys, the
predicted-vs-true picture, predict's columns for one and two targets; classification keeps its
report."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from trained_runs import train_run
from typer.testing import CliRunner

from conv1d_cli import load_model
from conv1d_cli.cli.app import app
from conv1d_cli.errors import Conv1dError, DataError
from conv1d_cli.inference.evaluate import evaluate_checkpoint
from conv1d_cli.inference.predict import predict_file
from conv1d_cli.training import setup as commands

RTOL = 1e-5  # the bar: eval, predict and Python agree within 1e-5 relative
NET = [
    {"type": "conv1d", "channels": 6, "kernel": 5, "padding": "same"},
    {"type": "relu"},
    {"type": "globalavgpool1d"},
    {"type": "dense"},  # no units: one output per target
]
LENGTH = 32


def sines(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 1, L) noisy sines and their (frequency, amplitude) (n, 2), in very different units."""
    rng = np.random.default_rng(seed)
    frequency = rng.uniform(1.0, 5.0, n)
    amplitude = rng.uniform(100.0, 300.0, n)
    t = np.arange(LENGTH) / LENGTH
    x = amplitude[:, None] * np.sin(2 * np.pi * frequency[:, None] * t + rng.uniform(0, 6, (n, 1)))
    x += rng.normal(0, 5.0, x.shape)
    return x[:, None, :].astype(np.float32), np.stack([frequency, amplitude], axis=1)


def train_regression(folder: Path, k: int) -> tuple[Path, np.ndarray, np.ndarray]:
    """A short regression run with K targets; (run dir, raw test samples, test targets (N, K))."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y = sines(120, 0)
    x_test, y_test = sines(40, 1)
    y, y_test = (y[:, 0], y_test[:, 0]) if k == 1 else (y, y_test)
    data = folder / "sines.npz"
    np.savez(data, x=x, y=y, x_test=x_test, y_test=y_test)
    config = {
        "name": f"reg{k}",
        "seed": 0,
        "data": {"path": str(data), "val_split": 0.2},
        "model": {"layers": NET},
        "optimizer": {"type": "adam", "lr": 0.01},
        "train": {"epochs": 12, "batch_size": 16},
        "output": {"runs_dir": str(folder / "runs"), "plots": False},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = commands.run_training(commands.setup_training(path))
    return result.run_dir, x_test, y_test.reshape(len(y_test), -1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, tuple[Path, np.ndarray, np.ndarray]]:
    folder = tmp_path_factory.mktemp("regression")
    return {k: train_regression(folder / f"k{k}", k) for k in (1, 2)}


def scores(true: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """scikit-learn's per-output RMSE, MAE and R^2 of (N, K) arrays."""
    return {
        "rmse": root_mean_squared_error(true, predicted, multioutput="raw_values"),
        "mae": mean_absolute_error(true, predicted, multioutput="raw_values"),
        "r2": r2_score(true, predicted, multioutput="raw_values"),
    }


def predict_rows(run: Path, path: Path, **options) -> tuple[list[dict[str, str]], object]:
    handle = io.StringIO()
    summary = predict_file(run, path, handle, **options)
    return list(csv.DictReader(io.StringIO(handle.getvalue()))), summary


@pytest.mark.parametrize("k", [1, 2])
def test_eval_predict_and_python_agree(runs, tmp_path, k):
    run, x_test, y_test = runs[k]
    model = load_model(run)
    values = model.predict(x_test)
    assert values.dtype == np.float64
    assert values.shape == ((len(x_test),) if k == 1 else (len(x_test), k))
    values = values.reshape(len(x_test), k)
    expected = scores(y_test, values)
    # The network learned something (R^2 well above the mean predictor's 0): the numbers compared
    # are not a constant.
    assert np.all(expected["r2"] > 0.3)

    report = evaluate_checkpoint(run).report
    assert report["n"] == len(x_test)
    for metric, each in expected.items():
        np.testing.assert_allclose(report[metric], each.mean(), rtol=RTOL)
        per_output = [row[metric] for row in report["per_output"]]
        np.testing.assert_allclose(per_output, each, rtol=RTOL)

    data = tmp_path / "input.npz"
    np.savez(data, x=x_test, y=y_test if k > 1 else y_test[:, 0])
    rows, summary = predict_rows(run, data)
    names = model.target_names
    columns = ["prediction"] if k == 1 else list(names)
    predicted = np.array([[float(row[c]) for c in columns] for row in rows])
    np.testing.assert_allclose(predicted, values, rtol=RTOL)
    for metric, each in expected.items():
        np.testing.assert_allclose(summary.metrics[metric], each.mean(), rtol=RTOL)
        got = [summary.metrics["per_output"][name][metric] for name in names]
        np.testing.assert_allclose(got, each, rtol=RTOL)


def test_eval_json_keys_and_cli_lines(runs):
    run, x_test, _ = runs[2]
    result = CliRunner().invoke(app, ["eval", str(run)])
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "eval.json").read_text())
    assert list(saved) == [
        "task", "rmse", "mae", "r2", "loss", "n", "checkpoint", "epoch", "data", "test_split",
        "target_names", "per_output",
    ]  # fmt: skip
    assert saved["task"] == "regression"
    assert saved["target_names"] == ["target_0", "target_1"]
    assert [row["target"] for row in saved["per_output"]] == ["target_0", "target_1"]
    assert saved["n"] == len(x_test) and saved["loss"] > 0
    headline = (
        f"rmse {saved['rmse']:.4g}  mae {saved['mae']:.4g}  r2 {saved['r2']:.4f}  "
        f"loss {saved['loss']:.4f}  (n={saved['n']})"
    )
    assert headline in result.stdout
    assert "per output" in result.stdout and "per class" not in result.stdout
    assert "predictions.png" in result.stderr

    as_json = CliRunner().invoke(app, ["eval", str(run), "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == saved


def test_eval_draws_predicted_against_true(runs):
    run = runs[1][0]
    picture = run / "predictions.png"
    picture.unlink(missing_ok=True)
    evaluate_checkpoint(run)
    assert not (run / "confusion.png").exists()
    from matplotlib.image import imread

    image = imread(picture)
    height, width = image.shape[:2]
    assert height > 300 and width > 300
    # Not a blank canvas: points, lines and text cover a real share of it in several colours.
    pixels = image[..., :3].reshape(-1, 3)
    assert np.mean(np.any(pixels < 0.9, axis=1)) > 0.01
    assert len(np.unique(np.round(pixels, 2), axis=0)) > 50


def test_predict_csv_columns_one_target(runs, tmp_path):
    run, x_test, y_test = runs[1]
    np.save(tmp_path / "x.npy", x_test)
    rows, summary = predict_rows(run, tmp_path / "x.npy")
    assert list(rows[0]) == ["index", "prediction"] and len(rows) == len(x_test)
    assert summary.metrics is None
    np.savez(tmp_path / "xy.npz", x=x_test, y=y_test[:, 0])
    rows, summary = predict_rows(run, tmp_path / "xy.npz")
    assert list(rows[0]) == ["index", "prediction", "target"]
    np.testing.assert_allclose([float(r["target"]) for r in rows], y_test[:, 0], rtol=1e-6)
    rows, summary = predict_rows(run, tmp_path / "xy.npz", ignore_labels=True)
    assert list(rows[0]) == ["index", "prediction"] and summary.metrics is None


def test_predict_csv_and_json_columns_two_targets(runs, tmp_path):
    run, x_test, y_test = runs[2]
    np.savez(tmp_path / "xy.npz", x=x_test, y=y_test)
    rows, _ = predict_rows(run, tmp_path / "xy.npz")
    assert list(rows[0]) == ["index", "target_0", "true_target_0", "target_1", "true_target_1"]
    np.save(tmp_path / "x.npy", x_test)
    rows, _ = predict_rows(run, tmp_path / "x.npy")
    assert list(rows[0]) == ["index", "target_0", "target_1"]
    handle = io.StringIO()
    predict_file(run, tmp_path / "xy.npz", handle, json_lines=True)
    first = json.loads(handle.getvalue().splitlines()[0])
    assert list(first) == ["index", "prediction", "target"]
    assert list(first["prediction"]) == ["target_0", "target_1"]
    expected = load_model(run).predict(x_test[:1])[0]
    np.testing.assert_allclose(list(first["prediction"].values()), expected, rtol=1e-12)
    np.testing.assert_allclose(list(first["target"].values()), y_test[0], rtol=1e-12)


def test_predict_reads_regression_ts_and_csv(runs, tmp_path):
    run, x_test, y_test = runs[1]
    ts = tmp_path / "new.ts"
    lines = [f"{','.join(f'{v!r}' for v in s[0].tolist())}:{t!r}" for s, t in zip(
        x_test.astype(np.float64), y_test[:, 0].tolist(), strict=True)]  # fmt: skip
    header = "@problemName new\n@univariate true\n@equalLength true\n@targetLabel true\n@data\n"
    ts.write_text(header + "\n".join(lines) + "\n")
    rows, summary = predict_rows(run, ts)
    assert list(rows[0]) == ["index", "prediction", "target"]
    values = load_model(run).predict(x_test)
    np.testing.assert_allclose([float(r["prediction"]) for r in rows], values, rtol=RTOL)
    expected = scores(y_test, values[:, None])
    np.testing.assert_allclose(summary.metrics["rmse"], expected["rmse"][0], rtol=RTOL)

    table = tmp_path / "new.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", *(f"v{i}" for i in range(LENGTH))])
        for sample, target in zip(x_test, y_test[:, 0], strict=True):
            writer.writerow([repr(float(target)), *(repr(float(v)) for v in sample[0])])
    rows, summary = predict_rows(run, table)
    np.testing.assert_allclose([float(r["prediction"]) for r in rows], values, rtol=RTOL)
    np.testing.assert_allclose(summary.metrics["r2"], expected["r2"][0], rtol=RTOL)


def test_predict_refusals_are_one_line(runs, tmp_path):
    run, x_test, _ = runs[1]
    np.save(tmp_path / "x.npy", x_test)
    result = CliRunner().invoke(app, ["predict", str(run), str(tmp_path / "x.npy"), "--top", "1"])
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "\n" not in message and "--top 1: a classification option" in message
    np.savez(tmp_path / "words.npz", x=x_test, y=np.array(["a"] * len(x_test)))
    with pytest.raises(DataError, match="target of sample 0 is not a number"):
        predict_rows(run, tmp_path / "words.npz")
    np.savez(tmp_path / "two.npz", x=x_test, y=np.ones((len(x_test), 2)))
    with pytest.raises(DataError, match="2 target columns but the network predicts 1"):
        predict_rows(run, tmp_path / "two.npz")


def test_cli_predict_prints_metrics_on_stderr(runs, tmp_path):
    run, x_test, y_test = runs[2]
    np.savez(tmp_path / "xy.npz", x=x_test, y=y_test)
    result = CliRunner().invoke(app, ["predict", str(run), str(tmp_path / "xy.npz")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "index,target_0,true_target_0,target_1,true_target_1"
    assert len(result.stdout.splitlines()) == len(x_test) + 1
    lines = result.stderr.splitlines()
    assert lines[1].startswith("rmse ") and "(n=40, the input's targets)" in lines[1]
    assert lines[2].endswith("(n=40, target_0)") and lines[3].endswith("(n=40, target_1)")


def test_predict_proba_refused_for_regression(runs):
    run, x_test, _ = runs[1]
    model = load_model(run)
    with pytest.raises(Conv1dError, match="regression network: it predicts numbers"):
        model.predict_proba(x_test)
    assert model.n_outputs == 1 and model.output_names == ("target",)


def test_classification_eval_keeps_its_report(tmp_path):
    run, x_test, y_test = train_run(tmp_path, epochs=1)
    report = evaluate_checkpoint(run).report
    assert report["task"] == "classification"
    assert {"accuracy", "loss", "n", "class_names", "per_class", "confusion", "macro_f1"} <= set(
        report
    )
    assert report["accuracy"] == pytest.approx(np.mean(load_model(run).predict(x_test) == y_test))
    assert (run / "confusion.png").is_file() and not (run / "predictions.png").exists()
