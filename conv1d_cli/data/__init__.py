"""Datasets as (N, channels, length) float32 splits with int64 labels; see ``registry``."""

from conv1d_cli.data.cache import data_home
from conv1d_cli.data.dataset import Dataset, RawData
from conv1d_cli.data.registry import load_dataset, read_raw

__all__ = ["Dataset", "RawData", "data_home", "load_dataset", "read_raw"]
