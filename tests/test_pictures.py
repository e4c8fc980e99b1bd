"""Pictures a user can read (issue 22, item 5): curves.png and runs-compare.png, read back from
the matplotlib Figures (ticks, titles, legend and table texts) and from a real training run."""

from __future__ import annotations

import csv
import json
import math
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.rundir.compare import compare_figure, compare_runs, run_labels
from conv1d_cli.rundir.listing import read_metrics, read_run
from conv1d_cli.training.report import curves_figure, curves_title, pyplot

runner = CliRunner()
NAN = float("nan")


def _rows(epochs: int, val: bool = True) -> list[dict[str, float]]:
    return [
        {
            "epoch": float(e),
            "train_loss": 1.0 / e,
            "train_acc": 1 - 1 / (e + 1),
            "val_loss": 1.2 / e if val else NAN,
            "val_acc": 0.9 - 1 / (e + 2) if val else NAN,
        }
        for e in range(1, epochs + 1)
    ]


def _tick_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_xticklabels()]


def _visible_ticks(ax) -> list[float]:
    low, high = ax.get_xlim()
    return [t for t in ax.get_xticks() if low - 1e-9 <= t <= high + 1e-9]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    pyplot().close("all")


@pytest.mark.parametrize("epochs", [2, 3, 4, 7])
def test_short_runs_have_one_integer_tick_per_epoch(epochs):
    fig = curves_figure(_rows(epochs), "t")
    fig.canvas.draw()
    for ax in fig.axes:
        assert _tick_labels(ax) == [str(e) for e in range(1, epochs + 1)]  # not 1.0, 1.5, ...
        assert ax.get_xlim() == pytest.approx((0.5, epochs + 0.5))


def test_a_long_run_has_integer_ticks_only():
    fig = curves_figure(_rows(150), "t")
    fig.canvas.draw()
    ticks = _visible_ticks(fig.axes[0])
    assert len(ticks) >= 3 and all(float(t).is_integer() for t in ticks)


def test_a_one_epoch_run_is_a_visible_marker_on_a_sensible_axis():
    fig = curves_figure(_rows(1, val=False), "t")
    fig.canvas.draw()
    ax_loss, ax_acc = fig.axes
    for ax in (ax_loss, ax_acc):
        assert _tick_labels(ax) == ["1"]
        assert ax.get_xlim() == pytest.approx((0.5, 1.5))  # not 0.96..1.04
        (line,) = ax.get_lines()
        assert line.get_marker() == "o" and line.get_markersize() >= 5
    assert ax_acc.get_ylim() == pytest.approx((0.0, 1.05))  # accuracy on its whole range
    assert ax_loss.get_ylim()[0] == 0.0 and ax_loss.get_ylim()[1] > 1.0  # the loss 1.0 inside
    # the one value is written next to its point: there is no curve to read it from
    assert [t.get_text() for t in ax_acc.texts] == ["0.5000"]
    assert [t.get_text() for t in ax_loss.get_legend().get_texts()] == ["train"]  # no val line


def test_curves_title_names_run_data_file_and_test_result():
    data_cfg = SimpleNamespace(path="/x/GunPoint/GunPoint_TRAIN.ts", dataset="ts")
    with_test = SimpleNamespace(y_test=np.zeros(150))
    title = curves_title("resnet1d-GunPoint", data_cfg, {"accuracy": 0.98667, "n": 150}, with_test)
    assert title == "resnet1d-GunPoint · GunPoint_TRAIN.ts · test accuracy 0.9867 (n=150)"
    embedded = SimpleNamespace(path=None, dataset="digits")
    assert curves_title("d", embedded, None, with_test) == "d · digits · not tested"
    no_test = SimpleNamespace(y_test=np.zeros(0))
    assert curves_title("d", embedded, None, no_test) == "d · digits · no test split"
    assert curves_figure(_rows(2), title)._suptitle.get_text() == title


# ------------------------------------------------------------------------------ compare
def _fake_run(
    path: Path, rows, config: dict, accuracy: float | None, status: str = "completed"
) -> Path:
    path.mkdir(parents=True)
    with (path / "metrics.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
            )
    (path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    summary = {
        "status": status,
        "name": path.name,
        "epochs_completed": len(rows),
        "epochs": len(rows),
        "best": {"epoch": 1, "metric": "train_loss", "value": 0.5},
        "test": None if accuracy is None else {"accuracy": accuracy, "loss": 0.3, "n": 150},
        "started": "2026-01-01T00:00:00Z",
    }
    (path / "summary.json").write_text(json.dumps(summary))
    return path


def _config(kernel: int = 3, weight_decay: float = 0.0, path: str = "/d/GunPoint_TRAIN.ts"):
    return {
        "name": "x",
        "seed": 0,
        "data": {"dataset": "ts", "path": path, "view": None},
        "model": {
            "layers": [
                {"type": "conv1d", "channels": 8, "kernel": kernel},
                {"type": "relu"},
                {"type": "dense", "units": None},
            ]
        },
        "optimizer": {"type": "adam", "lr": 0.003, "weight_decay": weight_decay},
        "output": {"runs_dir": "runs"},
    }


@pytest.fixture
def two_sweeps(tmp_path) -> list[Path]:
    """trial-000 of two sweeps (no validation), different kernels, decays and data files."""
    runs = []
    long_path = "/data/archive/Univariate_ts/GunPoint/GunPoint_TRAIN.ts"
    for sweep, kernel, decay, acc in (("sweep-a", 3, 0.0, 0.98667), ("sweep-b", 5, 6.4e-05, 0.9)):
        (tmp_path / "runs" / sweep).mkdir(parents=True)
        (tmp_path / "runs" / sweep / "state.json").write_text("{}")  # what a sweep folder holds
        config = _config(kernel, decay, long_path if sweep == "sweep-a" else "/d/Coffee_TRAIN.tsv")
        rows = _rows(3, val=False)
        runs.append(_fake_run(tmp_path / "runs" / sweep / "trial-000", rows, config, acc))
    return runs


def test_compare_names_runs_by_their_path_and_claims_no_validation_it_lacks(two_sweeps, tmp_path):
    labels = run_labels(two_sweeps)
    assert labels == ["sweep-a/trial-000", "sweep-b/trial-000"]
    runs = [read_run(label, path) for label, path in zip(labels, two_sweeps, strict=True)]
    fig = compare_figure(runs, [read_metrics(path) for path in two_sweeps])
    fig.canvas.draw()
    ax_loss, ax_acc, ax_table = fig.axes
    legend = [t.get_text() for t in ax_acc.get_legend().get_texts()]
    assert legend == ["sweep-a/trial-000", "sweep-b/trial-000", "training"]
    title = fig._suptitle.get_text()
    assert title == "runs compared: training curves (no run has a validation split)"
    assert _tick_labels(ax_loss) == ["1", "2", "3"]
    cells = {
        (r, c): cell.get_text().get_text()
        for (r, c), cell in ax_table.tables[0].get_celld().items()
    }
    header = [cells[0, c] for c in range(6)]
    assert header == ["run", "status", "epochs", "best", "test accuracy", "data"]
    assert [cells[1, 0], cells[1, 4], cells[1, 5]] == [
        "sweep-a/trial-000",
        "0.9867",
        "GunPoint_TRAIN.ts",
    ]
    assert [cells[2, 0], cells[2, 4], cells[2, 5]] == [
        "sweep-b/trial-000",
        "0.9000",
        "Coffee_TRAIN.tsv",
    ]


def test_compare_with_validation_says_which_line_is_which(tmp_path):
    runs = [
        _fake_run(tmp_path / "runs" / name, _rows(4, val=val), _config(), 0.5)
        for name, val in (("with-val", True), ("without", False))
    ]
    labels = run_labels(runs)
    assert labels == ["with-val", "without"]
    rows = [read_run(label, path) for label, path in zip(labels, runs, strict=True)]
    fig = compare_figure(rows, [read_metrics(path) for path in runs])
    assert "solid: validation" in fig._suptitle.get_text()
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend == ["with-val", "without", "training", "validation"]


def test_same_folder_names_elsewhere_get_more_of_their_path(tmp_path):
    a = _fake_run(tmp_path / "one" / "runs" / "mnist", _rows(2), _config(), None)
    b = _fake_run(tmp_path / "two" / "runs" / "mnist", _rows(2), _config(), None)
    assert run_labels([a, b]) == ["one/runs/mnist", "two/runs/mnist"]


def test_compare_table_shows_per_key_differences_whole_and_exact(two_sweeps, tmp_path):
    out = tmp_path / "cmp.png"
    result = compare_runs([str(p) for p in two_sweeps], out)
    assert out.read_bytes().startswith(b"\x89PNG")
    differences = dict(result.differences)
    assert differences["model.layers[0].kernel"] == ["3", "5"]
    assert differences["optimizer.weight_decay"] == ["0.0", "6.4e-05"]
    assert differences["data.path"][0] == "/data/archive/Univariate_ts/GunPoint/GunPoint_TRAIN.ts"
    assert "model.layers" not in differences and "name" not in differences
    assert "model.layers[0].channels" not in differences  # equal keys are left out
    # the command prints them as lines, never cut to fit the terminal
    cli = runner.invoke(app, ["runs", "compare", *map(str, two_sweeps), "--out", str(out)])
    assert cli.exit_code == 0, cli.stderr
    lines = cli.stdout.splitlines()
    assert "  model.layers[0].kernel: 3 | 5" in lines
    assert "  optimizer.weight_decay: 0.0 | 6.4e-05" in lines
    assert (
        "  data.path: /data/archive/Univariate_ts/GunPoint/GunPoint_TRAIN.ts | /d/Coffee_TRAIN.tsv"
        in lines
    )
    assert "…" not in cli.stdout
    assert "sweep-a/trial-000" in cli.stdout and "0.9867" in cli.stdout


# ---------------------------------------------------------------------- a real training run
ONE_EPOCH = """
name: pic
seed: 0
data: {dataset: digits, limit: 200, val_split: 0.0, test_split: 0.25}
model:
  layers:
    - {type: conv1d, channels: 4, kernel: 3, padding: same}
    - {type: relu}
    - {type: flatten}
    - {type: dense}
optimizer: {type: adam, lr: 0.01}
train: {epochs: 1, batch_size: 32}
output: {runs_dir: RUNS, monitor: train_loss}
"""


def test_a_trained_runs_curves_png_is_titled_and_drawn(tmp_path, monkeypatch):
    import conv1d_cli.training.loop as loop

    drawn = []
    real = loop.plot_curves

    def spy(rows, path, title=""):
        drawn.append((list(rows), title))
        real(rows, path, title)

    monkeypatch.setattr(loop, "plot_curves", spy)
    config = tmp_path / "pic.yaml"
    config.write_text(textwrap.dedent(ONE_EPOCH).replace("RUNS", str(tmp_path / "runs")))
    result = runner.invoke(app, ["train", str(config), "-q"])
    assert result.exit_code == 0, result.stderr
    run = tmp_path / "runs" / "pic"
    assert (run / "curves.png").read_bytes().startswith(b"\x89PNG")
    summary = json.loads((run / "summary.json").read_text())
    rows, title = drawn[-1]
    assert title == f"pic · digits · test accuracy {summary['test']['accuracy']:.4f} (n=50)"
    fig = curves_figure(rows, title)
    assert _tick_labels(fig.axes[0]) == ["1"] and fig._suptitle.get_text() == title
