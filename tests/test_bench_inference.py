"""The benchmark's inference rows: table cells and verdicts from given measurements."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _inference():
    sys.path.insert(0, str(BENCH))  # inference.py imports report.py as a sibling
    try:
        import inference

        return inference
    finally:
        sys.path.remove(str(BENCH))


def _row(name: str, ratios: list[float]) -> dict:
    return {
        "config": name,
        "path": f"configs/{name}.yaml",
        "numpy": {"samples_per_s": 2000.0, "peak_rss_mb": 180.0},
        "torch": {"samples_per_s": 1500.0, "peak_rss_mb": 500.0},
        "throughput_ratio_numpy_over_torch": sorted(ratios)[len(ratios) // 2],
        "throughput_ratios_all": ratios,
        "rounds_used": len(ratios),
        "rounds_run": len(ratios),
        "others_cpu": 0.05,
    }


def test_verdicts_and_table():
    inference = _inference()
    rows = [_row("course", [1.2, 1.4, 1.3]), _row("deep", [0.8, 0.9, 1.1])]
    verdicts = {k: v["status"] for k, v in inference.targets(rows).items()}
    assert verdicts == {
        "course: predict/eval throughput >= PyTorch eval": "met",
        "deep: predict/eval throughput >= PyTorch eval": "not met",
    }
    text = "\n".join(inference.markdown(rows))
    assert (
        "| course (`configs/course.yaml`) | 2,000 | 180 | 1,500 | 500 | 1.30x (1.20-1.40)" in text
    )
    assert "0.90x (0.80-1.10)" in text


def test_without_torch_nothing_is_judged():
    inference = _inference()
    row = _row("mnist", [1.0])
    for key in ("torch", "throughput_ratio_numpy_over_torch", "throughput_ratios_all"):
        row.pop(key)
    assert inference.targets([row])["mnist: predict/eval throughput >= PyTorch eval"]["status"] == (
        "not measured"
    )
    assert "torch" not in "\n".join(inference.markdown([row])).split("\n")[1]
