"""UEA/UCR archive files: .ts and .tsv round trips, the _TEST file beside, padding, missing values,
the data kind from the suffix, and every malformed file through the CLI (exit 2, one line, no run).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from ts_files import ts_text, tsv_text, write_ts_pair
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config import DataConfig
from conv1d_cli.data import load_dataset, read_raw
from conv1d_cli.data.ts import read_archive
from conv1d_cli.errors import DataError

runner = CliRunner()
CLASSES = ("walk", "run", "rest")


def _series(rng: np.random.Generator, n: int, channels: int, lengths: tuple[int, int]):
    xs = [rng.normal(size=(channels, int(rng.integers(*lengths)))) for _ in range(n)]
    labels = [CLASSES[i % 3] for i in range(n)]
    return xs, labels


@pytest.mark.parametrize(
    ("channels", "lengths"),
    [(1, (20, 21)), (3, (16, 17)), (1, (5, 30)), (4, (7, 12))],
    ids=["univariate", "multivariate", "unequal", "multivariate-unequal"],
)
def test_ts_round_trip_with_its_test_file(tmp_path, channels, lengths):
    rng = np.random.default_rng(channels * 100 + lengths[1])
    train, test = _series(rng, 12, channels, lengths), _series(rng, 6, channels, lengths)
    path = write_ts_pair(tmp_path, "Toy", train, test, CLASSES)
    raw = read_raw(DataConfig(path=str(path)))  # the suffix says ts
    longest = max(x.shape[1] for x in train[0] + test[0])
    assert raw.x_train.shape == (12, channels, longest)
    assert raw.x_test.shape == (6, channels, longest)
    for stacked, (xs, _labels) in ((raw.x_train, train), (raw.x_test, test)):
        for row, x in zip(stacked, xs, strict=True):
            np.testing.assert_array_equal(row[:, : x.shape[1]], x)  # repr() is exact
            tail = row[:, x.shape[1] :]  # padded at the end with each channel's last value
            np.testing.assert_array_equal(tail, np.broadcast_to(x[:, -1:], tail.shape))
    assert raw.class_names == CLASSES
    assert list(raw.y_train) == train[1]
    assert list(raw.y_test) == test[1]
    data = load_dataset(DataConfig(path=str(path), val_split=0.0, normalize="none"), 0)
    assert data.class_names == CLASSES
    assert len(data.y_test) == 6 and "test split from Toy_TEST.ts" in data.description
    padded = lengths[1] - lengths[0] > 1
    assert ("padded at the end" in data.description) == padded


def test_ts_without_test_file_holds_one_out(tmp_path):
    rng = np.random.default_rng(0)
    path = write_ts_pair(tmp_path, "Solo", _series(rng, 30, 2, (8, 9)), None, CLASSES)
    data = load_dataset(DataConfig(path=str(path), val_split=0.0, test_split=0.2), 0)
    assert (len(data.y_train), len(data.y_test)) == (24, 6)
    assert "test split from" not in data.description


@pytest.mark.parametrize("unequal", [False, True])
def test_tsv_round_trip_and_nan_padding(tmp_path, unequal):
    rng = np.random.default_rng(1)
    length = 25
    sizes = rng.integers(10, length + 1, size=9) if unequal else np.full(9, length)
    sizes[0] = length
    xs = [rng.normal(size=int(n)) for n in sizes]
    labels = [str(1 + i % 3) for i in range(9)]
    (tmp_path / "Foo_TRAIN.tsv").write_text(tsv_text(xs, labels, length))
    (tmp_path / "Foo_TEST.tsv").write_text(tsv_text(xs[:3], ["3.0000000e+00", "1", "2"], length))
    raw = read_raw(DataConfig(path=str(tmp_path / "Foo_TRAIN.tsv")))
    assert raw.x_train.shape == (9, 1, length)
    for row, x in zip(raw.x_train, xs, strict=True):
        np.testing.assert_array_equal(row[0, : len(x)], x)
        np.testing.assert_array_equal(row[0, len(x) :], x[-1])
    assert raw.class_names == ("1", "2", "3")
    assert list(raw.y_test) == ["3", "1", "2"]  # numeric labels in any spelling
    data = load_dataset(DataConfig(path=str(tmp_path / "Foo_TRAIN.tsv"), val_split=0.0), 0)
    assert ("padded at the end" in data.description) == unequal


def test_missing_values_are_filled_only_when_asked(tmp_path):
    path = tmp_path / "Gap_TRAIN.ts"
    text = ts_text([np.zeros((2, 4))] * 2, ["a", "b"], ["a", "b"])
    lines = text.splitlines()
    lines[-2] = "1,?,3,NaN:5,6,7,8:a"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"Gap_TRAIN.ts:\d+: missing value .*dimension 1, position 2"
    ):
        read_archive(path)
    filled = read_archive(path, "interpolate").x_train[0]
    np.testing.assert_array_equal(filled, [[1, 2, 3, 3], [5, 6, 7, 8]])
    np.testing.assert_array_equal(read_archive(path, "zero").x_train[0, 0], [1, 0, 3, 0])


def test_missing_fill_applies_to_npz_too(tmp_path):
    x = np.tile(np.arange(6, dtype=np.float64), (8, 1))
    x[0, 2] = np.nan
    np.savez(tmp_path / "gaps.npz", x=x, y=np.arange(8) % 2)
    cfg = DataConfig(path=str(tmp_path / "gaps.npz"), val_split=0.0, normalize="none")
    with pytest.raises(DataError, match="data.missing"):
        load_dataset(cfg, 0)
    data = load_dataset(cfg.model_copy(update={"missing": "interpolate"}), 0)
    rows = np.concatenate([data.x_train, data.x_test])[:, 0]
    np.testing.assert_array_equal(rows, np.tile(np.arange(6.0), (8, 1)))


@pytest.mark.parametrize(
    ("path", "kind"),
    [("a.npz", "npz"), ("b.CSV", "csv"), ("c_TRAIN.ts", "ts"), ("d.tsv", "ucr")],
)
def test_the_suffix_names_the_data_kind(path, kind):
    assert DataConfig(path=path).dataset == kind
    assert DataConfig(path=path, dataset="npz").dataset == "npz"  # given wins
    assert DataConfig().dataset == "mnist"


GOOD_HEADER = "@problemName X\n@timeStamps false\n@univariate true\n@classLabel true a b\n@data\n"
MALFORMED = {
    "no-data": ("@problemName X\n@classLabel true a b\n", ".ts", 2, "no @data"),
    "label": (GOOD_HEADER + "1,2,3:a\n1,2,3:c\n", ".ts", 7, "label 'c' is not one of"),
    "dimensions": (GOOD_HEADER + "1,2,3:a\n1,2:3,4:b\n", ".ts", 7, "2 dimensions, expected 1"),
    "dims-vary": (
        GOOD_HEADER.replace("true\n@class", "false\n@class") + "1,2:3,4:a\n1,2:b\n",
        ".ts",
        7,
        "1 dimensions, expected 2",
    ),
    "timestamps-tag": (
        GOOD_HEADER.replace("@timeStamps false", "@timeStamps true"),
        ".ts",
        2,
        "timestamps",
    ),
    "timestamps-data": (GOOD_HEADER + "(0,1),(1,2):a\n", ".ts", 6, "timestamps"),
    "missing": (GOOD_HEADER + "1,?,3:a\n", ".ts", 6, "missing value"),
    "not-a-number": (GOOD_HEADER + "1,x,3:a\n", ".ts", 6, "value 2 'x' is not a number"),
    "unknown-tag": (
        "@problemName X\n@colour blue\n@data\n",
        ".ts",
        2,
        "unknown header tag @colour",
    ),
    "before-data": ("@problemName X\n1,2,3:a\n", ".ts", 2, "before @data"),
    "no-label": (GOOD_HEADER + "1,2,3\n", ".ts", 6, "label"),
    "regression-target": (
        "@problemName X\n@targetLabel true\n@data\n1,2:0.5\n1,3:high\n",
        ".ts",
        5,
        "target 'high' is not a finite number",
    ),
    "both-labels": (
        "@problemName X\n@classLabel true a\n@targetLabel true\n@data\n1,2:0.5\n",
        ".ts",
        4,
        "both @classLabel and @targetLabel",
    ),
    "no-classes": ("@problemName X\n@data\n1,2:a\n", ".ts", 2, "no @classLabel"),
    "equal-length": (
        GOOD_HEADER.replace("@data", "@equalLength true\n@seriesLength 3\n@data")
        + "1,2,3:a\n1,2:b\n",
        ".ts",
        9,
        "length 2, expected 3",
    ),
    "tsv-commas": ("1,0.5,0.25\n", ".tsv", 1, "commas found"),
    "tsv-number": ("1\t0.5\t0.25\n2\t0.5\tabc\n", ".tsv", 2, "value 2 'abc' is not a number"),
    "tsv-missing": ("1\t0.5\tNaN\t0.25\n", ".tsv", 1, "missing value"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_are_one_line_exit_2_and_no_run(tmp_path, case):
    text, suffix, line, words = MALFORMED[case]
    data = tmp_path / f"Bad_TRAIN{suffix}"
    data.write_text(text)
    config = tmp_path / "c.yaml"
    config.write_text(
        textwrap.dedent(f"""
        data: {{path: {data}}}
        model: {{layers: [{{type: flatten}}, {{type: dense, units: 2}}]}}
        output: {{runs_dir: {tmp_path / "runs"}}}
        """)
    )
    result = runner.invoke(app, ["train", str(config), "--quiet"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"{data}:{line}:" in lines[0] and words in lines[0], lines[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("name", "words"), [("x.txt", "suffix"), ("none.ts", "not found")])
def test_unknown_suffix_and_missing_file_through_the_cli(tmp_path, name, words):
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data: {{path: {tmp_path / name}}}\nmodel: {{layers: [{{type: dense, units: 2}}]}}\n"
        f"output: {{runs_dir: {tmp_path / 'runs'}}}\n"
    )
    result = runner.invoke(app, ["train", str(config), "--quiet"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and words in result.stderr
    assert not (tmp_path / "runs").exists()


def test_test_file_with_other_dimensions_is_an_error(tmp_path):
    rng = np.random.default_rng(2)
    path = write_ts_pair(tmp_path, "Mix", _series(rng, 6, 2, (5, 6)), None, CLASSES)
    (tmp_path / "Mix_TEST.ts").write_text(ts_text(*_series(rng, 3, 3, (5, 6)), CLASSES))
    with pytest.raises(DataError, match="Mix_TEST.ts: series have 3 dimensions"):
        read_archive(Path(path))


def test_predict_reads_an_unequal_length_file_as_training_did(tmp_path):
    from conv1d_cli.inference.inputs import read_predict_input

    rng = np.random.default_rng(3)
    train, test = _series(rng, 9, 2, (5, 15)), _series(rng, 6, 2, (5, 15))
    path = write_ts_pair(tmp_path, "Pad", train, test, CLASSES)
    raw = read_raw(DataConfig(path=str(path)))
    shape = raw.x_train.shape[1:]  # the run was trained on padded series: predict pads too
    got = read_predict_input(tmp_path / "Pad_TEST.ts", DataConfig(path=str(path)), shape, True)
    np.testing.assert_array_equal(got.x, raw.x_test)
    assert list(got.y) == test[1]
