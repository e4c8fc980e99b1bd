"""Parameters and gradients of data-parallel processes in shared memory (dataparallel.py).

Every process's layers hold views of the arrays laid end to end in one shared block (one block
of parameters for all, one block of gradients per process), so nothing is copied between them:
rank 0's optimizer updates the weights every process reads, and rank 0 adds the workers'
gradient blocks to its own as flat vectors.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from typing import Any

import numpy as np

from conv1d_cli.nn.layers import Layer
from conv1d_cli.nn.model import Sequential

ALIGN_BYTES = 64  # each shared array starts on a cache line


def leaf_layers(layers: Sequential | list[Layer], path: str = "") -> Iterator[tuple[str, Layer]]:
    """(path, layer) for every layer that is not a block, blocks entered depth first."""
    for i, layer in enumerate(layers):
        here = f"{path}{i}"
        children = getattr(layer, "named_children", None)
        if children is None:
            yield here, layer
            continue
        for name, child in children():
            inner = child if isinstance(child, Sequential) else [child]
            yield from leaf_layers(inner, f"{here}.{name}.")


def layers_of_kind(model: Sequential, kind: type[Layer]) -> list[Any]:
    """Every leaf layer of ``model`` (inside blocks too) that is a ``kind``, in order."""
    return [layer for _, layer in leaf_layers(model) if isinstance(layer, kind)]


class SharedArrays:
    """Named arrays laid end to end in one block of shared memory (inheritable by workers)."""

    def __init__(self, like: dict[str, np.ndarray], block: Any = None) -> None:
        self.layout = [(name, a.shape, a.dtype.str) for name, a in like.items()]
        offsets, size = [], 0
        for _, shape, dtype in self.layout:
            offsets.append(size)
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            size += -(-nbytes // ALIGN_BYTES) * ALIGN_BYTES
        size = max(size, ALIGN_BYTES)  # never empty: the flat view needs whole elements
        self.block = mp.get_context("spawn").RawArray("b", size) if block is None else block
        buffer = memoryview(self.block).cast("B")
        self.arrays = {
            name: np.ndarray(shape, np.dtype(dtype), buffer=buffer, offset=offset)
            for (name, shape, dtype), offset in zip(self.layout, offsets, strict=True)
        }
        # The whole block as one vector when all arrays share a dtype (padding included: it
        # is zero in every block of a layout, so blocks add up flat).
        dtypes = {dtype for _, _, dtype in self.layout}
        self.flat = np.frombuffer(buffer, np.dtype(dtypes.pop())) if len(dtypes) == 1 else None


Binding = list[tuple[dict[str, np.ndarray], str, np.ndarray]]


def bind_arrays(model: Sequential, shared: SharedArrays, kind: str, copy_in: bool) -> Binding:
    """Make every layer's ``kind`` ("params" or "grads") arrays the shared views; ``copy_in``:
    the layer's values are copied in first (not for a worker's parameters: a worker that
    started late would otherwise overwrite weights rank 0 has updated since).

    Returns (the layer's dict, key, view) for every array, for ``still_bound``."""
    binding = []
    for path, layer in leaf_layers(model):
        arrays = getattr(layer, kind)
        for key, array in arrays.items():
            view = shared.arrays[f"{path}.{key}"]
            if array is not view:
                if copy_in:
                    view[...] = array
                arrays[key] = view
            binding.append((arrays, key, view))
    return binding


def still_bound(binding: Binding) -> bool:
    """Every array of ``binding`` is still the layer's (~5 us where binding again walks the
    model: ~40 us for resnet1d.yaml)."""
    return all(arrays.get(key) is view for arrays, key, view in binding)
