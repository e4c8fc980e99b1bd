"""The sweep driver: hands trials to an executor, watches their metrics.csv, records results.

It never trains anything itself. ``runs/<sweep>/`` holds the resolved sweep file (sweep.yaml),
the driver's state (state.json), each trial's config (configs/) and log (logs/), one ordinary
run directory per trial, trials.csv, best.yaml and metric.png. Running the same sweep again
resumes it: finished trials are kept, the others continue from their checkpoints.
"""

from __future__ import annotations

import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from conv1d_cli.config import Config, config_to_yaml, load_config
from conv1d_cli.errors import ConfigError, Conv1dError, TrainingInterrupted
from conv1d_cli.rundir.atomic import atomic_write_text
from conv1d_cli.sweep.executors import TASK_LOST, Executor, LocalExecutor, TrialJob, cores
from conv1d_cli.sweep.plan import Plan
from conv1d_cli.sweep.report import Progress, TrialRecord, write_trials_csv
from conv1d_cli.sweep.search import Search, make_search
from conv1d_cli.sweep.spec import CSV_METRICS, TEST_KEYS, task_mismatch
from conv1d_cli.sweep.sweepdir import (
    mark_pruned,
    open_sweep_dir,
    read_json,
    read_metric_rows,
    settle_status,
    write_outputs,
    write_state,
)
from conv1d_cli.training.stopsignals import on_stop_signals

POLL_SECONDS = 0.1
STOP_WAIT_SECONDS = 120  # a stopped trial finishes its current step and saves; never cut that off


class SweepFailed(Conv1dError):
    """No trial of the sweep completed: exit code 1."""

    exit_code = 1


@dataclass
class SweepResult:
    sweep_dir: Path
    records: list[TrialRecord]
    best: TrialRecord | None


@dataclass
class _Running:
    record: TrialRecord
    job: TrialJob
    handle: Any
    epochs: int  # the trial's train.epochs: a trial at its last epoch is never pruned
    pruning: bool = False
    last_epoch: int = 0


def make_executor(plan: Plan, workers: int | None, console: Console) -> Executor:
    spec = plan.sweep.spec.executor
    if spec.type == "dask":
        from conv1d_cli.sweep.cluster import dask_executor

        return dask_executor(spec, workers)
    if spec.type == "slurm":
        from conv1d_cli.sweep.cluster import slurm_executor

        return slurm_executor(spec, workers, plan.sweep_dir / "slurm")
    wanted = workers or spec.workers or cores()
    if wanted > cores():
        console.print(
            f"{wanted} workers > {cores()} cores: running {cores()} at once", markup=False
        )
    return LocalExecutor(min(wanted, cores()))


def warn_workers_over_threads(plan: Plan, threads: int, console: Console) -> None:
    """One line when the base config's train.workers exceeds the cores a trial gets: its
    processes would then share cores and train slower than one (nn/dataparallel.py)."""
    workers = Config.model_validate(plan.sweep.base_raw).train.workers
    if workers > threads:
        console.print(
            f"note: the base config trains on {workers} processes (train.workers) but each "
            f"trial gets {threads} core{'s' if threads != 1 else ''}: set train.workers to "
            f"{threads} in the base config, or run fewer trials at once (--workers)",
            markup=False,
            soft_wrap=True,
        )


def run_sweep(
    plan: Plan, *, workers: int | None, console: Console, resume_command: str
) -> SweepResult:
    """Run (or resume) the sweep to the end; Ctrl-C stops every trial cleanly (exit 130)."""
    records = open_sweep_dir(plan)
    search = make_search(plan.sweep.spec, plan.max_epochs)
    for r in records:
        if r.finished and r.params is not None:
            search.restore(r.index, r.params, r.status, r.metric, r.epoch_metrics)
    executor = make_executor(plan, workers, console)
    where = plan.sweep.spec.executor.type
    threads = (
        f" ({executor.threads} BLAS threads each)" if isinstance(executor, LocalExecutor) else ""
    )
    done = sum(r.finished for r in records)
    console.print(
        f"sweep {plan.name}: {search.total} trials ({plan.sweep.spec.method}), {done} finished "
        f"before; {executor.slots} at once on {where}{threads} -> {plan.sweep_dir}",
        markup=False,
        soft_wrap=True,
    )
    if isinstance(executor, LocalExecutor):
        warn_workers_over_threads(plan, executor.threads, console)
    keys = plan.sweep.spec.varied() or list(plan.sweep.spec.parameters)
    spec = plan.sweep.spec
    progress = Progress(console, spec.metric.name, keys, spec.metric.maximize)
    driver = _Driver(plan, search, executor, records, progress)
    try:
        with on_stop_signals(_raise_interrupt):
            driver.run()
    except KeyboardInterrupt:
        driver.stop_all()
        stopped = sum(r.status == "interrupted" for r in records)
        raise TrainingInterrupted(
            f"sweep interrupted: {stopped} trials stopped and saved; resume with: {resume_command}",
            signal.SIGINT,
        ) from None
    except BaseException:
        driver.stop_all()  # never leave trials running behind an error
        raise
    finally:
        progress.close()
        executor.close()
        best = write_outputs(plan, records, keys)
    if best is None:
        raise SweepFailed(f"no trial of sweep {plan.name} completed; see {plan.sweep_dir}/logs/")
    return SweepResult(plan.sweep_dir, records, best)


def _raise_interrupt(signal_number: int, frame: Any) -> None:
    """Ctrl-C and SIGTERM both stop the sweep cleanly, whatever handlers were installed."""
    raise KeyboardInterrupt


class _Driver:
    def __init__(
        self,
        plan: Plan,
        search: Search,
        executor: Executor,
        records: list[TrialRecord],
        progress: Progress,
    ) -> None:
        self.plan, self.search, self.executor = plan, search, executor
        self.records, self.progress = records, progress
        self.metric = plan.sweep.spec.metric
        self.running: dict[int, _Running] = {}
        self.held: set[int] = set()  # stopped by someone else this session: not restarted now
        self.dir = plan.sweep_dir
        # Set when a trial's runs lack the metric (the other task): run() raises it after the
        # poll that found it; stop_all()'s polls then wait for the trials without raising again.
        self.wrong_task: ConfigError | None = None

    def run(self) -> None:
        while True:
            while len(self.running) < self.executor.slots and (record := self._next()):
                self._start(record)
            self._poll()
            if self.wrong_task is not None:
                raise self.wrong_task
            if not self.running and self._next(peek=True) is None:
                return
            time.sleep(POLL_SECONDS)

    def _next(self, peek: bool = False) -> TrialRecord | None:
        for r in self.records:
            if r.index >= self.search.total:  # beyond a run_cap lowered since
                continue
            if not r.finished and r.index not in self.running and r.index not in self.held:
                return r
        if len(self.records) < self.search.total:
            record = TrialRecord(len(self.records), None)  # type: ignore[arg-type]  (bayes)
            if not peek:
                self.records.append(record)
            return record
        return None

    def _start(self, record: TrialRecord) -> None:
        record.params = self.search.start(record.index, record.params)
        config = self.dir / "configs" / f"{record.name}.yaml"
        if not config.exists():
            try:
                cfg = self.plan.trial_config(record.params, record.name)
            except ConfigError as exc:  # bayes only: grid and random were all checked up front
                record.status, record.note = "failed", str(exc)
                self.search.finish(record.index, "failed", None)
                self._save(record)
                return
            output = cfg.output.model_copy(update={"runs_dir": str(self.dir)})
            cfg = cfg.model_copy(update={"name": record.name, "output": output})
            config.parent.mkdir(exist_ok=True)
            atomic_write_text(config, config_to_yaml(cfg))
        job = TrialJob(
            name=record.name,
            config=str(config),
            sweep_dir=str(self.dir),
            cwd=os.getcwd(),
            log=str(self.dir / "logs" / f"{record.name}.log"),
            stop_file=str(self.dir / ".stop" / record.name),
        )
        record.status, record.note = "running", ""
        epochs = load_config(config).train.epochs
        self.running[record.index] = _Running(record, job, self.executor.submit(job), epochs)
        self._save()

    def _poll(self) -> None:
        for index, run in list(self.running.items()):
            self._read_epochs(run)
            code = self.executor.poll(run.handle)
            if code is not None:
                del self.running[index]
                self._read_epochs(run)
                self._finish(run, code)
        self.progress.refresh(self.records)

    def _read_epochs(self, run: _Running) -> None:
        rows = read_metric_rows(run.job.run_dir / "metrics.csv")
        run.record.epochs = len(rows)
        if self.metric.name not in CSV_METRICS:
            return
        if rows and self.metric.name not in rows[0]:
            self._wrong_task(run.record.name, "train_r2" in rows[0])
            return
        for row in rows:
            epoch, value = int(row["epoch"]), row[self.metric.name]
            if epoch <= run.last_epoch:
                continue
            run.last_epoch = epoch
            run.record.epoch_metrics[epoch] = value
            if run.pruning or epoch >= run.epochs:
                continue  # decided already, or nothing left to prune: the trial is ending
            if self.search.report(run.record.index, epoch, value):
                # Only a request: the trial may finish its last epoch before it arrives (Dask
                # polls a stop file). Its status is settled from its own files once it exits.
                run.pruning = True
                self.executor.stop(run.handle)

    def _finish(self, run: _Running, code: int) -> None:
        record = run.record
        summary = read_json(run.job.run_dir / "summary.json")
        record.seconds = summary.get("wall_seconds")
        record.metric = self._metric(record, summary)
        record.status = settle_status(
            code, summary.get("status"), record.epochs, run.epochs, run.pruning
        )
        if record.status == "pruned":  # its summary.json says interrupted: tell it from a Ctrl-C
            record.note = mark_pruned(run.job.run_dir) or ""
        elif record.status == "diverged":
            record.note = f"log: {run.job.log}"
        elif code == TASK_LOST:  # the cluster gave up on the task (its workers kept dying):
            why = getattr(self.executor, "error", lambda h: None)(run.handle)
            # not the trial's fault; the next session resumes it
            record.note = f"lost on the cluster ({why}); rerun the sweep to resume it"
        elif record.status == "failed":
            record.note = f"exit {code}; log: {run.job.log}"
        elif record.status == "interrupted" and run.pruning:
            record.note = "stopped after its last epoch, before its summary; rerun to finish it"
        if record.status == "interrupted":
            self.held.add(record.index)
        else:
            self.search.finish(record.index, record.status, record.metric)
        self._save(record)

    def _wrong_task(self, trial: str, regression: bool) -> None:
        """The metric is not one of the trial's (a base config with ``task: auto`` whose data
        turned out the other task): one ConfigError line, and the sweep stops every trial."""
        if self.wrong_task is not None:
            return
        task = "regression" if regression else "classification"
        why = task_mismatch(self.metric.name, task) or f"{trial} has no {self.metric.name}"
        self.wrong_task = ConfigError(
            f"{self.plan.sweep.path}: {why} (task: auto, settled by {trial}'s data); after fixing "
            f"it remove {self.dir} or give the sweep another name"
        )

    def _metric(self, record: TrialRecord, summary: dict[str, Any]) -> float | None:
        name = self.metric.name
        if name.startswith("test_"):
            test = summary.get("test") or {}
            if test and TEST_KEYS[name] not in test:
                self._wrong_task(record.name, "r2" in test)
            return test.get(TEST_KEYS[name])
        values = [v for v in record.epoch_metrics.values() if math.isfinite(v)]
        return ((max if self.metric.maximize else min)(values)) if values else None

    def _save(self, finished: TrialRecord | None = None) -> None:
        write_state(self.plan, self.records)
        if finished is not None:
            keys = self.plan.sweep.spec.varied() or list(self.plan.sweep.spec.parameters)
            write_trials_csv(self.dir / "trials.csv", self.records, keys, self.metric.name)
            self.progress.finished(finished, self.records)

    def stop_all(self) -> None:
        """Ask every running trial to save and exit; wait for them (a second Ctrl-C: stop now)."""
        for run in self.running.values():
            self.executor.stop(run.handle)
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        try:
            while self.running and time.monotonic() < deadline:
                self._poll()
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            pass
        for run in self.running.values():
            run.record.status = "interrupted"
        write_state(self.plan, self.records)
