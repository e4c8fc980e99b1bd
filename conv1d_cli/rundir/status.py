"""Every status a run can have: the one table (docs/runs.md "Run statuses" mirrors it).

``summary.json`` holds the status the training process last wrote. ``crashed`` is never written:
it is what ``conv1d runs`` shows for a run whose summary says ``running`` while no live process
holds its lock (killed with -9, out of memory, power cut). ``pruned`` is written by the sweep
driver over the ``interrupted`` its trial wrote, once the trial's process has exited, and only
when the stop ended it before its last epoch: a stop that arrives later changes nothing (the run
says ``completed``, and so does the sweep; conv1d_cli.sweep.sweepdir.settle_status).
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    EARLY_STOPPED = "early_stopped"
    INTERRUPTED = "interrupted"
    PRUNED = "pruned"
    DIVERGED = "diverged"
    FAILED = "failed"
    CRASHED = "crashed"


MEANING: dict[RunStatus, str] = {
    RunStatus.RUNNING: "a live process is training it (its lock is held)",
    RunStatus.COMPLETED: "trained all train.epochs; test metrics in summary.json",
    RunStatus.EARLY_STOPPED: "stopped by train.early_stopping; finished",
    RunStatus.INTERRUPTED: "Ctrl-C or SIGTERM; last.safetensors saved, resumable (exit 130/143)",
    RunStatus.PRUNED: "a sweep's pruner (early_terminate) stopped it before its last epoch: "
    "last.safetensors saved, curves.png drawn (output.plots); "
    "the sweep counts it as finished, conv1d train --resume trains it on",
    RunStatus.DIVERGED: "the loss became NaN/inf; the last good checkpoint is kept (exit 3)",
    RunStatus.FAILED: "an error ended it (disk full: exit 4; a bug: exit 1); the message is "
    "in summary.json's error; resumable from last.safetensors",
    RunStatus.CRASHED: "summary.json says running but no live process holds the lock (killed, "
    "out of memory, power cut): resumable from last.safetensors",
}
