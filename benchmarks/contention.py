"""How much of the machine other processes used during a measurement (Linux /proc).

On a shared 2-core machine a concurrent job makes BLAS threads wait for descheduled siblings,
and timings drop by 10-100x. The benchmark measures, for every repeat, the CPU time all
processes used (/proc/stat) minus its own (the measured processes' utime + stime), as a share
of wall time x CPUs, and prefers repeats where that share stayed small.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
CLEAN = 0.10  # a repeat is clean when others used less than 10% of the machine


def _busy_seconds() -> float:
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return 0.0
    return (sum(values) - values[3] - values[4]) / TICK  # minus idle and iowait


def with_children(pids: list[int]) -> list[int]:
    """``pids`` and their child processes (a data-parallel engine's workers are its own)."""
    found = list(pids)
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            found += [int(v) for v in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return found


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    own = resource.getrusage(resource.RUSAGE_SELF)
    done = resource.getrusage(resource.RUSAGE_CHILDREN)  # fresh processes, once reaped
    return total + own.ru_utime + own.ru_stime + done.ru_utime + done.ru_stime


class Meter:
    """``with Meter(pids) as m: ...`` then ``m.others``: other processes' share of the CPUs."""

    def __init__(self, pids: list[int] | None = None) -> None:
        self.pids = with_children(list(pids or []))
        self.others = 0.0

    def __enter__(self) -> Meter:
        self._start = (time.perf_counter(), _busy_seconds(), _cpu_seconds(self.pids))
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._start[0]
        busy = _busy_seconds() - self._start[1]
        own = _cpu_seconds(self.pids) - self._start[2]
        self.others = max(0.0, busy - own) / max(wall * (os.cpu_count() or 1), 1e-9)
