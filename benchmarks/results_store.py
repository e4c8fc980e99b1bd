"""results.json across runs: a partial run (``--sections``) replaces only the sections it ran.

``bench.py --sections templates`` used to overwrite results.json with the templates alone, so
every other table vanished from benchmarks/README.md. Here the previous file's other sections
are kept, each with the run that measured it (``section_runs``: date, threads, torch version,
quick or not), and the README says which table comes from which run. Failed comparisons are
stored as such (a row or section with a ``"failed"`` message) so no old number stands in for a
measurement that did not happen.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# A section writes the results key of its own name, except these (configs adds 1-thread rows).
SECTION_KEYS = {
    "configs": ("configs", "configs_1_thread"),
    "templates": ("templates", "templates_1_thread"),
}
RUN_KEYS = ("date", "quick", "threads", "cpus", "machine", "numpy", "torch", "command")


def keys_of(section: str) -> tuple[str, ...]:
    """The results.json keys that ``section`` writes."""
    return SECTION_KEYS.get(section, (section,))


def load_previous(path: Path) -> dict | None:
    """The previous results.json, or None when absent or unreadable (a one-line note then)."""
    try:
        previous = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        print(f"note: {path} is unreadable ({exc}); its sections are not kept", flush=True)
        return None
    if not isinstance(previous, dict) or not isinstance(previous.get("meta"), dict):
        print(f"note: {path} has no 'meta' entry; its sections are not kept", flush=True)
        return None
    return previous


def run_info(meta: dict) -> dict:
    """What identifies a run in the README: date, threads, torch, quick, machine."""
    return {k: meta.get(k) for k in RUN_KEYS}


def _runs_of(previous: dict, sections: tuple[str, ...]) -> dict[str, dict]:
    """Section -> run info of a previous file; files written before section_runs: its meta."""
    if isinstance(previous.get("section_runs"), dict):
        return previous["section_runs"]
    return {
        s: run_info(previous["meta"]) for s in sections if any(k in previous for k in keys_of(s))
    }


def merge(previous: dict | None, fresh: dict, ran: list[str], sections: tuple[str, ...]) -> dict:
    """``fresh``'s sections for those in ``ran``, ``previous``'s for the others.

    The result's "meta" is this run's; "section_runs" maps every present section to the run
    that measured it. Targets are not merged: the caller recomputes them from what is present.
    """
    merged: dict[str, Any] = {"meta": fresh["meta"], "section_runs": {}}
    old_runs = _runs_of(previous, sections) if previous else {}
    for section in sections:
        if section in ran:
            source, run = fresh, run_info(fresh["meta"])
        else:
            source, run = previous or {}, old_runs.get(section)
        present = [k for k in keys_of(section) if k in source]
        if not present or run is None:
            continue
        for key in present:
            merged[key] = source[key]
        merged["section_runs"][section] = run
    return merged


def write_json(path: Path, results: dict) -> None:
    """Write atomically: a crash mid-write leaves the old results.json, never half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)


def failures(results: dict) -> list[str]:
    """Every failure message in ``results``: failed sections, rows and per-engine entries."""
    found: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("failed"), str):
                found.append(value["failed"])
                return
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    for key, value in results.items():
        if key not in ("meta", "section_runs", "targets"):
            visit(value)
    return found


def runs_markdown(results: dict) -> list[str]:
    """Which run measured which section, when the sections come from more than one run."""
    runs = results.get("section_runs") or {}
    if len({json.dumps(r, sort_keys=True) for r in runs.values()}) <= 1:
        return []
    lines = [
        "| section | measured | threads | torch | quick run |",
        "|---|---|---|---|---|",
    ]
    for section, run in runs.items():
        torch = run.get("torch") or "not used"
        quick = "yes" if run.get("quick") else "no"
        lines.append(
            f"| {section} | {run.get('date')} | {run.get('threads')} | {torch} | {quick} |"
        )
    return [
        "### Sections and the runs that measured them",
        "\n".join(lines),
        "A run with `--sections` replaces only the sections it ran; the others are kept from "
        "earlier runs, so compare dates before comparing tables.",
    ]
