"""Batches of a memory-mapped split read ahead: the next one in a background thread while the
current one trains.

The epoch loop indexes its training split with consecutive slices of the epoch's order
(``order[k * B:(k + 1) * B]``). ``Prefetched`` answers each such index with the batch it has
already read and starts reading the next; any other index is read there and then, so a result
never depends on the thread (same batches, same order: exact resume is unchanged). Only reading
and normalizing happen in the thread (NumPy releases the GIL for both); the generator is never
touched there.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np


class Prefetched:
    """``x`` (a split indexed by index arrays) whose batches of ``order`` are read ahead."""

    def __init__(self, x: Any, order: np.ndarray, batch_size: int) -> None:
        self.x, self.order, self.batch_size = x, order, batch_size
        self.shape = x.shape
        self._executor: ThreadPoolExecutor | None = None
        self._pending: tuple[int, np.ndarray, Future] | None = None

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        """x[index] (B, C, L); ``index`` the next batch of the order is ready (or being read)."""
        pending = self._pending
        if pending is not None and np.array_equal(pending[1], index):
            batch, k = pending[2].result(), pending[0]
        else:  # the first batch of the epoch (or of a resumed one), read here
            batch = self.x[index]
            where = np.flatnonzero(self.order == index[0]) if len(index) else []
            k = int(where[0]) // self.batch_size if len(where) else -1
        self._read_ahead(k + 1 if k >= 0 else -1)
        return batch

    def _read_ahead(self, k: int) -> None:
        index = self.order[k * self.batch_size : (k + 1) * self.batch_size] if k >= 0 else []
        if not len(index):
            self._pending = None
            self.close()
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="conv1d-prefetch")
        self._pending = (k, index, self._executor.submit(self.x.__getitem__, index))

    def close(self) -> None:
        """Stop the thread after the batch it is reading (if any)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
