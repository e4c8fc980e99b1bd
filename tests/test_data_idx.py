"""IDX files: round trips (raw and gzipped) and every corrupt case, each one clear DataError."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from idx_files import idx_bytes, write_idx, write_idx_folder

from conv1d_cli.config import DataConfig
from conv1d_cli.data import load_dataset
from conv1d_cli.data.idx import read_idx, read_idx_folder
from conv1d_cli.errors import DataError

NAMES = tuple(str(i) for i in range(10))


@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_round_trip(tmp_path, gzipped):
    images = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / "images", images, gzipped)
    got = read_idx(path)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, images)


def test_big_endian_wider_types_are_decoded(tmp_path):
    # Type 0x0C is a big-endian int32: the header says so, the reader must honour it.
    values = np.array([1, -2, 300000], dtype=">i4")
    path = tmp_path / "ints"
    path.write_bytes(bytes([0, 0, 0x0C, 1]) + (3).to_bytes(4, "big") + values.tobytes())
    np.testing.assert_array_equal(read_idx(path), [1, -2, 300000])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"\x00\x00\x07\x03" + b[4:], "bad magic number"),
        (lambda b: b"", "bad magic number"),
        (lambda b: b[:-10], "truncated"),
        (lambda b: b[:6], "truncated IDX header"),
        (lambda b: b + b"\x00" * 3, "longer than its header says"),
    ],
    ids=["magic", "empty", "truncated-data", "truncated-header", "trailing-bytes"],
)
def test_corrupt_idx_files_name_the_file(tmp_path, mutate, message):
    good = idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8))
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(mutate(good))
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip_is_reported(tmp_path):
    data = gzip.compress(idx_bytes(np.zeros((5, 28, 28), dtype=np.uint8)))
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(path)


def test_image_and_label_counts_must_agree(tmp_path):
    folder = write_idx_folder(tmp_path / "d", n_test=20)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(19, dtype=np.uint8))
    with pytest.raises(DataError, match="20 images but .* 19 labels"):
        read_idx_folder(folder, "eval", "MNIST", NAMES)


def test_missing_file_is_named(tmp_path):
    folder = write_idx_folder(tmp_path / "d", splits=("t10k",))
    with pytest.raises(DataError, match="missing train-images-idx3-ubyte"):
        read_idx_folder(folder, "train", "MNIST", NAMES)


def test_evaluation_needs_only_the_test_pair(tmp_path):
    folder = write_idx_folder(tmp_path / "d", n_test=30, splits=("t10k",), gzipped=True)
    cfg = DataConfig(dataset="mnist", source="idx", path=str(folder))
    data = load_dataset(cfg, 0, purpose="eval")
    assert data.x_test.shape == (30, 1, 784)
    assert len(data.x_train) == 0


def test_training_uses_the_official_test_split(tmp_path):
    folder = write_idx_folder(tmp_path / "d", n_train=200, n_test=50)
    cfg = DataConfig(dataset="mnist", source="idx", path=str(folder), val_split=0.1)
    data = load_dataset(cfg, 0)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (180, 20, 50)
    # The test split is the t10k file in its own order, not a sample of the training file.
    raw_test = read_idx(folder / "t10k-images-idx3-ubyte").reshape(50, 1, 784)
    np.testing.assert_allclose(data.x_test, raw_test / 255.0, rtol=1e-6)


def test_labels_out_of_range_are_refused(tmp_path):
    folder = write_idx_folder(tmp_path / "d")
    write_idx(folder / "t10k-labels-idx1-ubyte", np.full(50, 12, dtype=np.uint8))
    cfg = DataConfig(dataset="mnist", source="idx", path=str(folder))
    with pytest.raises(DataError, match="label 12 is out of range; labels must be 0..9"):
        load_dataset(cfg, 0)


def test_source_idx_needs_a_path():
    from conv1d_cli.errors import ConfigError

    with pytest.raises(ConfigError, match="data.path: required"):
        load_dataset(DataConfig(dataset="mnist", source="idx"), 0)
