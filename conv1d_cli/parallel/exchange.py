"""Batchnorm's per-channel totals summed across data-parallel processes in shared memory.

A training step of resnet1d.yaml exchanges totals 22 times (once per batchnorm forward and
once per backward). Through a pipe a round trip cost 26-30 us of framing, system calls and
wake-ups; here each worker writes its totals into its own slot of one shared float64 block
and posts a semaphore, rank 0 adds the slots in rank order, writes the sum into slot 0 and
posts each worker's second semaphore: a round trip of ~4 us between two spinning processes
(2026-12-01). Semaphores, not flags in the block, because posting and taking one orders the
memory writes around it on every architecture (a plain flag would on x86 only).

Who writes what, and why nothing is overwritten while still being read: a worker writes its
slot only after it has read the previous sum, which rank 0 writes only after it has read every
slot; so each slot changes hands strictly in turn.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# While a process waits for its peer longer than its spin, it sleeps on the semaphore in slices
# this long, checking between them that the peer is alive and has not sent an error or a stop.
CHECK_EVERY_S = 0.05


class Peer:
    """What a waiting process checks about the process it waits for, between sleeps."""

    def __init__(self, needs_attention: Callable[[], bool], fail: Callable[[], None]) -> None:
        self.needs_attention = needs_attention  # it sent something, or it is gone
        self.fail = fail  # read what it sent and raise (its error, a stop, its end)


def wait_posted(semaphore: Any, spin_s: float, peer: Peer) -> None:
    """Take ``semaphore``: polling without sleeping for up to ``spin_s``, then sleeping in
    slices, between which ``peer`` is checked."""
    if semaphore.acquire(False):
        return
    end = time.perf_counter() + spin_s
    while time.perf_counter() < end:
        if semaphore.acquire(False):
            return
    while not semaphore.acquire(True, CHECK_EVERY_S):
        if peer.needs_attention():
            # Posted after all? Then what the peer sent is for later (rank 0 posts a sum
            # before it sends the next dropout mask or the backward slice): leave it there.
            if semaphore.acquire(False):
                return
            peer.fail()


class TotalsExchange:
    """Slots for ``workers`` processes' totals of up to ``width`` float64 values each.

    Made by rank 0 and handed to the workers at their start (its block and semaphores are
    inherited by spawned processes). Rank ``r`` >= 1 calls ``worker_allreduce(r, ...)``; rank 0
    calls ``allreduce`` with the number of workers that have a slice of the current batch.
    """

    def __init__(self, workers: int, width: int) -> None:
        ctx = mp.get_context("spawn")
        self.width = max(int(width), 1)
        self.block = ctx.RawArray("d", workers * self.width)
        self.posted = [ctx.Semaphore(0) for _ in range(workers - 1)]  # worker r -> rank 0
        self.summed = [ctx.Semaphore(0) for _ in range(workers - 1)]  # rank 0 -> worker r
        self._slots: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:  # the array view is rebuilt in each process
        return {**self.__dict__, "_slots": None}

    @property
    def slots(self) -> np.ndarray:
        """(workers, width) float64 view: row 0 the sum, row r worker r's totals."""
        if self._slots is None:
            self._slots = np.frombuffer(self.block, np.float64).reshape(-1, self.width)
        return self._slots

    def _fits(self, local: np.ndarray) -> int:
        if local.ndim != 1 or local.size > self.width:
            raise ValueError(
                f"totals of shape {local.shape} do not fit the exchange's {self.width} slots"
            )
        return local.size

    def allreduce(
        self, local: np.ndarray, active: int, spin_s: float, workers: list[Peer]
    ) -> np.ndarray:
        """Rank 0: ``local`` plus the totals of workers 1..``active``, summed in rank order
        (the same sum on every run); every active worker is sent the result."""
        n = self._fits(local)
        total = np.array(local, dtype=np.float64)
        for i in range(active):
            wait_posted(self.posted[i], spin_s, workers[i])
            total += self.slots[i + 1, :n]
        self.slots[0, :n] = total
        for i in range(active):
            self.summed[i].release()
        return total

    def worker_allreduce(
        self, rank: int, local: np.ndarray, spin_s: float, rank0: Peer
    ) -> np.ndarray:
        """Worker ``rank``: post ``local``, wait for rank 0's sum, return a copy of it."""
        n = self._fits(local)
        self.slots[rank, :n] = local
        self.posted[rank - 1].release()
        wait_posted(self.summed[rank - 1], spin_s, rank0)
        return self.slots[0, :n].copy()
