"""Merging results.json across runs: what a partial run replaces, keeps and marks failed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SECTIONS = ("layers", "configs", "templates", "inference", "loops", "scaling", "memory")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


store = _load("results_store")
report = _load("report")


def run(date: str, **sections) -> dict:
    return {"meta": {"date": date, "threads": 2, "quick": False, "torch": "2.13.0"}, **sections}


def test_a_rerun_of_configs_drops_its_old_one_thread_rows():
    old = run("day 1", configs=[{"config": "mnist"}], configs_1_thread=[{"config": "mnist"}])
    old["loops"] = {"train_speedup": 900.0}
    new = run("day 2", configs=[{"config": "mnist", "x": 1}])  # e.g. --no-torch: no 1-thread
    merged = store.merge(old, new, ["configs"], SECTIONS)
    assert merged["configs"] == [{"config": "mnist", "x": 1}]
    assert "configs_1_thread" not in merged
    assert merged["loops"] == {"train_speedup": 900.0}
    assert {s: r["date"] for s, r in merged["section_runs"].items()} == {
        "configs": "day 2",
        "loops": "day 1",
    }


def test_section_runs_of_a_merged_file_carry_over_to_the_next_merge():
    first = store.merge(None, run("day 1", loops={"a": 1}, memory={"b": 2}), ["loops"], SECTIONS)
    assert "memory" not in first  # not run, nothing before it: not kept
    second = store.merge(first, run("day 2", memory={"b": 3}), ["memory"], SECTIONS)
    third = store.merge(second, run("day 3", layers={"numpy": []}), ["layers"], SECTIONS)
    assert {s: r["date"] for s, r in third["section_runs"].items()} == {
        "layers": "day 3",
        "loops": "day 1",
        "memory": "day 2",
    }
    assert third["meta"]["date"] == "day 3"


def test_a_failed_rerun_replaces_old_numbers_and_its_verdict_is_failed():
    old = run(
        "day 1", loops={"train_speedup": 1250.0}, memory={"peak_rss_mb": 400.0, "samples": 60000}
    )
    line = "section loops: AssertionError: loop reference disagrees with the engine by 0.1"
    new = run("day 2", loops={"failed": line})
    merged = store.merge(old, new, ["loops"], SECTIONS)
    assert merged["loops"] == {"failed": line}
    assert store.failures(merged) == [line]
    verdicts = report.targets(merged, 1.25, 100, 1024)
    assert verdicts["course: > 100x faster than direct loops"] == {
        "value": None,
        "status": "failed",
    }


def test_failures_are_found_in_rows_and_engines():
    results = run(
        "day 1",
        templates=[{"config": "fcn", "failed": "torch worker ... exited with code 1"}],
        layers={"numpy": [], "torch": {"failed": "torch worker for layers ... signal 9"}},
    )
    assert store.failures(results) == [
        "torch worker ... exited with code 1",
        "torch worker for layers ... signal 9",
    ]


def test_an_unreadable_previous_file_is_not_merged(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text('{"meta": {"date": "day 1"}, "loops": {')  # cut short
    assert store.load_previous(path) is None
    assert "unreadable" in capsys.readouterr().out
    assert store.load_previous(tmp_path / "absent.json") is None


def test_written_atomically(tmp_path):
    path = tmp_path / "results.json"
    store.write_json(path, {"meta": {"date": "day 1"}})
    assert json.loads(path.read_text()) == {"meta": {"date": "day 1"}}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left
