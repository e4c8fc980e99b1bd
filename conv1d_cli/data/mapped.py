"""Memory-mapped samples by index: split views, statistics streamed in chunks, and batches
gathered and normalized on the fly.

A folder of ``.npy`` arrays (``npyfolder``) hands ``prepare`` its samples as ``MappedRows``: a
view of rows of the map that reads nothing (slicing, indexing by an index array and reshaping
give new views), so the seeded splits are splits of indices. ``fit_statistics`` fits the
normalization over chunks of about ``CHUNK_VALUES`` values, and ``normalize_split`` turns each
split into a ``MappedSplit``, which reads only the rows it is indexed with (sorted, for
locality) and returns them normalized, as an in-memory split's ``x[index]`` would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from conv1d_cli.data.normalization import apply_normalization, fit_normalization, resolve_method

CHUNK_VALUES = 1 << 22  # values per chunk: 16 MB of float32, 32 MB as float64 temporaries


def read_rows(source: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """source[rows] (B, ...) read in ascending row order, returned in the order asked."""
    if len(rows) < 2 or bool(np.all(rows[1:] >= rows[:-1])):
        return np.asarray(source[rows])
    order = np.argsort(rows, kind="stable")
    gathered = np.asarray(source[rows[order]])
    out = np.empty_like(gathered)
    out[order] = gathered
    return out


class MappedRows:
    """Raw samples (N, ...): the rows ``index`` of a memory-mapped ``source``, not yet read."""

    def __init__(self, source: np.ndarray, index: np.ndarray | None = None) -> None:
        self.source = source
        self.index = np.arange(len(source), dtype=np.int64) if index is None else index

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.source.shape[1:])

    @property
    def ndim(self) -> int:
        return self.source.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.source.dtype

    @property
    def nbytes(self) -> int:
        return len(self.index) * self.source.itemsize * int(np.prod(self.source.shape[1:]))

    def __getitem__(self, key: slice | np.ndarray) -> MappedRows:
        """The rows at ``key`` (a slice or an index array) as a new view; nothing is read."""
        return MappedRows(self.source, self.index[key])

    def reshape(self, n: int, *sample: int) -> MappedRows:
        """The same rows with each sample reshaped (a view of the map; it stays C-ordered)."""
        if n != len(self):
            raise ValueError(f"cannot reshape {len(self)} rows to {n}")
        return MappedRows(self.source.reshape(len(self.source), *sample), self.index)

    def read(self, key: slice | np.ndarray) -> np.ndarray:
        """The samples at ``key``, read from the map into memory."""
        return read_rows(self.source, self.index[key])

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(start, samples (n, ...)) for consecutive chunks of about CHUNK_VALUES values."""
        per_sample = max(1, int(np.prod(self.source.shape[1:])))
        size = max(1, CHUNK_VALUES // per_sample)
        for start in range(0, len(self), size):
            yield start, self.read(slice(start, start + size))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.read(slice(None))  # every row: only for small data (tests, a small split)
        return out if dtype is None else out.astype(dtype)


class MappedSplit:
    """A normalized split (N, C, L) of mapped rows: indexing it (a slice or an index array)
    reads those rows and returns them normalized as a (B, C, L) array of ``dtype``."""

    read_by_batch = True  # inference's as_samples keeps it as it is and slices it

    def __init__(self, rows: MappedRows, stats: dict[str, Any], dtype: Any = np.float32) -> None:
        self.rows, self.stats, self.dtype = rows, stats, np.dtype(dtype)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.rows.shape

    @property
    def ndim(self) -> int:
        return self.rows.ndim

    def __getitem__(self, key: slice | np.ndarray) -> np.ndarray:
        return self._normalized(self.rows.read(key))

    def _normalized(self, raw: np.ndarray) -> np.ndarray:
        return apply_normalization(raw, self.stats).astype(self.dtype, copy=False)

    def astype(self, dtype: Any, copy: bool = True) -> MappedSplit:
        """The split handing out batches of ``dtype``; nothing is read (whatever ``copy`` says)."""
        return MappedSplit(self.rows, self.stats, dtype)

    def reshape(self, *shape: int) -> MappedSplit:
        """Itself when ``shape`` is its own (what ``as_samples`` asks); no other reshape."""
        if tuple(shape) != self.shape:
            raise ValueError(f"a mapped split of shape {self.shape} cannot become {shape}")
        return self

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(start, normalized samples) for consecutive chunks of about CHUNK_VALUES values."""
        for start, raw in self.rows.chunks():
            yield start, self._normalized(raw)

    def min(self) -> Any:
        return min(chunk.min() for _, chunk in self.chunks())

    def max(self) -> Any:
        return max(chunk.max() for _, chunk in self.chunks())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]  # every row: only for small data (tests, a small split)
        return out if dtype is None else out.astype(dtype)


def normalize_split(x: Any, stats: dict[str, Any]) -> Any:
    """x (N, C, L) normalized as ``stats`` says: in memory now, or mapped rows batch by batch."""
    if isinstance(x, MappedRows):
        return MappedSplit(x, stats)
    return apply_normalization(x, stats)


def nonfinite(x: Any) -> tuple[int, int]:
    """(how many values of x (N, ...) are NaN or infinite, the first sample holding one)."""
    if not isinstance(x, MappedRows):
        bad = ~np.isfinite(x)
        if not bad.any():
            return 0, -1
        return int(bad.sum()), int(np.argwhere(bad.reshape(len(x), -1).any(axis=1))[0, 0])
    count, first = 0, -1
    for start, chunk in x.chunks():
        n, at = nonfinite(chunk)
        if n and first < 0:
            first = start + at
        count += n
    return count, first


def fit_statistics(method: str, x: Any, value_range: float | None = None) -> dict[str, Any]:
    """``fit_normalization``'s statistics of x (N, C, L); for mapped rows streamed in chunks
    (per-channel min/max, and mean/std merged chunk by chunk in float64, Chan et al.)."""
    method = resolve_method(method, value_range)
    needs_data = method == "standardize" or (method == "scale" and value_range is None)
    if not isinstance(x, MappedRows) or not needs_data or not len(x):
        empty = np.empty((0, *x.shape[1:]), np.float32) if isinstance(x, MappedRows) else x
        return fit_normalization(method, empty, value_range)
    channels = x.shape[1]
    low, high = np.full(channels, np.inf), np.full(channels, -np.inf)
    n, mean, m2 = 0, np.zeros(channels), np.zeros(channels)
    for _, chunk in x.chunks():
        if method == "scale":
            low = np.minimum(low, chunk.min(axis=(0, 2)).astype(np.float64))
            high = np.maximum(high, chunk.max(axis=(0, 2)).astype(np.float64))
            continue
        k = chunk.shape[0] * chunk.shape[2]
        chunk_mean = chunk.mean(axis=(0, 2), dtype=np.float64)
        centred = chunk - chunk_mean[None, :, None]
        chunk_m2 = np.einsum("ncl,ncl->c", centred, centred)
        delta, total = chunk_mean - mean, n + k
        mean = mean + delta * (k / total)
        m2 = m2 + chunk_m2 + delta * delta * (n * k / total)
        n = total
    shift, scale = (low, high - low) if method == "scale" else (mean, np.sqrt(m2 / n))
    scale = np.where(scale > 0, scale, 1.0)  # a constant channel stays as it is (as in memory)
    return {"method": method, "shift": shift.tolist(), "scale": scale.tolist()}
