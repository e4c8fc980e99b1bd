"""Writers for small IDX files, so the tests never need the real MNIST downloads."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: 0, 0, type 0x08, ndim, big-endian dims, values."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, gzipped: bool = False) -> Path:
    data = idx_bytes(array)
    if gzipped:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_idx_folder(
    folder: Path,
    n_train: int = 200,
    n_test: int = 50,
    gzipped: bool = False,
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "t10k"),
) -> Path:
    """A folder with the standard IDX files: random 28x28 images, labels cycling 0..9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        if split not in splits:
            continue
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte", images, gzipped)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels, gzipped)
    return folder
