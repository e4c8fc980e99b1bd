"""bench.py's main loop: a failing worker is one FAILED line (never a hang), and a partial run
(--sections) keeps the other sections of the previous results.json.

The fake workers below stand in for ``workers.serve`` (same signature); they run in real
spawned processes, which import this module by name, so its top level stays stdlib only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
MNIST = ("mnist", "configs/mnist.yaml")


def serve_raises(conn, engine, config, shape, threads):
    raise RuntimeError("unknown layer type 'warp'")  # while building: before "ready"


def serve_exits(conn, engine, config, shape, threads):
    os._exit(3)  # no exception, no message: the process is simply gone


def serve_killed_while_training(conn, engine, config, shape, threads):
    conn.send({"ready": True})
    conn.recv()
    os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would


def serve_silent(conn, engine, config, shape, threads):
    conn.send({"ready": True})
    conn.recv()
    time.sleep(120)  # a hang: never answers


def serve_torch_breaks(conn, engine, config, shape, threads):
    if engine == "torch":
        raise RuntimeError("no torch here")
    conn.send({"ready": True})
    conn.recv()  # the numpy worker is up and waiting when its twin fails


def raise_value_error(text):
    raise ValueError(text)


@pytest.fixture(scope="module")
def bench():
    """benchmarks/bench.py as a module (benchmarks/ is not a package)."""
    saved_path, clash = list(sys.path), sys.modules.pop("reference_loops", None)
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench", BENCH / "bench.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved_path
        # benchmarks/reference_loops.py must not shadow tests/reference_loops.py elsewhere.
        sys.modules.pop("reference_loops", None)
        if clash is not None:
            sys.modules["reference_loops"] = clash
    return module


@pytest.fixture(autouse=True)
def bench_on_path(monkeypatch):
    """Spawned workers import supervise.py from benchmarks/ (they inherit sys.path)."""
    monkeypatch.syspath_prepend(str(BENCH))


def quick_args(bench, timeout=30.0):
    return bench.parse_args(["--quick", "--threads", "1", "--worker-timeout", str(timeout)])


def failed_row(bench, serve, capsys, timeout=30.0):
    started = time.monotonic()
    args = quick_args(bench, timeout)
    row = bench.compare_or_fail(*MNIST, ["numpy"], args, (1, 784), 64, serve)
    assert time.monotonic() - started < 20  # generous: a hang would never return at all
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"FAILED: {row['failed']}; skipped"]
    verdict = bench.with_targets({"configs": [row]})["targets"]
    assert verdict["mnist: epoch time <= 1.25x PyTorch"]["status"] == "failed"
    return row["failed"]


@pytest.mark.parametrize(
    ("serve", "timeout", "what"),
    [
        (
            serve_raises,
            30.0,
            "raised while building the network: RuntimeError: unknown layer type 'warp'",
        ),
        (serve_exits, 30.0, "exited with code 3 while building the network"),
        (serve_killed_while_training, 30.0, "was killed by signal 9 (SIGKILL) while warming up"),
        # On a loaded machine the silent worker may not even have started within 1 s: either
        # phase is a true account of where it hung.
        (
            serve_silent,
            1.0,
            "gave no answer within 1 s while (building the network|warming up) (stopped it)",
        ),
    ],
    ids=["raises", "exits", "sigkill", "hangs"],
)
def test_a_failing_worker_is_one_line_naming_engine_config_and_what(
    bench, capsys, serve, timeout, what
):
    line = failed_row(bench, serve, capsys, timeout)
    prefix = re.escape("numpy worker for config mnist (configs/mnist.yaml, 1 thread) ")
    pattern = what.replace("(stopped it)", r"\(stopped it\)") if "|" in what else re.escape(what)
    assert re.fullmatch(prefix + pattern, line), line


def test_no_worker_outlives_a_failed_comparison(bench, monkeypatch, capsys):
    started = []
    original = bench.supervise.Supervised.__init__

    def remember(self, *args, **kwargs):
        original(self, *args, **kwargs)
        started.append(self.proc)

    monkeypatch.setattr(bench.supervise.Supervised, "__init__", remember)
    args = quick_args(bench)
    row = bench.compare_or_fail(*MNIST, ["numpy", "torch"], args, (1, 784), 64, serve_torch_breaks)
    assert row["failed"].startswith("torch worker for config mnist")
    assert "RuntimeError: no torch here" in row["failed"]
    assert len(started) == 2 and all(p.exitcode is not None for p in started)  # numpy's too


def test_a_single_call_that_raises_comes_back_as_one_line(bench):
    with pytest.raises(bench.WorkerFailed) as failure:
        bench.in_fresh_process(raise_value_error, "bad\nshape", label="numpy worker for layers")
    assert str(failure.value) == (
        "numpy worker for layers raised while running raise_value_error: ValueError: bad shape"
    )


def test_main_goes_on_after_a_failed_comparison_and_exits_1(bench, monkeypatch, tmp_path, capsys):
    def compare(name, path, engines, args, *rest):
        if name == "resnet1d":
            raise bench.WorkerFailed(f"numpy worker for config {name} ({path}) exited with code 1")
        return template_row(name, path)

    monkeypatch.setattr(bench, "compare_config", compare)
    monkeypatch.setattr(bench, "HERE", tmp_path)
    assert bench.main(["--sections", "templates", "--no-torch", "--quick", "--no-write"]) == 1
    out, err = capsys.readouterr()
    assert "FAILED: numpy worker for config resnet1d" in err
    threads = f"{os.cpu_count()} thread{'s' if os.cpu_count() != 1 else ''}"
    assert f"| template resnet1d, {threads}: epoch time <= 1.1x PyTorch | – | failed |" in out
    assert f"| template fcn, {threads}: epoch time <= 1.1x PyTorch | 1.05 | met |" in out
    assert "| inception (`configs/templates/inception.yaml`) |" in out  # went on after resnet
    assert not list(tmp_path.iterdir())  # --no-write


def template_row(name, path, ratio=1.05):
    engine = {"train_samples_per_s": 900.0, "eval_samples_per_s": 4000.0}
    return {
        "config": name,
        "path": path,
        "batch": 16,
        "shape": [1, 150],
        "rounds_used": 3,
        "rounds_run": 3,
        "others_cpu": 0.01,
        "numpy": {**engine, "peak_rss_mb": 200.0},
        "torch": {**engine, "peak_rss_mb": 400.0},
        "epoch_time_ratio_numpy_over_torch": ratio,
        "epoch_time_ratios_all": [ratio],
    }


def test_a_partial_run_keeps_the_other_sections_and_says_from_when(bench, monkeypatch, tmp_path):
    # The committed results.json (a full run, maybe written before section_runs existed) is
    # the previous file; --sections templates replaces only the template rows.
    old = json.loads((BENCH / "results.json").read_text())
    old["templates"] = [template_row("fcn", "configs/templates/fcn.yaml", 2.0)]
    old["targets"] = {"stale": {"value": 1, "status": "met"}}
    (tmp_path / "results.json").write_text(json.dumps(old))
    monkeypatch.setattr(bench, "HERE", tmp_path)
    monkeypatch.setattr(bench, "compare_config", lambda name, path, *a: template_row(name, path))
    assert bench.main(["--sections", "templates", "--quick", "--threads", "1"]) == 0
    merged = json.loads((tmp_path / "results.json").read_text())
    kept = ("layers", "configs", "configs_1_thread", "loops", "scaling", "memory")
    assert {k: merged.get(k) for k in kept} == {k: old.get(k) for k in kept}
    assert [r["epoch_time_ratio_numpy_over_torch"] for r in merged["templates"]] == [1.05] * 3
    old_date = old.get("section_runs", {}).get("configs", old["meta"])["date"]
    assert merged["section_runs"]["configs"]["date"] == old_date
    assert merged["section_runs"]["templates"]["date"] == merged["meta"]["date"]
    assert merged["section_runs"]["templates"]["quick"] is True
    statuses = {k: v["status"] for k, v in merged["targets"].items()}
    assert "stale" not in statuses
    assert statuses["template fcn, 1 thread: epoch time <= 1.1x PyTorch"] == "met"  # the new ratio
    mnist = next(r for r in old["configs"] if r["config"] == "mnist")
    assert (
        merged["targets"]["mnist: epoch time <= 1.25x PyTorch"]["value"]
        == (
            mnist["epoch_time_ratio_numpy_over_torch"]  # recomputed from the kept rows
        )
    )
    readme = (tmp_path / "README.md").read_text()
    assert f"| configs | {old_date} |" in readme
    assert f"| templates | {merged['meta']['date']} | 1 |" in readme
    assert "| mnist (`configs/mnist.yaml`) |" in readme  # the kept tables are still there
    assert "### Direct loops" in readme and "### Scaling" in readme
