"""Worker processes the benchmark can always wait for: every reply has a deadline.

A worker that crashes (segfault, OOM killer, ``os._exit``) or raises while building its network
used to leave bench.py blocked forever in ``conn.recv()``. Here every wait polls the pipe in
short slices, checks that the process is still alive, and gives up after ``timeout`` seconds;
an exception inside the worker is sent back as a message. Each of these becomes a
``WorkerFailed`` whose text is one line naming the engine, the config and what happened, so
bench.py can mark that comparison "failed", go on with the others and exit nonzero at the end.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import sys
import time
from typing import Any

from contention import CLEAN, Meter

CTX = mp.get_context("spawn")  # a fresh interpreter per measurement: clean memory, no forks

POLL_S = 0.2  # how often a wait checks that the worker still lives
DEFAULT_TIMEOUT_S = 900.0  # longest single reply: a full Fashion-MNIST epoch on a slow machine
ERROR_KEY = "worker_error"  # a reply {ERROR_KEY: "Type: message"} is an exception in the worker


class WorkerFailed(Exception):
    """A worker died, raised or did not answer in time; str() is the one-line report."""


def announce(failure: str) -> None:
    """The one line bench.py prints when a comparison fails (stderr, so tables stay clean)."""
    print(f"FAILED: {failure}; skipped", file=sys.stderr, flush=True)


def guarded(fn: Any, conn: Any, *args: Any) -> None:
    """Process target: ``fn(conn, *args)``, but an exception goes back over ``conn``."""
    try:
        fn(conn, *args)
    except BaseException as exc:  # any failure, KeyboardInterrupt too, must reach the parent
        with contextlib.suppress(OSError):  # parent gone or pipe closed: nothing left to tell
            conn.send({ERROR_KEY: one_line(exc)})
        raise SystemExit(1) from None


def call_and_reply(conn: Any, fn: Any, *args: Any) -> None:
    """Process target for a single call: sends fn(*args)'s result (guarded: or its exception)."""
    conn.send({"result": fn(*args)})


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (multi-line messages are joined)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_exit(exitcode: int | None) -> str:
    """'exited with code 3' / 'was killed by signal 9 (SIGKILL)' for a process's exitcode."""
    if exitcode is None:
        return "is still running"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        return f"was killed by signal {-exitcode} ({name})"
    return f"exited with code {exitcode}"


class Supervised:
    """One spawned worker process and its pipe; ``recv`` never blocks past its deadline.

    ``label`` names the engine and config in every failure line, e.g. "torch worker for
    template fcn (configs/templates/fcn.yaml)".
    """

    def __init__(
        self, ctx: Any, target: Any, args: tuple, label: str, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.label, self.timeout = label, timeout
        self.conn, child = ctx.Pipe()
        # Not daemonic: the numpy-workers engine starts processes of its own (daemonic ones may
        # not). Every caller closes its workers in a finally, which kills and reaps them.
        self.proc = ctx.Process(target=guarded, args=(target, child, *args), daemon=False)
        self.proc.start()
        child.close()  # only the worker holds its end now: its death closes the pipe

    def recv(self, doing: str) -> Any:
        """The worker's next reply; WorkerFailed if it raised, died or was silent too long."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                ready = self.conn.poll(POLL_S)
            except (EOFError, OSError):
                ready = False
            if ready:
                try:
                    reply = self.conn.recv()
                except (EOFError, OSError):  # pipe closed: the worker is gone
                    self.proc.join(5)
                    self._fail(f"{describe_exit(self.proc.exitcode)} while {doing}")
                if isinstance(reply, dict) and ERROR_KEY in reply:
                    self.close()
                    raise WorkerFailed(f"{self.label} raised while {doing}: {reply[ERROR_KEY]}")
                return reply
            if not self.proc.is_alive():
                self._fail(f"{describe_exit(self.proc.exitcode)} while {doing}")
            if time.monotonic() > deadline:
                self._fail(f"gave no answer within {self.timeout:g} s while {doing} (stopped it)")

    def ask(self, doing: str, *msg: Any) -> Any:
        """Send ``msg`` and wait for the reply (see recv)."""
        try:
            self.conn.send(msg)
        except (BrokenPipeError, OSError):
            self.proc.join(5)
            self._fail(f"{describe_exit(self.proc.exitcode)} before {doing}")
        return self.recv(doing)

    def close(self) -> None:
        """Stop the process if it still runs (by its own handle, never by name) and reap it."""
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(10)
        self.conn.close()

    def _fail(self, what: str) -> None:
        self.close()
        raise WorkerFailed(f"{self.label} {what}")


def run_in_process(
    ctx: Any, fn: Any, args: tuple, label: str, timeout: float = DEFAULT_TIMEOUT_S
) -> Any:
    """fn(*args) in a fresh spawned process, bounded by ``timeout``; WorkerFailed on failure."""
    worker = Supervised(ctx, call_and_reply, (fn, *args), label, timeout)
    try:
        return worker.recv(f"running {getattr(fn, '__name__', 'its task')}")["result"]
    finally:
        worker.close()


def in_fresh_process(
    fn: Any,
    *args: Any,
    attempts: int = 1,
    label: str = "worker",
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """fn(*args) in a fresh process; retried while other processes were busy, least busy kept.

    A dict result gets "others_cpu": the share of the CPUs other processes used meanwhile.
    WorkerFailed (not retried) when the process raises, dies or runs past ``timeout``.
    """
    best = None
    for _ in range(attempts):
        with Meter() as meter:
            result = run_in_process(CTX, fn, args, label, timeout)
        if best is None or meter.others < best[1]:
            best = (result, meter.others)
        if meter.others < CLEAN:
            break
    result, others = best
    if isinstance(result, dict):
        result["others_cpu"] = round(others, 3)
    return result
