"""metric.png read back from its matplotlib Figure: integer and categorical axes as such, log
axes for log-distributed or wide ranges, a title, the best trial ringed, one colour a status."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from matplotlib.colors import to_hex

from conv1d_cli.sweep.report import STATUS_STYLE, TrialRecord, metric_figure, plot_metric
from conv1d_cli.sweep.spec import ParameterSpec


def _records(key: str, rows: list[tuple[object, str, float]]) -> list[TrialRecord]:
    return [
        TrialRecord(i, {key: value}, status=status, metric=metric, epochs=5)
        for i, (value, status, metric) in enumerate(rows)
    ]


def _ticks(fig, panel: int = 0) -> list[str]:
    """The tick labels a reader sees on a panel's x axis (inside its limits)."""
    fig.canvas.draw()
    ax = fig.axes[panel]
    low, high = sorted(ax.get_xlim())
    return [
        t.get_text()
        for t, x in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True)
        if low <= x <= high and t.get_text()
    ]


def _collection(fig, label: str, panel: int = 0):
    (found,) = [c for c in fig.axes[panel].collections if c.get_label() == label]
    return found


def test_listed_integer_kernels_are_ticks_of_their_own():
    key = "model.layers[0].kernel"
    records = _records(key, [(3, "completed", 0.8), (5, "completed", 0.9), (7, "pruned", 0.7)])
    spec = ParameterSpec(values=[3, 5, 7])
    fig = metric_figure(records, [key], "val_acc", maximize=True, parameters={key: spec})
    assert _ticks(fig) == ["3", "5", "7"]
    assert fig.axes[0].get_xscale() == "linear"
    assert fig.axes[0].get_xlabel() == key and fig.axes[0].get_ylabel() == "val_acc"


def test_an_int_uniform_range_has_integer_ticks_only():
    key = "train.batch_size"
    records = _records(key, [(2, "completed", 0.8), (3, "completed", 0.9), (6, "completed", 0.7)])
    spec = ParameterSpec(distribution="int_uniform", min=2, max=6)
    fig = metric_figure(records, [key], "val_acc", maximize=True, parameters={key: spec})
    ticks = _ticks(fig)
    assert len(ticks) >= 2 and all(t.lstrip("−-").isdigit() for t in ticks), ticks


def test_two_learning_rates_are_on_a_log_axis():
    key = "optimizer.lr"
    records = _records(key, [(0.001, "completed", 0.6), (0.01, "completed", 0.9)])
    spec = ParameterSpec(values=[0.001, 0.01])
    fig = metric_figure(records, [key], "val_acc", maximize=True, parameters={key: spec})
    assert fig.axes[0].get_xscale() == "log"
    assert _ticks(fig) == ["0.001", "0.01"]
    # even without the sweep file's entry, a range this wide is logarithmic
    fig = metric_figure(records, [key], "val_acc", maximize=True)
    assert fig.axes[0].get_xscale() == "log"


def test_a_log_uniform_distribution_is_on_a_log_axis_with_plain_numbers():
    key = "optimizer.lr"
    rows = [(0.003, "completed", 0.6), (0.005, "completed", 0.7), (0.02, "completed", 0.9)]
    spec = ParameterSpec(distribution="log_uniform", min=0.003, max=0.03)
    fig = metric_figure(
        _records(key, rows), [key], "val_acc", maximize=True, parameters={key: spec}
    )
    assert fig.axes[0].get_xscale() == "log"
    assert _ticks(fig) == ["0.005", "0.01", "0.02"]  # plain numbers, not 10^-2
    # a narrow uniform range stays linear
    spec = ParameterSpec(distribution="uniform", min=0.1, max=0.5)
    rows = [(0.1, "completed", 0.6), (0.3, "completed", 0.7), (0.5, "completed", 0.9)]
    fig = metric_figure(
        _records(key, rows), [key], "val_acc", maximize=True, parameters={key: spec}
    )
    assert fig.axes[0].get_xscale() == "linear"


def test_categorical_values_in_the_sweep_files_order():
    key = "optimizer.type"
    records = _records(key, [("sgd", "completed", 0.8), ("adam", "completed", 0.9)])
    spec = ParameterSpec(values=["adam", "sgd", "adamw"])
    fig = metric_figure(records, [key], "val_acc", maximize=True, parameters={key: spec})
    assert _ticks(fig) == ["adam", "sgd", "adamw"]
    offsets = _collection(fig, "completed (2)").get_offsets()
    assert [tuple(p) for p in offsets] == [(1.0, 0.8), (0.0, 0.9)]


def test_title_and_best_trial_mark():
    key = "optimizer.lr"
    rows = [(0.01, "completed", 0.2), (0.02, "completed", 0.1), (0.03, "pruned", 0.05)]
    fig = metric_figure(_records(key, rows), [key], "val_loss", maximize=False, sweep="lrs")
    title = fig._suptitle.get_text()
    assert title.startswith("sweep lrs: val_loss per trial (lower is better, 3 trials)")
    assert title.endswith("best trial-001 0.1000")  # a pruned trial is never the best
    ring = _collection(fig, "best: trial-001")
    assert [tuple(p) for p in ring.get_offsets()] == [(0.02, 0.1)]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["completed (2)", "pruned (1)", "best: trial-001"]


def test_a_status_has_the_same_colour_in_every_sweep():
    key = "optimizer.lr"
    first = _records(key, [(0.01, "completed", 0.9), (0.02, "pruned", 0.5)])
    second = _records(key, [(0.01, "pruned", 0.4), (0.02, "diverged", 0.1), (0.03, "completed", 1)])
    colours = []
    for records in (first, second):
        fig = metric_figure(records, [key], "val_acc", maximize=True)
        colours.append(
            {
                c.get_label().split(" (")[0]: to_hex(c.get_facecolor()[0])
                for c in fig.axes[0].collections
                if not c.get_label().startswith("best")
            }
        )
    assert colours[0]["completed"] == colours[1]["completed"] == STATUS_STYLE["completed"][0]
    assert colours[0]["pruned"] == colours[1]["pruned"] == STATUS_STYLE["pruned"][0]
    assert len(set(colours[1].values())) == 3


def test_plot_metric_writes_the_png_and_nothing_without_a_metric(tmp_path):
    key = "optimizer.lr"
    plot_metric(tmp_path / "none.png", _records(key, [(0.01, "failed", None)]), [key], "val_acc")
    assert not (tmp_path / "none.png").exists()
    records = _records(key, [(0.01, "completed", 0.9), (0.1, "completed", 0.8)])
    plot_metric(tmp_path / "metric.png", records, [key], "val_acc", maximize=True, sweep="s")
    assert (tmp_path / "metric.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
