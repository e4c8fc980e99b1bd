"""Ctrl-C and SIGTERM during training: finish the step, save ``last``, exit 130/143."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def on_stop_signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` for Ctrl-C and SIGTERM inside the block; the previous handlers after it.

    Outside the main thread signals cannot be handled: the handlers are left alone.
    """
    installed = {}
    try:
        for sig in STOP_SIGNALS:
            installed[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave the defaults alone
        pass
    try:
        yield
    finally:
        for sig, previous in installed.items():
            signal.signal(sig, previous)


@contextmanager
def stop_on_signals(trainer: Any) -> Iterator[None]:
    """First Ctrl-C/SIGTERM: finish the current step, save, exit. A second one: stop now."""

    def handler(signal_number: int, frame: Any) -> None:
        if trainer.stop_signal is not None:
            raise KeyboardInterrupt
        trainer.request_stop(signal_number)

    with on_stop_signals(handler):
        yield
