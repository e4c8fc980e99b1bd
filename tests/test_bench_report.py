"""The benchmark's verdicts: targets are met, not met or not measured, never guessed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# benchmarks/ is not a package (and must not become an import of the tool): load the file.
_spec = importlib.util.spec_from_file_location(
    "bench_report", Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"
)
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)


def verdicts(results: dict) -> dict[str, str]:
    return {k: v["status"] for k, v in report.targets(results, 1.25, 100, 1024).items()}


def test_targets_from_measurements():
    results = {
        "configs": [
            {"config": "mnist", "epoch_time_ratio_numpy_over_torch": 1.10},
            {"config": "deep", "epoch_time_ratio_numpy_over_torch": 1.30},
        ],
        "memory": {"peak_rss_mb": 439.0, "samples": 60000},
    }
    assert verdicts(results) == {
        "mnist: epoch time <= 1.25x PyTorch": "met",
        "deep: epoch time <= 1.25x PyTorch": "not met",
        "course: > 100x faster than direct loops": "not measured",
        "Fashion-MNIST 60,000-sample epoch < 1024 MB peak": "met",
    }


def test_a_partial_fashion_epoch_is_not_a_verdict():
    got = verdicts({"memory": {"peak_rss_mb": 300.0, "samples": 12000}})
    assert got["Fashion-MNIST 60,000-sample epoch < 1024 MB peak"] == (
        "not measured (epoch of 12,000 samples)"
    )
    too_big = verdicts({"memory": {"peak_rss_mb": 2000.0, "samples": 60000}})
    assert too_big["Fashion-MNIST 60,000-sample epoch < 1024 MB peak"] == "not met"


def test_ratio_cell_shows_the_median_and_the_range_of_rounds():
    row = {"epoch_time_ratio_numpy_over_torch": 1.1449, "epoch_time_ratios_all": [0.95, 1.23]}
    assert report.ratio_cell(row) == "1.14x (0.95-1.23)"
    assert report.ratio_cell({"epoch_time_ratio_numpy_over_torch": 1.0}) == "1.00x"


def _template(threads: int, numpy_ratio: float, workers_ratio: float | None) -> dict:
    engine = {"train_samples_per_s": 900.0, "eval_samples_per_s": 4000.0}
    row = {
        "config": "resnet1d",
        "path": "configs/templates/resnet1d.yaml",
        "batch": 16,
        "shape": [1, 150],
        "rounds_used": 3,
        "rounds_run": 3,
        "others_cpu": 0.01,
        "threads": threads,
        "numpy": engine,
        "torch": engine,
        "epoch_time_ratio_numpy_over_torch": numpy_ratio,
        "epoch_time_ratios_all": [numpy_ratio],
    }
    if workers_ratio is not None:
        row[report.WORKERS] = {**engine, "train_samples_per_s": 1200.0}
        row["epoch_time_ratio_workers_over_torch"] = workers_ratio
        row["epoch_time_ratios_workers_all"] = [workers_ratio - 0.05, workers_ratio + 0.05]
    return row


def test_templates_target_reads_the_workers_ratio_where_measured():
    results = {
        "templates": [_template(2, 1.30, 1.05)],
        "templates_1_thread": [_template(1, 0.95, None)],
    }
    checks = report.template_targets(results, 1.1)
    assert checks["template resnet1d, 2 threads: epoch time <= 1.1x PyTorch"]["value"] == 1.05
    assert checks["template resnet1d, 2 threads: epoch time <= 1.1x PyTorch"]["status"] == "met"
    assert checks["template resnet1d, 1 thread: epoch time <= 1.1x PyTorch"]["value"] == 0.95
    table = "\n".join(report.templates_markdown(results))
    assert "| 1.30x (1.30-1.30) | 1,200 | 1.05x (1.00-1.10) |" in table
    assert "| 0.95x (0.95-0.95) | – | – |" in table
