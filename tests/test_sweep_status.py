"""One status per trial: trials.csv, summary.json, ``conv1d runs`` and metric.png agree.

The race (issue 22): the driver reads a trial's metrics.csv, asks the pruner, then asks the
trial to stop; on Dask the stop travels through a file the task polls. By then the trial may
have finished its last epoch and be writing its summary ``completed`` or drawing its curves; a
SIGTERM there killed it (exit -15) and the driver, seeing a stopped process it had asked to
stop, wrote ``pruned`` over a run that says ``completed``. Here the pruner's answer is held
back until the trial is at exactly those points, on a real Dask cluster on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.rundir.status import RunStatus
from conv1d_cli.sweep.report import TrialRecord, metric_figure
from conv1d_cli.sweep.sweepdir import read_json, settle_status
from tests.sweep_helpers import BASE, epochs_done, read_trials, wait_for, write_sweep

runner = CliRunner()
PLOTTED = BASE.replace("plots: false", "plots: true").replace("batch_size: 32", "batch_size: 2")


def _agree(sweep_dir: Path, runs_dir: Path) -> dict[str, tuple[str, int, int]]:
    """Each trial's (status, epochs run, epochs asked) once checked to agree everywhere."""
    listed = runner.invoke(app, ["runs", str(runs_dir), "--json"])
    assert listed.exit_code == 0, listed.output
    shown = {Path(r["path"]).name: r for r in json.loads(listed.stdout)["runs"]}
    out = {}
    for trial in read_trials(sweep_dir):
        name, run_dir = trial["trial"], sweep_dir / trial["trial"]
        summary = json.loads((run_dir / "summary.json").read_text())
        status, done, asked = trial["status"], int(trial["epochs"]), summary["epochs"]
        assert summary["status"] == status, (name, summary["status"], status)
        assert shown[name]["status"] == status, (name, shown[name]["status"], status)
        assert summary["epochs_completed"] == done == epochs_done(run_dir), name
        # pruned means stopped before the last epoch; completed means all of them
        assert (status == "pruned") == (done < asked), (name, status, done, asked)
        assert (run_dir / "curves.png").is_file(), f"{name} has no curves.png"
        out[name] = (status, done, asked)
    return out


@pytest.fixture
def dask_address():
    """A scheduler and one 2-thread worker in this process, on 127.0.0.1, closed after."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_a_late_prune_on_dask_leaves_one_status(tmp_path, monkeypatch, dask_address):
    pytest.importorskip("optuna")
    sweep_dir = tmp_path / "runs" / "race"
    path = write_sweep(
        tmp_path,
        f"""
        name: race
        method: grid
        metric: {{name: val_acc}}
        parameters:
          train.epochs: {{values: [5, 60, 5]}}
        early_terminate: {{type: successive_halving, min_iter: 1, eta: 2}}
        executor: {{type: dask, address: "{dask_address}", workers: 2}}
        """,
        base=PLOTTED,
    )
    asked: list[tuple[int, int]] = []

    def late_pruner(self, index: int, epoch: int, value: float) -> bool:
        """The pruner says stop, but only once the trial is past the point of stopping."""
        asked.append((index, epoch))
        run_dir = sweep_dir / f"trial-{index:03d}"
        if index == 0:  # it has written summary 'completed' and is drawing its curves
            wait_for(
                lambda: read_json(run_dir / "summary.json").get("status") == "completed",
                120,
                "trial-000's summary",
            )
            return True
        if index == 2:  # it has logged its last epoch: test metrics, summary and curves to come
            wait_for(lambda: epochs_done(run_dir) == 5, 120, "trial-002's last epoch")
            return True
        return epoch >= 2  # trial-001: a plain prune, 58 epochs before its end

    monkeypatch.setattr("conv1d_cli.sweep.search.OptunaSearch.report", late_pruner)
    result = runner.invoke(app, ["sweep", str(path)])
    assert result.exit_code == 0, result.output
    trials = _agree(sweep_dir, tmp_path / "runs")
    assert trials["trial-000"] == ("completed", 5, 5)
    assert trials["trial-002"] == ("completed", 5, 5)
    status, done, _ = trials["trial-001"]
    assert status == "pruned" and 2 <= done < 60
    assert all(epoch < 5 for index, epoch in asked if index != 1)  # never at the last epoch
    # the driver left no trial behind: every run's lock is free
    from conv1d_cli.rundir.lock import holder_alive

    assert [holder_alive(sweep_dir / t) for t in trials] == [False] * 3
    # and the best trial is a completed one
    assert "best trial of sweep race: trial-00" in (sweep_dir / "best.yaml").read_text()
    # metric.png draws the same statuses: its figure, from the sweep's state, read back
    records = [TrialRecord(**t) for t in read_json(sweep_dir / "state.json")["trials"]]
    fig = metric_figure(records, ["train.epochs"], "val_acc", maximize=True, sweep="race")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[:2] == ["completed (2)", "pruned (1)"] and legend[2].startswith("best: ")
    assert (sweep_dir / "metric.png").is_file()


@pytest.mark.parametrize(
    ("code", "summary", "done", "pruning", "expected"),
    [
        (0, RunStatus.COMPLETED, 5, False, "completed"),
        (0, RunStatus.EARLY_STOPPED, 3, False, "completed"),
        # the stop came after the run's last epoch: what the run says wins
        (143, RunStatus.COMPLETED, 5, True, "completed"),
        (-15, RunStatus.COMPLETED, 5, True, "completed"),
        (0, RunStatus.COMPLETED, 5, True, "completed"),
        # stopped before its last epoch, at the pruner's word
        (143, RunStatus.INTERRUPTED, 2, True, "pruned"),
        (143, RunStatus.PRUNED, 2, True, "pruned"),
        # stopped with every epoch done but no summary of its end: not pruned, resumable
        (-15, RunStatus.RUNNING, 5, True, "interrupted"),
        # a stop nobody in the sweep asked for (Ctrl-C, a scancel)
        (143, RunStatus.INTERRUPTED, 2, False, "interrupted"),
        (130, RunStatus.INTERRUPTED, 2, False, "interrupted"),
        (3, RunStatus.DIVERGED, 2, False, "diverged"),
        (3, RunStatus.DIVERGED, 2, True, "diverged"),
        (1, RunStatus.FAILED, 2, False, "failed"),
        (1, None, 0, False, "failed"),
    ],
)
def test_settle_status_from_what_the_run_says(code, summary, done, pruning, expected):
    assert settle_status(code, summary, done, 5, pruning) == expected
