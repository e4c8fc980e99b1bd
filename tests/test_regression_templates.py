"""The time-series templates train a regression file with nothing but ``--set data.path=FILE``,
as they do a labelled one: ``loss.type: auto`` settles to mse for a ``.ts`` file with
``@targetLabel true`` and to cross_entropy for one with classes; the last dense gets one output
per target."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config
from conv1d_cli.rundir.checkpoints import load_checkpoint
from conv1d_cli.training.setup import settle_task

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "configs" / "templates").glob("*.yaml"))
runner = CliRunner()


def _write_regression_ts(path: Path, n: int, seed: int) -> None:
    """n noisy sines of 2-6 cycles over 48 samples, 2 channels; the target is the frequency."""
    rng = np.random.default_rng(seed)
    cycles = rng.uniform(2, 6, n)
    t = np.arange(48) / 48
    x = np.sin(2 * np.pi * cycles[:, None, None] * t) + rng.normal(0, 0.2, (n, 2, 48))
    lines = [f"@problemName {path.stem}", "@timeStamps false", "@missing false"]
    lines += ["@univariate false", "@dimensions 2", "@equalLength true", "@seriesLength 48"]
    lines += ["@targetLabel true", "@data"]
    for series, target in zip(x, cycles, strict=True):
        dims = [",".join(f"{v:.5f}" for v in channel) for channel in series]
        lines.append(":".join([*dims, f"{target:.6f}"]))
    path.write_text("\n".join(lines) + "\n")


def _write_class_ts(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    kind = np.arange(n) % 2
    t = np.arange(48) / 48
    x = np.sin(2 * np.pi * (2 + 2 * kind)[:, None] * t) + rng.normal(0, 0.2, (n, 48))
    lines = [f"@problemName {path.stem}", "@timeStamps false", "@missing false"]
    lines += ["@univariate true", "@equalLength true", "@classLabel true a b", "@data"]
    lines += [",".join(f"{v:.5f}" for v in s) + ":" + "ab"[k] for s, k in zip(x, kind, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def _train(template: Path, path: Path, tmp_path: Path) -> dict:
    args = ["train", str(template), "--set", f"data.path={path}", "--quiet", "--json"]
    settings = ("train.epochs=2", f"output.runs_dir={tmp_path / 'runs'}", "output.plots=false")
    for setting in (*settings, "train.workers=1"):
        args += ["--set", setting]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_a_template_leaves_the_loss_and_monitor_to_the_task(template):
    raw = yaml.safe_load(template.read_text())
    assert raw["loss"]["type"] == "auto"
    cfg = load_config(template)
    regression = settle_task(cfg, "regression", has_validation=cfg.data.val_split > 0)
    classes = settle_task(cfg, "classification", has_validation=cfg.data.val_split > 0)
    assert (regression.loss.type, classes.loss.type) == ("mse", "cross_entropy")
    # No validation split: both monitor the training loss (the dl-4-tsc recipe).
    assert regression.output.monitor == classes.output.monitor == "train_loss"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_a_template_trains_a_regression_file_with_one_override(tmp_path, template):
    _write_regression_ts(tmp_path / "Freq_TRAIN.ts", 24, seed=0)
    _write_regression_ts(tmp_path / "Freq_TEST.ts", 8, seed=1)
    summary = _train(template, tmp_path / "Freq_TRAIN.ts", tmp_path)
    test = summary["test"]
    assert set(test) == {"loss", "rmse", "mae", "r2", "n"} and test["n"] == 8
    # Frequencies are 2-6 cycles: an RMSE in those units, finite, below the whole range.
    assert 0 < test["rmse"] < 4 and np.isfinite(test["r2"])
    assert summary["best"]["metric"] == "train_loss"
    run = Path(summary["run_dir"])
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["task"] == "regression" and saved["loss"]["type"] == "mse"
    with (run / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    # No validation split: 5-fold cross-validation chose how many of the 2 epochs to train
    # (0: the training mean).
    chosen = summary["epochs_cv"]["chosen_epochs"]
    assert summary["epochs_cv"]["folds"] == 5 and saved["train"]["epochs"] == chosen <= 2
    assert len(rows) == chosen and all(float(row["train_rmse"]) > 0 for row in rows)
    state = load_checkpoint(run / "checkpoints" / "best.safetensors").model_state
    last = len(load_config(template).model.layers) - 1
    assert state[f"{last}.W"].shape[-1] == 1  # one target, one output


def test_the_same_template_settles_to_cross_entropy_on_a_class_file(tmp_path):
    _write_class_ts(tmp_path / "Two_TRAIN.ts", 16, seed=0)
    _write_class_ts(tmp_path / "Two_TEST.ts", 6, seed=1)
    summary = _train(
        ROOT / "configs" / "templates" / "fcn.yaml", tmp_path / "Two_TRAIN.ts", tmp_path
    )
    assert set(summary["test"]) == {"loss", "accuracy", "balanced_accuracy", "macro_f1", "n"}
    saved = yaml.safe_load((Path(summary["run_dir"]) / "config.yaml").read_text())
    assert saved["task"] == "classification" and saved["loss"]["type"] == "cross_entropy"
