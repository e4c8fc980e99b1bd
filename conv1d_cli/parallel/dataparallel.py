"""Data-parallel training: every batch split between processes, their gradients summed.

Why processes: at batch 16 about 35% of a template's training step is elementwise NumPy
(batchnorm, ReLU, residual sums, Adam) that runs on one thread whatever BLAS may use, and its
GEMMs are too small for BLAS to split well. Threads of one process lose the gain waiting for
the GIL (two threads each training half a batch of fcn.yaml: 14.5 ms per pair of halves against
~20 ms one after the other, where 11 ms would be even; 2026-12-01). Processes have no GIL to
share: with ``train.workers: W`` this process (rank 0) and W - 1 worker processes each run
forward and backward on a contiguous slice of every batch, each with one BLAS thread.

What is shared, and how:
- parameters: one shared-memory block; every process's layers hold views of it, so the
  optimizer's in-place update in rank 0 is every process's next weights, with no copy;
- gradients: every process's layers write theirs into a shared block of the same layout (one
  per process); rank 0 adds the workers' blocks to its own, flat, in rank order;
- batchnorm: per-channel totals summed over the processes (``BatchNorm1d.allreduce``) in shared
  memory (exchange.py), so the statistics, running statistics and input gradients are the whole
  batch's;
- dropout: rank 0 draws the whole batch's mask from the run's generator, exactly as one process
  would, and sends each worker its slice (``Dropout.draw_keep``), so masks and exact resume do
  not depend on the number of workers;
- everything else (a slice of the batch, its logits, a slice of the loss gradient, errors and
  stops) goes through one pipe per worker. The processes move in lockstep, so messages come in a
  known order; each carries its kind so that an error or a stop is never taken for data.

Results equal one process's up to float rounding (the same sums in another order) and are the
same on every run with the same number of workers. Eval-mode passes run in rank 0 alone.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
from collections.abc import Iterator
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from conv1d_cli.nn.batchnorm import BatchNorm1d
from conv1d_cli.nn.layers import Dropout
from conv1d_cli.nn.model import Sequential
from conv1d_cli.parallel.alloc import keep_freed_memory
from conv1d_cli.parallel.exchange import Peer, TotalsExchange
from conv1d_cli.parallel.shared import SharedArrays, bind_arrays, layers_of_kind, still_bound
from conv1d_cli.parallel.wire import SPIN_S, read_message, send_message, wait_spinning

# Seconds between checks that a silent peer process is still alive while waiting for it.
LIVENESS_POLL_S = 0.5


class WorkerError(RuntimeError):
    """A data-parallel worker failed or stopped; the message says which and why."""


def cores_allowed() -> int:
    """The cores this process may use: its CPU affinity, within BLAS's thread limit (which
    follows OMP_NUM_THREADS and ``threadpool_limits``)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return max(1, min([cpus or 1, *blas]))


def _receive(conn: Any, expected: str, peer: str, alive: Any, spin_s: float) -> Any:
    """The payload of the next message, which must be of kind ``expected``."""
    wait_spinning(conn, spin_s)
    while not conn.poll(LIVENESS_POLL_S):
        if not alive():
            raise WorkerError(f"{peer} stopped")
    try:
        kind, payload = read_message(conn)
    except (EOFError, OSError) as exc:
        raise WorkerError(f"{peer} stopped") from exc
    if kind == expected:
        return payload
    if kind == "error":
        raise WorkerError(f"{peer} failed: {payload}")
    raise WorkerError(f"{peer} sent {kind!r} where {expected!r} was due")


def _worker_name(index: int) -> str:
    """How errors name the worker at ``index`` of rank 0's lists (rank ``index + 1``)."""
    return f"data-parallel worker {index + 1}"


class _Stop(Exception):
    """Rank 0 asked this worker to stop."""


def _worker_main(
    conn: Any,
    rank: int,
    model: Sequential,
    params_block: Any,
    grads_block: Any,
    exchange: TotalsExchange,
    spin_s: float,
) -> None:
    """A worker's life: bind to the shared arrays, then serve forward/backward until told."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # rank 0's trainer handles Ctrl-C and stops us
    keep_freed_memory()
    limiter = threadpool_limits(limits=1, user_api="blas")  # noqa: F841 - held for life

    def receive(expected: str) -> Any:
        wait_spinning(conn, spin_s)
        try:
            kind, payload = read_message(conn)
        except (EOFError, OSError):  # rank 0 is gone: nothing left to do
            raise _Stop from None
        if kind == "stop":
            raise _Stop
        if kind != expected:
            raise WorkerError(f"got {kind!r} where {expected!r} was due")
        return payload

    # Waiting for a sum, a message from rank 0 with no sum posted is a stop or its end.
    rank0 = Peer(lambda: conn.poll(0), lambda: receive("sum"))

    def allreduce(local: np.ndarray) -> np.ndarray:
        return exchange.worker_allreduce(rank, local, spin_s, rank0)

    try:
        bind_arrays(model, SharedArrays(model.parameters(), params_block), "params", False)
        bind_arrays(model, SharedArrays(model.gradients(), grads_block), "grads", False)
        for layer in layers_of_kind(model, BatchNorm1d):
            layer.allreduce = allreduce
        for layer in layers_of_kind(model, Dropout):
            layer.draw_keep = lambda shape: receive("mask")
        model.train()
        while True:
            x = receive("forward")
            send_message(conn, "logits", model.forward(x))
            grad, input_grad = receive("backward")
            # The layers write their gradients into our shared block as they go.
            send_message(conn, "gradients", model.backward(grad, input_grad=input_grad))
    except _Stop:
        pass
    except Exception as exc:  # reported to rank 0, which raises it as a WorkerError
        text = (str(exc).strip().splitlines() or [""])[0]
        with contextlib.suppress(OSError):
            send_message(conn, "error", f"{type(exc).__name__}: {text}")
    finally:
        conn.close()


class DataParallel:
    """``model`` trained on ``workers`` processes; otherwise it behaves as the model itself.

    ``forward`` (N, ...) -> (N, K) and ``backward`` as Sequential's; in training mode each
    process takes a contiguous slice of the batch. Use as a context manager, or call ``close``:
    the worker processes stop there (and on their own if this process dies).
    """

    def __init__(self, model: Sequential, workers: int) -> None:
        if workers < 2:
            raise ValueError(f"DataParallel needs 2 or more workers, got {workers}")
        self.model, self.workers = model, workers
        self._closed, self._procs, self._conns = False, [], []
        if mp.current_process().daemon:  # multiprocessing forbids it
            raise ValueError(
                f"{workers} workers cannot start from a daemonic process (a multiprocessing "
                "pool's worker); train with 1 worker there"
            )
        self._bns = layers_of_kind(model, BatchNorm1d)
        self._dropouts = layers_of_kind(model, Dropout)
        # Forward sends 3 totals per channel and the count; backward 2 per channel.
        width = max([3 * bn.num_features + 1 for bn in self._bns], default=1)
        try:
            self._exchange = TotalsExchange(workers, width)
        except (ImportError, OSError) as exc:  # no sem_open (some containers, some platforms)
            raise ValueError(
                f"{workers} workers need POSIX semaphores, which this system does not provide "
                f"({exc}); train with 1 worker"
            ) from exc
        # Spinning while waiting only pays when every process has a core of its own: with
        # fewer (a sweep running trials side by side), a spinning process would take the core
        # its peer needs, so the processes sleep between messages instead.
        self._spin_s = SPIN_S if cores_allowed() >= workers else 0.0
        self._blas_limit = threadpool_limits(limits=1, user_api="blas")
        self._params = SharedArrays(model.parameters())
        self._own_grads = SharedArrays(model.gradients())
        self._binding: list = []
        self._bind()
        self._broken = False
        ctx = mp.get_context("spawn")  # fork would copy BLAS thread pools mid-use
        self._grads: list[SharedArrays] = []
        try:
            for rank in range(1, workers):
                grads = SharedArrays(model.gradients())
                ours, theirs = ctx.Pipe()
                proc = ctx.Process(
                    target=_worker_main,
                    args=(
                        theirs,
                        rank,
                        model,
                        self._params.block,
                        grads.block,
                        self._exchange,
                        self._spin_s,
                    ),
                    name=f"conv1d-worker-{rank}",
                    # Daemonic: should this process exit without close(), multiprocessing
                    # terminates the workers instead of waiting for them (which would wait
                    # forever: they wait for us). Killed, we leave them end-of-file: they exit.
                    daemon=True,
                )
                proc.start()
                theirs.close()
                self._grads.append(grads)
                self._conns.append(ours)
                self._procs.append(proc)
            self._peers = [self._worker_peer(i) for i in range(len(self._procs))]
        except BaseException:
            self.close()
            raise
        self._active = 0  # workers with a slice of the current batch

    def __getattr__(self, name: str) -> Any:  # everything else is the model's
        return getattr(self.model, name)

    def __enter__(self) -> DataParallel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv(self, index: int, expected: str) -> Any:
        alive = self._procs[index].is_alive
        return _receive(self._conns[index], expected, _worker_name(index), alive, self._spin_s)

    def _send(self, index: int, kind: str, payload: Any) -> None:
        try:
            send_message(self._conns[index], kind, payload)
        except OSError as exc:  # its end is closed: the worker is gone
            raise WorkerError(f"{_worker_name(index)} stopped") from exc

    def _bind(self) -> None:
        """Our layers' parameters and gradients as the shared views; a no-op unless something
        replaced an array since (then its values are the news)."""
        if self._binding and still_bound(self._binding):
            return
        self._binding = bind_arrays(self.model, self._params, "params", copy_in=True)
        self._binding += bind_arrays(self.model, self._own_grads, "grads", copy_in=True)

    def parameters(self) -> dict[str, np.ndarray]:
        """The model's live parameters (the shared views), named as ``Sequential``'s."""
        self._bind()
        return dict(self._params.arrays)

    def gradients(self) -> dict[str, np.ndarray]:
        """The model's live gradients (rank 0's shared block), named as ``Sequential``'s."""
        self._bind()
        return dict(self._own_grads.arrays)

    def _worker_peer(self, index: int) -> Peer:
        """Worker ``index`` as seen while waiting for its totals: something it sent then (its
        error), or its end, stops the wait with a WorkerError."""
        conn, proc = self._conns[index], self._procs[index]

        def fail() -> None:
            if conn.poll(0):
                self._recv(index, "totals")  # raises, with the worker's error if it sent one
            raise WorkerError(f"{_worker_name(index)} stopped")

        return Peer(lambda: conn.poll(0) or not proc.is_alive(), fail)

    def _allreduce(self, local: np.ndarray) -> np.ndarray:
        """Totals over rank 0 and the active workers, summed in rank order."""
        return self._exchange.allreduce(local, self._active, self._spin_s, self._peers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, ...) -> (N, K); in training mode rank 0 takes the first slice of the batch."""
        if not self.model.training:
            return self.model.forward(x)
        self._check_usable()
        self._bind()
        slices = np.array_split(np.arange(len(x)), min(self.workers, len(x)))
        self._bounds = [(int(s[0]), int(s[-1]) + 1) for s in slices]
        self._active = len(slices) - 1
        for i, (start, stop) in enumerate(self._bounds[1:]):
            self._send(i, "forward", x[start:stop])
        with self._exchanging(batch=len(x)):
            start, stop = self._bounds[0]
            parts = [self.model.forward(x[start:stop])]
        parts += [self._recv(i, "logits") for i in range(self._active)]
        return np.concatenate(parts)

    @contextlib.contextmanager
    def _exchanging(self, batch: int | None = None) -> Iterator[None]:
        """Rank 0's batchnorms (and, in forward, with the ``batch`` size, its dropouts) talk
        to the active workers inside the block; outside it they are one process's layers."""
        if self._active:
            for layer in self._bns:
                layer.allreduce = self._allreduce
            for layer in self._dropouts if batch is not None else ():
                layer.draw_keep = self._keep_drawer(layer, batch)
        try:
            yield
        except BaseException:
            # Stopped between exchanges, the processes no longer agree on which comes next.
            self._broken = True
            raise
        finally:
            for layer in self._bns:
                layer.allreduce = None
            for layer in self._dropouts:
                layer.draw_keep = None

    def _keep_drawer(self, layer: Dropout, batch: int) -> Any:
        """``layer.draw_keep`` for rank 0: the whole batch's mask, drawn as one process draws
        it (same generator, same shape, same order); each worker is sent its slice."""

        def draw(shape: tuple[int, ...]) -> np.ndarray:
            keep = layer.rng.random((batch, *shape[1:]), dtype=np.float32) >= layer.rate
            for i, (start, stop) in enumerate(self._bounds[1:]):
                self._send(i, "mask", keep[start:stop])
            start, stop = self._bounds[0]
            return keep[start:stop]

        return draw

    def backward(self, grad: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Gradient of the whole batch's output -> input gradient; ``gradients()`` summed."""
        if not self.model.training:
            return self.model.backward(grad, input_grad=input_grad)
        self._check_usable()
        for i, (start, stop) in enumerate(self._bounds[1:]):
            self._send(i, "backward", (grad[start:stop], input_grad))
        with self._exchanging():
            start, stop = self._bounds[0]
            parts = [self.model.backward(grad[start:stop], input_grad=input_grad)]
        parts += [self._recv(i, "gradients") for i in range(self._active)]
        own = self._own_grads
        for grads in self._grads[: self._active]:  # rank order: the same sum on every run
            if own.flat is not None:
                own.flat += grads.flat
            else:
                for name, array in own.arrays.items():
                    array += grads.arrays[name]
        return np.concatenate(parts) if input_grad else None

    def _check_usable(self) -> None:
        if self._broken:
            raise WorkerError(
                "data-parallel training was interrupted in the middle of a step; "
                "start a new DataParallel"
            )

    def close(self) -> None:
        """Stop the workers (waiting briefly, then terminating) and lift the BLAS limit."""
        if self._closed:
            return
        for conn in self._conns:
            with contextlib.suppress(OSError):
                send_message(conn, "stop")
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for conn in self._conns:
            conn.close()
        self._procs, self._conns = [], []
        self._closed = True
        self._blas_limit.restore_original_limits()
