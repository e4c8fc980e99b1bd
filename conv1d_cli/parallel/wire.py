"""The messages between data-parallel processes (dataparallel.py), and how a process waits.

Messages carry what goes once per step (a slice of the batch, its logits, a slice of the loss
gradient, dropout masks) and errors and stops; batchnorm's totals, exchanged many times per step,
go through shared memory instead (exchange.py).

A message is bytes: its kind (an index into ``MESSAGE_KINDS``), a flag, then an array (dtype,
shape, raw data on a 16-byte boundary), a text or nothing. No pickle: nothing read from a pipe
is ever executed, and a pickled tuple of 385 float64 totals cost 85-100 us per round trip
between two spinning processes where raw bytes cost 26-30 us.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

# How long a process waiting for its peer polls without sleeping. A step of resnet1d.yaml waits
# ~24 times (twice per batchnorm, then logits and gradients); when the processes slept and were
# woken at each wait, rank 0 spent 37-41 ms of CPU per step on its half (17 ms for the same half
# alone), spinning up to 2 ms 23-25 ms (2026-12-01, 3 exchanges per batchnorm then).
SPIN_S = 0.002
# What travels between the processes; a message's first byte is its index here.
MESSAGE_KINDS = ("forward", "logits", "backward", "gradients", "mask", "error", "stop")


def wait_spinning(conn: Any, seconds: float) -> None:
    """Return when ``conn`` has a message or ``seconds`` passed, without going to sleep."""
    end = time.perf_counter() + seconds
    while not conn.poll(0) and time.perf_counter() < end:
        pass


def send_message(conn: Any, kind: str, payload: Any = None) -> None:
    """Write one message to ``conn``; ``backward`` carries (gradient, input_grad)."""
    flag = 0
    if kind == "backward":
        payload, flag = payload[0], int(bool(payload[1]))
    if payload is None:
        body = bytes([MESSAGE_KINDS.index(kind), flag, 0])
    elif isinstance(payload, str):
        body = bytes([MESSAGE_KINDS.index(kind), flag, 1]) + payload.encode("utf-8")
    else:
        array = np.ascontiguousarray(payload)
        dtype = array.dtype.str.encode("ascii")
        head = bytes([MESSAGE_KINDS.index(kind), flag, 2, len(dtype)]) + dtype
        head += bytes([array.ndim]) + np.asarray(array.shape, np.int64).tobytes()
        body = head + bytes(-len(head) % 16) + array.tobytes()
    conn.send_bytes(body)


def read_message(conn: Any) -> tuple[str, Any]:
    """The next (kind, payload) from ``conn``, as ``send_message`` wrote it (arrays writable)."""
    data = conn.recv_bytes()
    kind, flag, form = MESSAGE_KINDS[data[0]], data[1], data[2]
    payload: Any = None
    if form == 1:
        payload = data[3:].decode("utf-8")
    elif form == 2:
        n = data[3]
        dtype = np.dtype(data[4 : 4 + n].decode("ascii"))
        ndim = data[4 + n]
        shape = np.frombuffer(data, np.int64, ndim, offset=5 + n)
        offset = 5 + n + 8 * ndim
        offset += -offset % 16
        payload = np.frombuffer(data, dtype, offset=offset).reshape(shape).copy()
    return kind, ((payload, bool(flag)) if kind == "backward" else payload)
