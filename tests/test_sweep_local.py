"""Sweeps on the local executor: what a sweep leaves, pruning, and Ctrl-C then resume."""

from __future__ import annotations

import json
import os
import signal
import threading

from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config
from conv1d_cli.training.setup import settle_task
from tests.sweep_helpers import (
    epochs_done,
    learned,
    load_yaml,
    metric_rows,
    read_trials,
    wait_for,
    write_sweep,
)

runner = CliRunner()


def test_four_trial_local_sweep_leaves_every_file(tmp_path):
    path = write_sweep(
        tmp_path,
        """
        name: four
        metric: {name: val_acc}
        parameters:
          optimizer.lr: {values: [0.03, 0.0001]}
          model.layers[0].channels: {values: [2, 4]}
          train.epochs: {value: 2}
        executor: {workers: 2}
        """,
    )
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 0, result.output
    sweep_dir = tmp_path / "runs" / "four"
    for name in ("sweep.yaml", "trials.csv", "best.yaml", "metric.png", "state.json"):
        assert (sweep_dir / name).is_file(), name
    assert load_yaml(sweep_dir / "sweep.yaml")["config"] == str(tmp_path / "base.yaml")
    trials = read_trials(sweep_dir)
    assert list(trials[0]) == [
        "trial", "optimizer.lr", "model.layers[0].channels", "status", "val_acc", "epochs",
        "seconds",
    ]  # fmt: skip
    assert [t["trial"] for t in trials] == [f"trial-00{i}" for i in range(4)]
    for row in trials:
        run = sweep_dir / row["trial"]
        assert row["status"] == "completed" and row["epochs"] == "2"
        # the metric is the best val_acc over the run's epochs, as metrics.csv has it
        best = max(float(r["val_acc"]) for r in metric_rows(run))
        assert abs(float(row["val_acc"]) - best) < 1e-6
        cfg = load_config(run / "config.yaml")
        assert cfg.optimizer.lr == float(row["optimizer.lr"])
        assert cfg.model.layers[0].channels == int(row["model.layers[0].channels"])
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "completed"
        assert abs(float(row["seconds"]) - summary["wall_seconds"]) < 0.01
    winner = max(trials, key=lambda r: float(r["val_acc"]))
    best_cfg = load_config(sweep_dir / "best.yaml")
    trial_cfg = load_config(sweep_dir / winner["trial"] / "config.yaml")
    assert best_cfg.name == "four-best"
    assert best_cfg.output.runs_dir == str(tmp_path / "runs")
    # best.yaml keeps the base config's `auto`s; the trial's config.yaml says what they became
    best_cfg = settle_task(best_cfg, "classification", True)
    assert best_cfg.model_dump(exclude={"name", "output"}) == trial_cfg.model_dump(
        exclude={"name", "output"}
    )
    assert f"best: {winner['trial']} completed" in result.stdout
    assert result.stderr.count("completed val_acc") == 4  # one progress line per trial
    # rerunning a finished sweep runs nothing and keeps every result (a changed run_cap is
    # allowed: it only extends or shortens the list of trials)
    path.write_text(path.read_text() + "run_cap: 3\n")
    again = runner.invoke(app, ["sweep", str(path)])
    assert again.exit_code == 0, again.output
    assert "4 finished before" in again.stderr
    assert read_trials(sweep_dir) == trials
    assert not list(sweep_dir.glob("trial-*-2"))
    path.write_text(path.read_text().replace("values: [2, 4]", "values: [2, 8]"))
    changed = runner.invoke(app, ["sweep", str(path)])
    assert changed.exit_code == 2
    assert "holds a sweep made from a different sweep file" in changed.stderr


def test_pruned_trials_stop_early(tmp_path):
    # Trial 0 learns; trial 1 (lr 1e-6) stays at chance, so successive halving stops it after
    # its first epoch while trial 0's 25 epochs all run.
    path = write_sweep(
        tmp_path,
        """
        name: prune
        parameters:
          optimizer.lr: {values: [0.01, 1.0e-6]}
          train.epochs: {value: 25}
          train.batch_size: {value: 2}
        early_terminate: {type: successive_halving, min_iter: 1, eta: 2}
        executor: {workers: 1}
        """,
    )
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 0, result.output
    trials = read_trials(tmp_path / "runs" / "prune")
    assert [t["status"] for t in trials] == ["completed", "pruned"]
    assert trials[0]["epochs"] == "25"
    pruned = trials[1]
    done = int(pruned["epochs"])
    assert 1 <= done < 25
    trial_dir = tmp_path / "runs" / "prune" / pruned["trial"]
    # it stopped cleanly (saved, exit 143, summary interrupted); the driver then wrote pruned
    summary = json.loads((trial_dir / "summary.json").read_text())
    assert summary["status"] == "pruned" and summary["epochs_completed"] == done
    assert not (trial_dir / "run.lock").exists()  # the driver's lock was released
    assert load_config(tmp_path / "runs" / "prune" / "best.yaml").optimizer.lr == 0.01
    listed = runner.invoke(app, ["runs", str(tmp_path / "runs"), "--json"])
    assert listed.exit_code == 0, listed.output
    status = {row["name"]: row["status"] for row in json.loads(listed.stdout)["runs"]}
    assert status == {"prune/trial-000": "completed", "prune/trial-001": "pruned"}
    # the sweep run again keeps the pruned trial as it is
    again = runner.invoke(app, ["sweep", str(path)])
    assert again.exit_code == 0 and "2 finished before" in again.stderr
    assert read_trials(tmp_path / "runs" / "prune") == trials
    assert json.loads((trial_dir / "summary.json").read_text())["status"] == "pruned"
    # (conv1d train --resume of a pruned run: tests/test_runs_command.py)


def test_ctrl_c_stops_trials_and_the_same_command_resumes(tmp_path):
    path = write_sweep(
        tmp_path,
        """
        name: resume
        parameters:
          optimizer.lr: {values: [0.01, 0.02]}
          train.epochs: {value: 40}
          train.batch_size: {value: 2}
        executor: {workers: 2}
        """,
    )
    sweep_dir = tmp_path / "runs" / "resume"

    def press_ctrl_c() -> None:  # as a terminal would: SIGINT to the driver (this process)
        wait_for(lambda: epochs_done(sweep_dir / "trial-000") >= 1, 120, "a first epoch")
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    try:
        result = runner.invoke(app, ["sweep", str(path)])
    finally:
        presser.join()
    assert result.exit_code == 130, result.output
    assert f"resume with: conv1d sweep {path}" in result.stderr
    state = json.loads((sweep_dir / "state.json").read_text())
    assert [t["status"] for t in state["trials"]] == ["interrupted", "interrupted"]
    # trial-001 may not have started its first epoch yet; trial-000 has a checkpoint
    assert 1 <= epochs_done(sweep_dir / "trial-000") < 40
    assert (sweep_dir / "trial-000" / "checkpoints" / "last.safetensors").is_file()

    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 0, result.output
    trials = read_trials(sweep_dir)
    assert [(t["status"], t["epochs"]) for t in trials] == [("completed", "40")] * 2
    assert not list(sweep_dir.glob("trial-*-2"))  # resumed in place, not started again
    log = (sweep_dir / "logs" / "trial-000.log").read_text()
    assert f"train --resume {sweep_dir / 'trial-000'}" in log
    # resuming is exact: the same numbers as one uninterrupted run of the trial's config
    reference = runner.invoke(
        app,
        ["train", str(sweep_dir / "configs" / "trial-000.yaml"), "-q", "--runs-dir", str(tmp_path)],
    )
    assert reference.exit_code == 0, reference.output
    assert learned(sweep_dir / "trial-000") == learned(tmp_path / "trial-000")
