"""The IDX format of MNIST and Fashion-MNIST, read and validated (gzipped or raw).

An IDX file is: two zero bytes, a type code, the number of dimensions, each dimension as a
big-endian uint32, then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from conv1d_cli.data.dataset import RawData
from conv1d_cli.errors import DataError

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: Path) -> np.ndarray:
    """The array stored in one IDX file; a DataError for anything malformed."""
    try:
        raw = path.read_bytes()
        if raw[:2] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataError(
            f"{path}: bad magic number {raw[:4].hex() or '(empty file)'}; not an IDX file"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(
            f"{path}: {state}: the header {dims} needs {expected} bytes, the file has {len(raw)}"
        )
    values = np.frombuffer(raw, dtype, offset=header).reshape(dims)
    return values.astype(dtype.newbyteorder("="))


def find_idx_file(folder: Path, stem: str) -> Path | None:
    """``stem`` in folder, raw or gzipped, also spelled with a dot (train-images.idx3-ubyte)."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, f"{stem}.gz", dotted, f"{dotted}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def has_idx_split(folder: Path, split: str) -> bool:
    return all(find_idx_file(folder, stem) is not None for stem in SPLIT_FILES[split])


def read_idx_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, H, W), labels (N,)) of the ``train`` or ``t10k`` pair in folder."""
    paths = []
    for stem in SPLIT_FILES[split]:
        path = find_idx_file(folder, stem)
        if path is None:
            raise DataError(f"{folder}: missing {stem} (or {stem}.gz); data.path must hold it")
        paths.append(path)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3:
        raise DataError(f"{paths[0]}: expected images (N, rows, cols), found shape {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{paths[1]}: expected labels (N,), found shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{paths[0]} holds {len(images)} images but {paths[1]} holds {len(labels)} labels"
        )
    return images, labels.astype(np.int64)


def read_idx_folder(
    folder: Path,
    purpose: Literal["train", "eval"],
    name: str,
    class_names: tuple[str, ...],
) -> RawData:
    """A folder of the four standard files; evaluation reads only the t10k pair."""
    if not folder.is_dir():
        raise DataError(f"data.path: {folder} is not a folder (it must hold the IDX files)")
    x_test, y_test = read_idx_split(folder, "t10k")
    if purpose == "train":
        x_train, y_train = read_idx_split(folder, "train")
    else:
        x_train, y_train = x_test[:0], y_test[:0]
    height, width = x_test.shape[1:]
    return RawData(
        x_train=x_train.reshape(len(x_train), height * width),
        y_train=y_train,
        x_test=x_test.reshape(len(x_test), height * width),
        y_test=y_test,
        origin=f"{name} (IDX files in {folder})",
        class_names=class_names,
        image_shape=(int(height), int(width)),
        value_range=255.0 if x_test.dtype == np.uint8 else None,
    )
