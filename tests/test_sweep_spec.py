"""The sweep file: grid and random expansion, and its errors (every one at once, exit 2)."""

from __future__ import annotations

import builtins
import math

import pytest
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config
from conv1d_cli.sweep.plan import make_plan
from conv1d_cli.sweep.search import grid_params, random_params
from conv1d_cli.sweep.spec import load_sweep
from tests.sweep_helpers import BASE, write_sweep

runner = CliRunner()


def _sweep(tmp_path, body: str):
    return write_sweep(tmp_path, body)


def test_grid_is_every_combination_first_key_slowest(tmp_path):
    path = _sweep(
        tmp_path,
        """
        parameters:
          optimizer.lr: {values: [0.1, 0.01]}
          model.layers[0].kernel: {values: [3, 5, 7]}
          train.epochs: {value: 1}
        """,
    )
    spec = load_sweep(path).spec
    trials = grid_params(spec)
    expected = [
        {"optimizer.lr": lr, "model.layers[0].kernel": k, "train.epochs": 1}
        for lr in (0.1, 0.01)
        for k in (3, 5, 7)
    ]
    assert trials == expected
    plan = make_plan(path)
    assert plan.trials == expected
    assert plan.trial_config(trials[5], "t").model.layers[0].kernel == 7


def test_grid_with_run_cap_and_a_distribution_drawn_per_point(tmp_path):
    path = _sweep(
        tmp_path,
        """
        parameters:
          optimizer.lr: {values: [0.1, 0.01, 0.001]}
          optimizer.weight_decay: {distribution: log_uniform, min: 1.0e-5, max: 1.0e-2}
        run_cap: 2
        """,
    )
    trials = grid_params(load_sweep(path).spec)
    assert [t["optimizer.lr"] for t in trials] == [0.1, 0.01]
    decays = [t["optimizer.weight_decay"] for t in trials]
    assert all(1e-5 <= d <= 1e-2 for d in decays) and decays[0] != decays[1]


def test_random_draws_are_in_range_and_reproducible(tmp_path):
    path = _sweep(
        tmp_path,
        """
        method: random
        run_cap: 200
        seed: 7
        parameters:
          optimizer.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
          train.batch_size: {distribution: int_uniform, min: 8, max: 12}
          optimizer.weight_decay: {distribution: uniform, min: 0, max: 0.5}
          model.layers[0].channels: {values: [2, 4]}
        """,
    )
    spec = load_sweep(path).spec
    draws = [random_params(spec, i) for i in range(200)]
    assert draws == [random_params(spec, i) for i in range(200)]  # resume redraws the same
    lrs = [d["optimizer.lr"] for d in draws]
    assert all(1e-4 <= v <= 1e-1 for v in lrs)
    # log-uniform: about a third of the draws in each decade
    low = sum(v < 1e-3 for v in lrs) / len(lrs)
    assert 0.2 < low < 0.47
    assert {d["train.batch_size"] for d in draws} == {8, 9, 10, 11, 12}
    assert all(0 <= d["optimizer.weight_decay"] <= 0.5 for d in draws)
    assert {d["model.layers[0].channels"] for d in draws} == {2, 4}
    assert not math.isclose(lrs[0], lrs[1])


BAD = [
    (
        "method: grdi\nparameters: {optimizer.lr: {value: 0.1}}",
        "method (line 2): got 'grdi' (did you mean 'grid'?)",
    ),
    (
        "parameters: {optimizer.lrr: {values: [0.1]}}",
        "parameters.optimizer.lrr (line 2): not a config key for optimizer 'adam' "
        "(did you mean 'lr'?)",
    ),
    (
        "parameters:\n  model.layers[0].kernal: {values: [3]}",
        "parameters.model.layers[0].kernal (line 3): not a config key for layer type "
        "'conv1d' (did you mean 'kernel'?)",
    ),
    ("parameters:\n  model.layers[9].kernel: {values: [3]}", "model.layers is a list of 4 items"),
    (
        "parameters:\n  optimizer.lr: {values: [0.1], value: 0.2}",
        "parameters.optimizer.lr (line 3): give exactly one of: value, values, "
        "distribution; got value and values",
    ),
    (
        "parameters:\n  optimizer.lr: {distribution: log_uniform, min: 0, max: 1}",
        "parameters.optimizer.lr.min (line 3): log_uniform needs min > 0",
    ),
    (
        "parameters:\n  optimizer.lr: {distribution: uniform, min: 2, max: 1}",
        "must be greater than min",
    ),
    (
        "parameters:\n  optimizer.lr: {distribution: normal, min: 0, max: 1}",
        "parameters.optimizer.lr.distribution (line 3): got 'normal'",
    ),
    (
        "method: random\nparameters: {optimizer.lr: {value: 0.1}}",
        "run_cap: missing, random search needs run_cap",
    ),
    (
        "metric: {name: val_accuracy}\nparameters: {optimizer.lr: {value: 0.1}}",
        "metric.name (line 2): got 'val_accuracy' (did you mean 'val_acc'?)",
    ),
    (
        "seeds: 1\nparameters: {optimizer.lr: {value: 0.1}}",
        "seeds (line 2): unknown key (did you mean 'seed'?)",
    ),
    (
        "executor: {type: dask}\nparameters: {optimizer.lr: {value: 0.1}}",
        "executor.address (line 2): missing",
    ),
    (
        "executor: {type: k8s}\nparameters: {optimizer.lr: {value: 0.1}}",
        "executor.type (line 2): unknown executor type 'k8s'",
    ),
    (
        "run_cap: yes\nparameters: {optimizer.lr: {value: 0.1}}",
        "run_cap (line 2): YAML read yes as the boolean true",
    ),
    (
        "metric: {name: test_acc}\nearly_terminate: {type: hyperband}\n"
        "parameters: {optimizer.lr: {value: 0.1}}",
        "early_terminate (line 3): needs a per-epoch metric",
    ),
    (
        "parameters: {train.epochs: {values: [1, -1]}}",
        "1 trial configs are invalid: trial-001 (train.epochs=-1): train.epochs",
    ),
    ("parameters: {}", "parameters (line 2): got a mapping"),
    (
        "parameters: {data.val_split: {values: [0.2, 0]}, output.monitor: {value: train_acc}}",
        "trial-001 (data.val_split=0): metric.name val_acc needs a validation split",
    ),
]


@pytest.mark.parametrize(("body", "expected"), BAD)
def test_sweep_file_errors_are_one_line_exit_2(tmp_path, body, expected):
    path = _sweep(tmp_path, body + "\n")
    result = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}:"), result.stderr
    assert expected in lines[0]
    assert not (tmp_path / "runs").exists()  # nothing ran, nothing was made


def test_every_error_at_once(tmp_path):
    path = _sweep(
        tmp_path,
        """
        method: grdi
        seeds: 0
        parameters:
          optimizer.lrr: {values: [0.1]}
          optimizer.lr: {distribution: log_uniform, min: 0, max: 1}
        """,
    )
    result = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "4 errors" in message
    for key in ("method (line 3)", "seeds (line 4)", "optimizer.lrr (line 6)", "lr.min (line 7)"):
        assert key in message


def test_missing_base_config_names_the_key(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("config: nowhere.yaml\nparameters: {optimizer.lr: {value: 0.1}}\n")
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 2
    assert "config (line 1): no such file" in result.stderr


def test_dry_run_prints_every_trial_and_runs_nothing(tmp_path):
    path = _sweep(
        tmp_path,
        """
        name: dry
        parameters:
          optimizer.lr: {values: [0.1, 0.01]}
          train.batch_size: {values: [8, 16]}
        """,
    )
    result = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "4 trials, every config valid" in lines
    assert "trial-000 optimizer.lr=0.1 train.batch_size=8" in lines
    assert "trial-003 optimizer.lr=0.01 train.batch_size=16" in lines
    assert not (tmp_path / "runs").exists()


def test_bayes_without_optuna_says_how_to_install(tmp_path, monkeypatch):
    path = _sweep(
        tmp_path,
        """
        method: bayes
        run_cap: 3
        parameters: {optimizer.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}}
        """,
    )
    real_import = builtins.__import__

    def no_optuna(name, *args, **kwargs):
        if name == "optuna" or name.startswith("optuna."):
            raise ImportError("No module named 'optuna'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_optuna)
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: method: bayes and early_terminate need Optuna, which is not installed: "
        'pip install "conv1d-cli[sweep]"'
    ]


def test_bayes_checks_the_corners_of_its_space(tmp_path):
    path = _sweep(
        tmp_path,
        """
        method: bayes
        run_cap: 3
        parameters:
          optimizer.lr: {distribution: log_uniform, min: 1.0e-4, max: 1.0e-1}
          train.epochs: {distribution: int_uniform, min: -1, max: 3}
        """,
    )
    result = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 2
    assert "points of the search space are invalid" in result.stderr
    assert "train.epochs=-1" in result.stderr


def test_sweep_names_follow_the_run_name_rule(tmp_path):
    from conv1d_cli.config.loader import RUN_NAME
    from conv1d_cli.sweep.plan import SWEEP_NAME

    assert SWEEP_NAME.pattern == RUN_NAME.pattern
    path = _sweep(tmp_path, "name: no/slash\nparameters: {optimizer.lr: {value: 0.1}}\n")
    result = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 2
    assert "name 'no/slash': a sweep name may hold letters" in result.stderr


def test_a_trial_starts_fresh_resumes_or_refuses_a_live_run(tmp_path):
    from conv1d_cli.errors import RunInUse
    from conv1d_cli.rundir.lock import acquire_run_lock
    from conv1d_cli.sweep.executors import TrialJob, train_argv

    job = TrialJob("trial-000", "c.yaml", str(tmp_path), str(tmp_path), "log", "stop")
    fresh = ["train", "c.yaml", "--name", "trial-000", "--runs-dir", str(tmp_path), "--quiet"]
    assert train_argv(job) == fresh
    run = tmp_path / "trial-000"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("stopped before its first epoch ended\n")
    with acquire_run_lock(run, "conv1d train"), pytest.raises(RunInUse):
        train_argv(job)  # its process is alive: never removed under it
    assert train_argv(job) == fresh and not run.exists()  # no result in it: started again
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.safetensors").write_bytes(b"")
    assert train_argv(job) == ["train", "--resume", str(run), "--quiet"]


def test_a_sweep_over_data_path_keeps_the_dataset_the_base_config_names(tmp_path):
    """As ``conv1d train base.yaml --set data.path=x.ts`` does: only a stored config's kind
    follows a new path's suffix (eval, resume), not one a person wrote."""
    base = BASE.replace("{dataset: digits, limit: 400,", "{dataset: csv, path: a.csv,")
    # a named metric: planning reads no data (without one, task auto would read trial-000's)
    body = "metric: {name: val_acc}\nparameters:\n  data.path: {values: [b.ts, c.csv]}\n"
    path = write_sweep(tmp_path, body, base)
    plan = make_plan(path)
    assert [plan.trial_config(t, "t").data.dataset for t in plan.trials] == ["csv", "csv"]
    by_train = load_config(tmp_path / "base.yaml", ["data.path=b.ts"])
    assert by_train.data.dataset == "csv"
