"""Tables, target checks and the README for bench.py's results (the dict in results.json)."""

from __future__ import annotations

import datetime as dt
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

WORKERS = "numpy-workers"  # the engine key of workers.NUMPY_WORKERS (no torch import here)


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def meta(args: Any, has_torch: bool) -> dict:
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "torch": _version("torch") if has_torch else None,
        "dtype": "float32",
        "command": "make bench" + ("" if not args.quick else "  (benchmarks/bench.py --quick)"),
        "load_average_at_start": round(os.getloadavg()[0], 2),
    }


def targets(results: dict, torch_ratio: float, loop_speedup: float, fashion_mb: float) -> dict:
    """Each target: the measured value, the bound, and met / not met / not measured / failed."""
    out: dict[str, Any] = {}
    configs = results.get("configs", [])
    by_name = {row["config"]: row for row in configs} if isinstance(configs, list) else {}
    for name in ("mnist", "deep"):
        row = by_name.get(name, configs if failed(configs) else {})
        ratio = row.get("epoch_time_ratio_numpy_over_torch")
        out[f"{name}: epoch time <= {torch_ratio}x PyTorch"] = _check(
            ratio, ratio is not None and ratio <= torch_ratio, failed(row)
        )
    speedup = loop_speedup_of(results)
    out[f"course: > {loop_speedup}x faster than direct loops"] = _check(
        speedup, speedup is not None and speedup > loop_speedup, failed(results.get("loops"))
    )
    memory = results.get("memory", {})
    peak = memory.get("peak_rss_mb")
    check = _check(peak, peak is not None and peak < fashion_mb, failed(memory))
    if peak is not None and memory.get("samples") != 60000:  # --quick trains on a part only
        check["status"] = f"not measured (epoch of {memory.get('samples'):,} samples)"
    out[f"Fashion-MNIST 60,000-sample epoch < {fashion_mb} MB peak"] = check
    return out


def template_targets(results: dict, torch_ratio: float) -> dict:
    """Each time-series template's epoch time against its PyTorch twin."""
    out: dict[str, Any] = {}
    for row in _template_rows(results):
        # With 2+ threads conv1d trains on one process per thread (train.workers), the way a
        # template uses the machine's threads; the one-process ratio stays in the table.
        ratio = row.get(
            "epoch_time_ratio_workers_over_torch", row.get("epoch_time_ratio_numpy_over_torch")
        )
        threads = f", {_threads(row)}" if "threads" in row else ""
        out[f"template {row['config']}{threads}: epoch time <= {torch_ratio}x PyTorch"] = _check(
            ratio, ratio is not None and ratio <= torch_ratio, failed(row)
        )
    return out


def _template_rows(results: dict) -> list[dict]:
    """The template rows at the run's thread count, then those on one thread (if measured)."""
    rows = []
    for key in ("templates", "templates_1_thread"):
        part = results.get(key, [])
        rows += [r for r in part if isinstance(r, dict)] if isinstance(part, list) else []
    return rows


def _threads(row: dict) -> str:
    return f"{row['threads']} thread{'s' if row['threads'] != 1 else ''}"


def templates_markdown(results: dict) -> list[str]:
    """The templates' table: train speed of each engine and the epoch-time ratio."""
    rows_in = _template_rows(results)
    if not rows_in:
        return []
    has_torch = any("torch" in r for r in rows_in)
    has_workers = any(WORKERS in r for r in rows_in)
    header = ["template", "threads", "batch", "input", "train samples/s", "eval samples/s"]
    header += ["torch train/s", "torch eval/s", "epoch time numpy/torch"] if has_torch else []
    header += ["train/s, workers = threads", "epoch time workers/torch"] if has_workers else []
    header += ["rounds kept", "others' CPU"]
    rows = []
    for r in rows_in:
        n = r["numpy"]
        row = [f"{r['config']} (`{r['path']}`)", r.get("threads", "")]
        row += [r["batch"], "x".join(map(str, r["shape"]))]
        row += [_n(n["train_samples_per_s"]), _n(n["eval_samples_per_s"])]
        if has_torch:
            t = r["torch"]
            row += [_n(t["train_samples_per_s"]), _n(t["eval_samples_per_s"]), ratio_cell(r)]
        if has_workers:
            row += _workers_cells(r)
        row += [f"{r['rounds_used']}/{r['rounds_run']}", f"{r['others_cpu']:.0%}"]
        rows.append(row)
    return [
        "### Time-series templates (`configs/templates/`) against their PyTorch twins",
        _table(header, rows),
        "Each template's own batch size on a GunPoint-sized input (1 channel, 150 samples). The "
        "twin is the built network mirrored layer by layer, blocks included, with the same "
        "weights (`benchmarks/torch_mirror.py`). With 2+ threads the engine is also timed "
        "training on one process per thread (`train.workers` = threads, each process with one "
        "BLAS thread, `conv1d_cli/parallel/dataparallel.py`); the templates' target reads that "
        "ratio.",
    ]


def _check(value: float | None, ok: bool, failure: bool = False) -> dict:
    """A verdict; a failed measurement is "failed", never "met" and never an old number."""
    if failure:
        return {"value": None, "status": "failed"}
    status = "not measured" if value is None else ("met" if ok else "not met")
    return {"value": value, "status": status}


def failed(entry: Any) -> bool:
    """Whether a results entry (section, row or engine) records a failure instead of numbers."""
    return isinstance(entry, dict) and "failed" in entry


def measured_only(results: dict) -> dict:
    """``results`` without failed sections, rows and engines: what the tables can show."""
    view: dict[str, Any] = {}
    for key, value in results.items():
        if failed(value):
            continue
        if isinstance(value, list):
            value = [r for r in value if not failed(r)]
        elif key == "layers":
            value = {e: rows for e, rows in value.items() if not failed(rows)}
            if "numpy" not in value:
                continue
        view[key] = value
    return view


def loop_speedup_of(results: dict) -> float | None:
    loops = results.get("loops")
    return loops.get("train_speedup") if loops else None


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _n(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _workers_cells(row: dict) -> list[str]:
    """Train samples/s with workers = threads, and its ratio to PyTorch ("–" when not run)."""
    w = row.get(WORKERS)
    return [_n(w["train_samples_per_s"]), ratio_cell(row, "workers")] if w else ["–", "–"]


def ratio_cell(row: dict, engine: str = "numpy") -> str:
    """Median ratio, then the range over the rounds, e.g. "1.07x (1.02-1.35)"."""
    cell = f"{row[f'epoch_time_ratio_{engine}_over_torch']:.2f}x"
    spread_key = "epoch_time_ratios_all" if engine == "numpy" else f"epoch_time_ratios_{engine}_all"
    if spread := row.get(spread_key):
        cell += f" ({min(spread):.2f}-{max(spread):.2f})"
    return cell


def markdown(results: dict) -> str:
    """The README's tables: what was measured, which runs measured it, what failed, targets."""
    import results_store  # benchmarks/results_store.py: runs and failures across sections

    failures = results_store.failures(results)
    runs = results_store.runs_markdown(results)
    results = measured_only(results)
    m = results["meta"]
    parts = [
        f"{'Latest run' if runs else 'Measured'} {m['date']} on {m['cpus']} CPUs "
        f"({m['machine']}), {m['threads']} threads, "
        f"float32, numpy {m['numpy']}, "
        f"torch {m['torch'] or 'not used (not installed or --no-torch; torch columns skipped)'}"
        f"{', QUICK run' if m['quick'] else ''}. Medians of repeats; ratios from the same run."
        + (" Some sections come from earlier runs (below)." if runs else "")
    ]
    parts += runs
    busiest = max([r.get("others_cpu", 0) for r in results.get("configs", [])], default=0)
    if busiest >= 0.10:
        parts.append(
            f"**Warning: other processes used up to {busiest:.0%} of the CPUs during the config "
            "comparison; BLAS threads that wait for a descheduled sibling make every number "
            "slower and noisier. Rerun on an idle machine.**"
        )
    has_torch = any("torch" in r for r in results.get("configs", []))
    has_workers = any(WORKERS in r for r in results.get("configs", []))
    if results.get("configs"):
        parts.append("### Training and evaluation per config (batch 64; eval in batches of 1000)")
        header = ["config", "train samples/s", "eval samples/s", "peak RSS MB"]
        if has_torch:
            header += ["torch train/s", "torch eval/s", "torch peak MB", "epoch time numpy/torch"]
        if has_workers:
            header += ["train/s, workers = threads", "epoch time workers/torch"]
        header += ["rounds kept", "others' CPU"]
        rows = []
        for r in results["configs"]:
            n = r["numpy"]
            row = [
                f"{r['config']} (`{r['path']}`)",
                _n(n["train_samples_per_s"]),
                _n(n["eval_samples_per_s"]),
                _n(n["peak_rss_mb"]),
            ]
            if has_torch:
                t = r["torch"]
                row += [
                    _n(t["train_samples_per_s"]),
                    _n(t["eval_samples_per_s"]),
                    _n(t["peak_rss_mb"]),
                    ratio_cell(r),
                ]
            if has_workers:
                row += _workers_cells(r)
            row += [f"{r['rounds_used']}/{r['rounds_run']}", f"{r['others_cpu']:.0%}"]
            rows.append(row)
        parts.append(_table(header, rows))
        parts.append(
            "Peak RSS is the whole worker process (interpreter, libraries, random data). "
            "Rounds kept: repeats in which other processes used under 10% of the CPUs (all "
            "rounds are kept when none was that quiet); others' CPU: the most they used in a "
            "kept round. Epoch time numpy/torch: the median of the per-round ratios, then their "
            "range in brackets. Workers = threads: the same config with `train.workers` set to "
            "the thread count (one BLAS thread per process; the shipped configs train on one "
            "process, so the targets read the one-process ratio)."
        )
    if results.get("configs_1_thread"):
        parts.append("### The same on 1 thread (numpy and torch both limited to one thread)")
        rows = [
            [
                r["config"],
                _n(r["numpy"]["train_samples_per_s"]),
                _n(r["torch"]["train_samples_per_s"]),
                ratio_cell(r),
                f"{r['rounds_used']}/{r['rounds_run']}",
            ]
            for r in results["configs_1_thread"]
        ]
        parts.append(
            _table(
                ["config", "train samples/s", "torch train/s", "epoch time numpy/torch", "rounds"],
                rows,
            )
        )
    parts += templates_markdown(results)
    if results.get("inference"):
        import inference  # benchmarks/inference.py: the predict/eval rows

        parts += inference.markdown(results["inference"])
    if "loops" in results:
        lp = results["loops"]
        parts.append("### Direct loops (course network, `benchmarks/reference_loops.py`)")
        parts.append(
            _table(
                ["", "train samples/s", "eval samples/s"],
                [
                    [
                        "direct loops",
                        _n(lp["train_samples_per_s"], 1),
                        _n(lp["eval_samples_per_s"], 1),
                    ],
                    [
                        "engine (batch 64)",
                        _n(lp["engine_train_samples_per_s"]),
                        _n(lp["engine_eval_samples_per_s"]),
                    ],
                    [
                        "engine speedup",
                        f"{lp['train_speedup']:,.0f}x",
                        f"{lp['eval_speedup']:,.0f}x",
                    ],
                ],
            )
        )
        parts.append(
            f"Loops timed on {lp['samples']} samples, in alternation with the engine in one "
            "process (speedup: median of paired repeats); their gradients match the engine's to "
            f"{lp['max_grad_diff_vs_engine']:.1e}."
        )
    if "layers" in results:
        parts.append("### Per layer, batch 64 (milliseconds, median)")
        engine = results["layers"]["numpy"]
        torch_rows = results["layers"].get("torch")
        header = ["layer", "forward", "backward"] + (
            ["torch fwd", "torch bwd"] if torch_rows else []
        )
        rows = []
        for i, r in enumerate(engine):
            row = [r["layer"], _n(r["forward_ms"], 2), _n(r["backward_ms"], 2)]
            if torch_rows:
                row += [_n(torch_rows[i]["forward_ms"], 2), _n(torch_rows[i]["backward_ms"], 2)]
            rows.append(row)
        parts.append(_table(header, rows))
    if results.get("scaling"):
        parts.append(
            "### Scaling (conv C k7 s2 -> conv C k5 same -> maxpool -> global avg -> dense; Adam)"
        )
        rows = [
            [
                r["axis"],
                r["channels"],
                r["length"],
                r["batch"],
                _n(r["step_s"] * 1000, 1),
                _n(r["samples_per_s"]),
                _n(r["peak_rss_mb"]),
                _n(r["largest_cols_mb"], 1),
                f"{r.get('others_cpu', 0):.0%}",
            ]
            for r in results["scaling"]
        ]
        parts.append(
            _table(
                [
                    "varied",
                    "channels",
                    "length",
                    "batch",
                    "ms/step",
                    "samples/s",
                    "peak RSS MB",
                    "largest conv buffer MB",
                    "others' CPU",
                ],
                rows,
            )
        )
        parts.append(
            "A convolution's working buffers (im2col columns, or the tap path's batch-inside "
            "input and output grid) are capped by `conv1d_cli.nn.functional.MAX_COLS_BYTES` "
            "(16 MiB): larger batches are convolved in chunks. Activations themselves grow "
            "linearly with length, channels and batch."
        )
    if "memory" in results:
        mem = results["memory"]
        parts.append("### Fashion-MNIST epoch (`configs/fashion-mnist.yaml`, batch 128)")
        parts.append(
            _table(
                ["samples", "train samples/s", "eval samples/s", "peak RSS MB", "data"],
                [
                    [
                        f"{mem['samples']:,}",
                        _n(mem["train_samples_per_s"]),
                        _n(mem["eval_samples_per_s"]),
                        _n(mem["peak_rss_mb"]),
                        mem["data"],
                    ]
                ],
            )
        )
    if "largedata" in results and not failed(results["largedata"]):
        big = results["largedata"]
        parts.append(
            f"### Larger than memory: a {big['x_npy_mb']:,} MB memory-mapped `x.npy` "
            f"({big['n_mapped']:,} x 1 x {big['length']:,}) against an in-memory npz of 40,000 "
            "(`benchmarks/largedata.py`, one BLAS thread)"
        )
        cells = []
        for kind, what in (("mapped", "memory-mapped folder"), ("npz", "in-memory npz")):
            if kind in big:
                row = big[kind]
                cells.append([what, _n(row["train_samples_per_s"]), _n(row["peak_rss_anon_mb"])])
        parts.append(_table(["data", "train samples/s (median)", "peak RssAnon MB"], cells))
    if failures:
        parts.append("### Failed measurements (no numbers; their targets say failed)")
        parts.append("\n".join(f"- {line}" for line in failures))
    if "targets" in results:
        parts.append("### Targets")
        rows = [[name, _n(t["value"], 2), t["status"]] for name, t in results["targets"].items()]
        parts.append(_table(["target", "measured", "status"], rows))
    return "\n\n".join(parts) + "\n"


def write_readme(path: Path, tables: str) -> None:
    """benchmarks/README.md: the fixed text of readme_head.md, then the tables."""
    head = Path(__file__).with_name("readme_head.md").read_text()
    path.write_text(head + tables)
