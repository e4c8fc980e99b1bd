"""The training loop: epochs, validation, best/last checkpoints, early stopping, interrupts.

One ``np.random.Generator`` (seeded from the config) drives weight init, shuffling, augmentation
and dropout. Its state is saved in every checkpoint together with the position inside the epoch,
so a resumed run draws exactly the numbers an uninterrupted one would: same weights, bit for bit.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.build.class_weights import loss_weights
from conv1d_cli.build.objects import build_data_parallel, build_schedule
from conv1d_cli.config import Config
from conv1d_cli.errors import StorageError, TrainingDiverged, TrainingInterrupted, WorkerLost
from conv1d_cli.parallel.dataparallel import WorkerError
from conv1d_cli.rundir.atomic import write_json
from conv1d_cli.rundir.checkpoints import Checkpoint, save_checkpoint
from conv1d_cli.rundir.layout import json_safe, read_started, versions
from conv1d_cli.rundir.metrics_log import MetricsLog
from conv1d_cli.rundir.status import RunStatus
from conv1d_cli.task import TASKS, add_tallies, higher_is_better
from conv1d_cli.training.diagnostics import warn_if_stuck
from conv1d_cli.training.progress import Reporter, SilentReporter, format_epoch_line
from conv1d_cli.training.report import curves_title, evaluate, plot_curves, untrained_row
from conv1d_cli.training.state import LoopState, RunResult
from conv1d_cli.training.stopsignals import stop_on_signals


class Trainer:
    """Runs the epochs of one run directory; knows nothing about which layers exist."""

    metrics_log_type: Any = MetricsLog  # the estimator's in-memory trainer swaps the files out
    test_result: dict[str, float] | None = None  # set at the end; curves.png's title shows it
    deadline: float | None = None  # a time.perf_counter() the loop ends by (train.max_minutes)

    def __init__(
        self,
        cfg: Config,
        model: Any,
        loss_fn: Any,
        optimizer: Any,
        data: Any,
        rng: np.random.Generator,
        run_dir: Path,
        reporter: Reporter | None = None,
        state: LoopState | None = None,
        resume_command: str = "",
    ) -> None:
        self.cfg = cfg
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.data, self.rng = data, rng
        self.run_dir = Path(run_dir)
        self.reporter = reporter or SilentReporter()
        self.state = state or LoopState()
        self.resume_command = resume_command or f"conv1d train --resume {self.run_dir}"
        self.dtype = np.dtype(cfg.train.dtype)
        self.batch_size = cfg.train.batch_size
        self.n_train = len(data.y_train)
        self.steps_per_epoch = max(1, math.ceil(self.n_train / self.batch_size))
        self.schedule = build_schedule(
            cfg.schedule, cfg.optimizer.lr, self.steps_per_epoch, cfg.train.epochs
        )
        self.task = TASKS[data.task]
        self.metrics = self.metrics_log_type(self.run_dir, self.task.columns())
        self.rows = self.metrics.truncate_to_epoch(self.state.epoch)
        self.stop_signal: int | None = None
        self.summary_extra: dict[str, Any] = {}  # kept in every summary.json (e.g. lr_auto)
        self.checkpoints = self.run_dir / "checkpoints"
        self._x_val = data.x_val.astype(self.dtype, copy=False)
        self._session_start = time.perf_counter()
        self._started = read_started(self.run_dir)  # the first session's start, kept on resume

    # ------------------------------------------------------------------------- the loop
    def fit(self) -> RunResult:
        """Train until ``train.epochs``, early stopping, the deadline, divergence or a stop signal.

        Every ending leaves a true status in summary.json (see runstatus.py); an unexpected
        error leaves ``failed`` and its one-line message, then propagates.
        """
        try:
            with self._workers():
                return self._fit()
        except (TrainingInterrupted, TrainingDiverged):
            raise  # they wrote their own status
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, without a checkpoint
            self._record_ending(RunStatus.INTERRUPTED)
            raise
        except StorageError as exc:
            self._record_ending(RunStatus.FAILED, str(exc))
            raise StorageError(f"{exc}; {self._resume_hint()}") from exc
        except WorkerError as exc:  # a fault of the machine (a kill, OOM), not of the config
            self._record_ending(RunStatus.FAILED, str(exc))
            raise WorkerLost(f"{exc}; {self._resume_hint(after='')}") from exc
        except Exception as exc:
            text = (str(exc).strip().splitlines() or [""])[0]
            self._record_ending(RunStatus.FAILED, f"{type(exc).__name__}: {text}")
            raise

    @contextlib.contextmanager
    def _workers(self) -> Iterator[None]:
        """With ``train.workers`` > 1, ``self.model`` trains on that many processes meanwhile."""
        if self.cfg.train.workers == 1:
            yield
            return
        model = self.model
        with build_data_parallel(
            model, self.cfg.train.workers, self.reporter.message
        ) as self.model:
            try:
                yield
            finally:
                self.model = model

    def _fit(self) -> RunResult:
        epochs, monitor = self.cfg.train.epochs, self.cfg.output.monitor
        self.state.status = RunStatus.RUNNING
        self._write_summary()
        with stop_on_signals(self):
            # A regression run monitoring validation starts at the training mean (build_network):
            # that network is its first best, so nothing worse than the mean is ever kept.
            regression_val = self.task.name == "regression" and monitor.startswith("val_")
            fresh = self.state.best_value is None and self.state.step == 0
            if fresh and (epochs == 0 or regression_val):
                self._keep_untrained()
            while self.state.epoch < epochs:
                started = time.perf_counter()
                self._end_epoch(self._train_epoch())
                if self._early_stop_due() or self._out_of_time(time.perf_counter() - started):
                    break
                if self.stop_signal is not None and self.state.epoch < epochs:
                    self._interrupt()
            if self.state.status == RunStatus.RUNNING:
                self.state.status = RunStatus.COMPLETED
            # Still under the handlers: a stop asked for once the last epoch is done (a sweep's
            # late prune) must not kill the run between its summary and its curves.
            return self._finish()

    def _train_epoch(self) -> dict[str, float]:
        state = self.state
        epoch = state.epoch + 1
        if state.order is None:  # a fresh epoch (not the rest of an interrupted one)
            state.order = self.rng.permutation(self.n_train)
            state.batch, state.loss_sum, state.tally, state.seen, state.seconds = 0, 0.0, {}, 0, 0.0
        self.model.train()
        self.reporter.epoch_start(
            epoch, self.cfg.train.epochs, self.steps_per_epoch, state.batch, self.task.metrics
        )
        scaling = self.data.target_scaling
        x_all, y_all = self.data.prefetching(state.order, self.batch_size), self.data.y_train
        while state.batch < self.steps_per_epoch:
            started = time.perf_counter()
            index = state.order[state.batch * self.batch_size : (state.batch + 1) * self.batch_size]
            x = self.data.augment(x_all[index], self.rng).astype(self.dtype, copy=False)
            y = y_all[index]
            outputs = self.model.forward(x)
            loss = float(self.loss_fn.forward(outputs, y))
            if not math.isfinite(loss):
                self._diverged(epoch, loss)
            self.model.backward(self.loss_fn.backward(), input_grad=False)
            self.optimizer.lr = self.schedule.lr_at(state.step)
            self.optimizer.step(self.model.parameters(), self.model.gradients())
            state.step += 1
            state.batch += 1
            state.loss_sum += loss * len(y)
            add_tallies(state.tally, self.task.tally(outputs, y, scaling))
            state.seen += len(y)
            state.seconds += time.perf_counter() - started
            scores = self.task.scores(state.tally, state.seen, scaling)
            self.reporter.step(
                state.batch,
                state.loss_sum / state.seen,
                scores[self.task.metrics[0]],
                state.seen / max(state.seconds, 1e-9),
            )
            if self.stop_signal is not None and state.batch < self.steps_per_epoch:
                self._interrupt()
            if self.deadline is not None and time.perf_counter() > self.deadline:
                break  # train.max_minutes: the epoch ends here, and _out_of_time the run
        self.last_val = val = evaluate(  # the outputs too (cross-validation's folds read them)
            self.model,
            self.loss_fn,
            self._x_val,
            self.data.y_val,
            self.cfg.train.eval_batch_size,
            self.task,
            scaling,
        )
        train = self.task.scores(state.tally, state.seen, scaling)
        return {
            "epoch": epoch,
            "train_loss": state.loss_sum / state.seen,
            **{f"train_{name}": value for name, value in train.items()},
            "val_loss": val.loss,
            **{f"val_{name}": value for name, value in val.scores.items()},
            "lr": float(self.optimizer.lr),
            "epoch_seconds": state.seconds,
            "samples_per_s": state.seen / max(state.seconds, 1e-9),
        }

    def _keep_untrained(self) -> None:
        """The network as built (``train.epochs: 0``, or the training mean of a regression run
        with validation) saved as best and last at epoch 0, its scores in their meta."""
        row = untrained_row(self.model, self.loss_fn, self.data, self.cfg.train.eval_batch_size)
        self.state.best_value, self.state.best_epoch = row[self.cfg.output.monitor], 0
        self._save("best", row)
        self._save("last", row)

    def _end_epoch(self, row: dict[str, float]) -> None:
        state = self.state
        state.epoch = int(row["epoch"])
        state.order, state.batch = None, 0
        monitor = self.cfg.output.monitor
        value = row[monitor]
        improved = self._is_improvement(value)
        if improved:
            state.best_value, state.best_epoch, state.bad_epochs = value, state.epoch, 0
        else:
            state.bad_epochs += 1
        line = format_epoch_line(row, self.cfg.train.epochs, improved)
        self.rows.append(row)
        self.metrics.append(row, line)
        if improved:  # best before last: a failure between them leaves a consistent pair
            self._save("best", row)
        self._save("last", row)
        self._write_summary()
        self.reporter.epoch_end(row, line, improved)
        warn_if_stuck(self, row)  # once, after the first few epochs, when still at chance

    def _is_improvement(self, value: float) -> bool:
        best = self.state.best_value
        if best is None:
            return True
        es = self.cfg.train.early_stopping
        min_delta = es.min_delta if es else 0.0
        if higher_is_better(self.cfg.output.monitor):
            return value > best + min_delta
        return value < best - min_delta

    def _early_stop_due(self) -> bool:
        es, bad = self.cfg.train.early_stopping, self.state.bad_epochs
        if es is None or bad < es.patience:
            return False
        self.state.status, monitor = RunStatus.EARLY_STOPPED, self.cfg.output.monitor
        self.reporter.message(f"early stopping: {monitor} did not improve for {bad} epochs")
        return True

    def _out_of_time(self, epoch_seconds: float) -> bool:
        """Past ``deadline`` (train.max_minutes on a machine slower than planned) with another
        epoch of ``epoch_seconds``: the run ends here, completed."""
        epoch, epochs, deadline = self.state.epoch, self.cfg.train.epochs, self.deadline
        if deadline is None or epoch >= epochs or time.perf_counter() + epoch_seconds <= deadline:
            return False
        self.summary_extra["stopped_by_time_budget"] = {"epoch": epoch, "of": epochs}
        self.reporter.message(f"time budget (train.max_minutes): stopped after epoch {epoch}")
        return True

    # ----------------------------------------------------------------- faults and endings
    def request_stop(self, signal_number: int) -> None:
        self.stop_signal = signal_number

    def _record_ending(self, status: RunStatus, error: str | None = None) -> None:
        """Best effort: on a full disk even summary.json may not be writable."""
        self.state.status = status
        with contextlib.suppress(OSError, StorageError):
            self._write_summary(extra={"error": error} if error else None)

    def _resume_hint(self, after: str = "free space") -> str:
        """Where the run stands and how to go on, after ``after`` (what the user fixes first)."""
        first = f"{after}, then " if after else ""
        last = self.checkpoints / "last.safetensors"
        if not last.exists():
            return f"no checkpoint was saved yet: {first}train again"
        return f"{last} is intact: {first}resume with: {self.resume_command}"

    def _interrupt(self) -> None:
        state = self.state
        state.status = RunStatus.INTERRUPTED
        self._save("last", self.rows[-1] if self.rows else {})
        self._write_summary()
        self._plot()
        where = f"epoch {state.epoch + 1}, batch {state.batch}/{self.steps_per_epoch}"
        if state.batch == 0:
            where = f"the end of epoch {state.epoch}"
        raise TrainingInterrupted(
            f"interrupted at {where}; saved {self.checkpoints / 'last.safetensors'}; "
            f"resume with: {self.resume_command}",
            self.stop_signal or signal.SIGINT,
        )

    def _diverged(self, epoch: int, loss: float) -> None:
        self.state.status = RunStatus.DIVERGED
        self._write_summary(extra={"diverged_at": {"epoch": epoch, "batch": self.state.batch}})
        self._plot()
        raise TrainingDiverged(
            f"training diverged: the loss became {loss} at epoch {epoch}, batch "
            f"{self.state.batch + 1}; the last good checkpoint is kept in {self.checkpoints}. "
            "Lower optimizer.lr or set optimizer.clip_grad_norm"
        )

    def _finish(self) -> RunResult:
        test = self.test_result = self._test_metrics()
        summary = self._write_summary(test=test)
        self._plot()
        return RunResult(self.run_dir, self.state.status, summary)

    def _test_metrics(self) -> dict[str, float] | None:
        """Test loss/accuracy of the best checkpoint's weights (what ``conv1d eval`` reads)."""
        if len(self.data.y_test) == 0:
            return None
        from conv1d_cli.rundir.checkpoints import load_checkpoint

        best = self.checkpoints / "best.safetensors"
        if best.exists():
            self.model.load_state_dict(load_checkpoint(best).model_state)
        result = evaluate(
            self.model,
            self.loss_fn,
            self.data.x_test.astype(self.dtype, copy=False),
            self.data.y_test,
            self.cfg.train.eval_batch_size,
            self.task,
            self.data.target_scaling,
        )
        return result.test_metrics()

    # --------------------------------------------------------------------------- files
    def _save(self, kind: str, row: dict[str, float]) -> None:
        state = self.state
        meta = {
            "kind": kind,
            "config": self.cfg.model_dump(mode="json"),
            "epoch": state.epoch,
            "metrics": row,
            "state": state.to_meta(),
            "rng_state": self.rng.bit_generator.state,
            "data": {
                "class_names": list(self.data.class_names),
                "normalization": self.data.normalization,
                "sample_shape": list(self.data.sample_shape),
                "description": self.data.description,
                # predict pads shorter series only for a run trained on padded ones (issue 22)
                "padded": self.data.padded,
                "test_split": self.data.test_split,
                "task": self.data.task,
                "target_scaling": self.data.target_scaling,
                "target_names": list(self.data.target_names),
                "class_weight": loss_weights(self.loss_fn, self.data.class_names),
            },
        }
        extra = {"order": state.order} if state.order is not None else {}
        checkpoint = Checkpoint(self.model.state_dict(), self.optimizer.state_dict(), meta, extra)
        save_checkpoint(self.checkpoints / f"{kind}.safetensors", checkpoint)

    def _write_summary(
        self, test: dict[str, float] | None = None, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        state = self.state
        now = time.perf_counter()
        state.wall_seconds += now - self._session_start
        self._session_start = now
        summary: dict[str, Any] = {
            "status": state.status,
            "name": self.run_dir.name,
            "epochs_completed": state.epoch,
            "epochs": self.cfg.train.epochs,
            "best": {
                "epoch": state.best_epoch if state.best_value is not None else None,
                "metric": self.cfg.output.monitor,
                "value": state.best_value,
            },
            "final": self.rows[-1] if self.rows else None,
            "test": test,
            "wall_seconds": round(state.wall_seconds, 3),
            "started": self._started,
            "data": self.data.description,
            "test_split": self.data.test_split,
            "versions": versions(),
        }
        summary.update(self.summary_extra)
        if (weights := loss_weights(self.loss_fn, self.data.class_names)) is not None:
            summary["class_weight"] = weights  # loss.class_weight as resolved on this data
        if extra:
            summary.update(extra)
        summary = json_safe(summary)
        write_json(self.run_dir / "summary.json", summary)
        return summary

    def _plot(self) -> None:
        if self.cfg.output.plots and self.rows:
            title = curves_title(self.run_dir.name, self.cfg.data, self.test_result, self.data)
            plot_curves(self.rows, self.run_dir / "curves.png", title=title)
