"""Issue 22, items 1 and 2: predict and eval refuse input that does not fit the network (its
length, its channels, its labels), pad only for runs trained on padded series, and every run
says where its test split came from (data line, summary.json)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from ts_files import ts_text, write_ts_pair
from typer.testing import CliRunner

from conv1d_cli import load_model
from conv1d_cli.cli.app import app
from conv1d_cli.config import DataConfig
from conv1d_cli.data import RawData, load_dataset
from conv1d_cli.data.prepare import prepare
from conv1d_cli.errors import DataError
from conv1d_cli.rundir.checkpoints import load_checkpoint, save_checkpoint

runner = CliRunner()
CLASSES = ("a", "b", "c")
LAYERS = [
    {"type": "conv1d", "channels": 4, "kernel": 3, "padding": "same"},
    {"type": "relu"},
    {"type": "maxpool1d", "kernel": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 3},
]


def _series(rng, n: int, channels: int, lengths: tuple[int, int]) -> tuple[list, list[str]]:
    """n series (channels, L_i) with L_i in [lengths[0], lengths[1]], labels cycling a, b, c."""
    labels = [CLASSES[i % 3] for i in range(n)]
    xs = []
    for i in range(n):
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        t = np.arange(length) / 8.0
        xs.append(np.sin((1 + i % 3) * t)[None, :].repeat(channels, 0) + rng.normal(0, 0.1))
    return xs, labels


def _train(folder: Path, name: str, lengths: tuple[int, int], *, test: bool = True) -> Path:
    """A one-epoch run on NAME_TRAIN.ts (and NAME_TEST.ts); returns the run directory."""
    rng = np.random.default_rng(0)
    train = _series(rng, 30, 1, lengths)
    path = write_ts_pair(
        folder, name, train, _series(rng, 9, 1, lengths) if test else None, CLASSES
    )
    config = {
        "name": name,
        "seed": 0,
        "data": {"path": str(path), "val_split": 0.0, "test_split": 0.2},
        "model": {"layers": LAYERS},
        "optimizer": {"type": "adam", "lr": 0.01},
        "train": {"epochs": 1, "batch_size": 8},
        "output": {"runs_dir": str(folder / "runs"), "plots": False, "monitor": "train_acc"},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["train", str(folder / "config.yaml")])
    assert result.exit_code == 0, result.stderr
    return folder / "runs" / name


@pytest.fixture(scope="module")
def equal_run(tmp_path_factory) -> Path:
    """Trained on series of one length, 32: never padded."""
    return _train(tmp_path_factory.mktemp("equal"), "Even", (32, 32))


@pytest.fixture(scope="module")
def padded_run(tmp_path_factory) -> Path:
    """Trained on series of lengths 20..32, padded to the longest of train and test files."""
    return _train(tmp_path_factory.mktemp("padded"), "Ragged", (20, 32))


def _predict(*args) -> tuple[int, str, str]:
    result = runner.invoke(app, ["predict", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def _eval(*args) -> tuple[int, str, str]:
    result = runner.invoke(app, ["eval", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def _write_ts(path: Path, series, labels, classes=CLASSES) -> Path:
    path.write_text(ts_text(series, labels, classes))
    return path


# ------------------------------------------------------------------------- item 1: shapes
def test_checkpoints_know_whether_their_series_were_padded(equal_run, padded_run):
    assert load_model(equal_run).padded is False
    assert load_model(padded_run).padded is True
    longest = load_model(padded_run).input_shape[1]
    assert 20 < longest <= 32  # padded to the longest series of both files


@pytest.mark.parametrize("length", [20, 40])
def test_another_length_is_refused_naming_both_shapes(equal_run, tmp_path, length):
    rng = np.random.default_rng(1)
    path = _write_ts(tmp_path / "Other.ts", *_series(rng, 6, 1, (length, length)))
    code, out, err = _predict(equal_run, path)
    assert code == 2 and out == ""
    assert f"series of shape (1, {length}) do not fit" in err
    assert "expects (channels, length) = (1, 32)" in err
    assert len(err.strip().splitlines()) == 1


def test_other_channels_are_refused_with_the_files_own_shape(equal_run, tmp_path):
    """BasicMotions-like (3 channels, shorter) into a one-channel run: the file's (3, 16)."""
    rng = np.random.default_rng(2)
    path = _write_ts(tmp_path / "Multi.ts", *_series(rng, 6, 3, (16, 16)))
    code, _, err = _predict(equal_run, path)
    assert code == 2
    assert "series of shape (3, 16)" in err and "(1, 32)" in err
    assert "trained on 1-channel series" in err


def test_npz_of_another_length_is_refused(equal_run, tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, x=np.zeros((4, 150), np.float32))
    code, _, err = _predict(equal_run, path)
    assert code == 2 and "samples of shape (150,)" in err and "(1, 32)" in err


def test_a_padded_run_pads_shorter_series_and_says_so_once(padded_run, tmp_path):
    model = load_model(padded_run)
    length = model.input_shape[1]
    rng = np.random.default_rng(3)
    series, labels = _series(rng, 7, 1, (18, length - 2))
    path = _write_ts(tmp_path / "Short.ts", series, labels)
    code, out, err = _predict(padded_run, path)
    assert code == 0, err
    assert err.count("padded at the end to") == 1 and f"to {length}" in err
    # The same rule as training's reader: each series repeats its last value.
    by_hand = np.stack([np.pad(x, [(0, 0), (0, length - x.shape[1])], mode="edge") for x in series])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["label"] for r in rows] == list(model.predict(by_hand))
    # Longer than the run's series: never cut.
    longer = _write_ts(tmp_path / "Long.ts", *_series(rng, 4, 1, (length + 5, length + 5)))
    code, _, err = _predict(padded_run, longer)
    assert code == 2 and f"series of shape (1, {length + 5})" in err and "not cut" in err


def test_a_checkpoint_without_the_padded_key_counts_as_not_padded(padded_run, tmp_path):
    """Checkpoints written before data.padded existed: no crash, nothing padded."""
    checkpoint = load_checkpoint(padded_run / "checkpoints" / "best.safetensors")
    del checkpoint.meta["data"]["padded"]
    old = tmp_path / "old.safetensors"
    save_checkpoint(old, checkpoint)
    model = load_model(old)
    assert model.padded is False
    rng = np.random.default_rng(4)
    path = _write_ts(tmp_path / "Short.ts", *_series(rng, 4, 1, (18, 19)))
    code, _, err = _predict(old, path)
    assert code == 2 and "shorter ones are not padded" in err


# ------------------------------------------------------------------------- item 1: labels
def test_labels_that_are_not_classes_are_refused_unless_ignored(equal_run, tmp_path):
    path = tmp_path / "digits.npz"
    y = np.arange(8) % 8  # eight digits, none of them a, b or c
    np.savez(path, x=np.zeros((8, 1, 32), np.float32), y=y)
    code, out, err = _predict(equal_run, path)
    assert code == 2 and out == ""
    assert "labels 0, 1, 2, 3, 4 and 3 more are not among the network's classes (a, b, c)" in err
    assert "--ignore-labels" in err
    code, out, err = _predict(equal_run, path, "--ignore-labels")
    assert code == 0, err
    assert len(list(csv.DictReader(io.StringIO(out)))) == 8
    assert "accuracy" not in err


def test_unknown_labels_in_a_csv_are_refused_before_any_row(equal_run, tmp_path):
    path = tmp_path / "rows.csv"
    header = ["label"] + [f"v{i}" for i in range(32)]
    lines = [",".join(header)]
    lines += [",".join([name] + ["0.5"] * 32) for name in ("a", "b", "zebra", "a")]
    path.write_text("\n".join(lines) + "\n")
    code, out, err = _predict(equal_run, path)
    assert code == 2 and out == "" and "label 'zebra' is not one of the network's classes" in err
    code, out, err = _predict(equal_run, path, "--ignore-labels")
    assert code == 0 and len(list(csv.DictReader(io.StringIO(out)))) == 4


def test_known_labels_are_still_scored(equal_run, tmp_path):
    rng = np.random.default_rng(5)
    path = _write_ts(tmp_path / "Same.ts", *_series(rng, 9, 1, (32, 32)))
    code, _, err = _predict(equal_run, path)
    assert code == 0 and "accuracy" in err


# ------------------------------------------------------------------------- item 1: eval
def test_eval_refuses_another_length(equal_run, tmp_path):
    rng = np.random.default_rng(6)
    path = write_ts_pair(
        tmp_path, "Gun", _series(rng, 9, 1, (50, 50)), _series(rng, 6, 1, (50, 50)), CLASSES
    )
    code, _, err = _eval(equal_run, "--set", f"data.path={path}")
    assert code == 2
    assert "samples of shape (1, 50) do not fit the network" in err and "(1, 32)" in err
    # A run with a data.view (MNIST's [1, 784]) is still told the file's own shape.
    code, _, err = _eval(equal_run, "--set", f"data.path={path}", "--set", "data.view=[1, 32]")
    assert code == 2 and "samples of shape (1, 50) do not fit the network" in err


def test_eval_refuses_labels_that_are_not_classes(equal_run, tmp_path):
    rng = np.random.default_rng(7)
    train, test = _series(rng, 9, 1, (32, 32)), _series(rng, 6, 1, (32, 32))
    relabel = {"a": "x", "b": "y", "c": "z"}
    path = write_ts_pair(
        tmp_path,
        "Other",
        (train[0], [relabel[v] for v in train[1]]),
        (test[0], [relabel[v] for v in test[1]]),
        ("x", "y", "z"),
    )
    code, _, err = _eval(equal_run, "--set", f"data.path={path}")
    assert code == 2 and "labels 'x', 'y', 'z' are not among the trained classes" in err


def test_eval_of_a_padded_run_pads_shorter_series(padded_run, tmp_path):
    length = load_model(padded_run).input_shape[1]
    rng = np.random.default_rng(8)
    path = write_ts_pair(
        tmp_path, "Shorter", _series(rng, 9, 1, (15, 18)), _series(rng, 6, 1, (15, 18)), CLASSES
    )
    code, out, err = _eval(padded_run, "--set", f"data.path={path}")
    assert code == 0, err
    assert out.count(f"padded at the end from 18 to {length}") == 1
    assert "(n=6)" in out


# ---------------------------------------------------------------------- item 2: test split
def test_a_missing_test_file_is_said_in_the_data_line_and_summary(tmp_path):
    run = _train(tmp_path, "Solo", (32, 32), test=False)
    summary = json.loads((run / "summary.json").read_text())
    words = "no Solo_TEST.ts beside Solo_TRAIN.ts: held out 20% of the training file (6 series)"
    assert words in summary["data"]
    assert summary["test_split"] == {
        "source": "held out",
        "fraction": 0.2,
        "n": 6,
        "reason": "no Solo_TEST.ts beside Solo_TRAIN.ts",
    }
    assert summary["test"]["n"] == 6
    meta = load_checkpoint(run / "checkpoints" / "best.safetensors").meta
    assert meta["data"]["test_split"] == summary["test_split"]


def test_the_data_line_printed_by_train_says_where_the_test_split_came_from(tmp_path):
    rng = np.random.default_rng(9)
    path = write_ts_pair(tmp_path, "Line", _series(rng, 20, 1, (32, 32)), None, CLASSES)
    config = {
        "name": "line",
        "data": {"path": str(path), "val_split": 0.0},
        "model": {"layers": LAYERS},
        "train": {"epochs": 1},
        "output": {"runs_dir": str(tmp_path / "runs"), "plots": False, "monitor": "train_acc"},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["train", str(tmp_path / "c.yaml")])
    assert result.exit_code == 0, result.stderr
    assert "no Line_TEST.ts beside Line_TRAIN.ts: held out 20% of the training file (4 series)" in (
        result.stderr
    )


def test_an_archive_test_file_is_named(tmp_path):
    rng = np.random.default_rng(10)
    path = write_ts_pair(
        tmp_path, "Pair", _series(rng, 12, 1, (16, 16)), _series(rng, 6, 1, (16, 16)), CLASSES
    )
    data = load_dataset(DataConfig(path=str(path), val_split=0.0), 0)
    assert data.test_split == {"source": "file", "path": str(tmp_path / "Pair_TEST.ts"), "n": 6}
    assert "test split from Pair_TEST.ts" in data.description


def test_a_file_not_named_train_says_why_no_test_file(tmp_path):
    rng = np.random.default_rng(11)
    path = _write_ts(tmp_path / "plain.ts", *_series(rng, 20, 1, (16, 16)))
    data = load_dataset(DataConfig(path=str(path), val_split=0.0, test_split=0.25), 0)
    assert data.test_split["source"] == "held out" and data.test_split["n"] == 5
    assert "plain.ts is not named *_TRAIN.ts" in data.description
    assert "held out 25% of the training file (5 series)" in data.description


def test_npz_with_and_without_x_test(tmp_path):
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(20, 16)).astype(np.float32), np.arange(20) % 2
    with_test = tmp_path / "with.npz"
    np.savez(with_test, x=x, y=y, x_test=x[:6], y_test=y[:6])
    data = load_dataset(DataConfig(path=str(with_test), val_split=0.0), 0)
    assert data.test_split == {"source": "arrays", "path": str(with_test), "n": 6}
    assert "test split from x_test/y_test of with.npz" in data.description
    without = tmp_path / "without.npz"
    np.savez(without, x=x, y=y)
    data = load_dataset(DataConfig(path=str(without), val_split=0.0), 0)
    assert data.test_split["source"] == "held out" and data.test_split["n"] == 4
    assert "no x_test/y_test in without.npz: held out 20% of the file (4 samples)" in (
        data.description
    )


def test_csv_holds_one_out(tmp_path):
    path = tmp_path / "sig.csv"
    rows = ["label," + ",".join(f"v{i}" for i in range(8))]
    rows += [f"{i % 2}," + ",".join(str(i * j % 5) for j in range(8)) for i in range(20)]
    path.write_text("\n".join(rows) + "\n")
    data = load_dataset(DataConfig(path=str(path), val_split=0.0), 0)
    assert data.test_split["source"] == "held out" and data.test_split["n"] == 4
    assert "sig.csv is one CSV file (no test split): held out 20% of it (4 samples)" in (
        data.description
    )


def test_built_in_data_sets_say_official_or_held_out():
    digits = load_dataset(DataConfig(dataset="digits", val_split=0.0, test_split=0.25), 0)
    assert digits.test_split == {
        "source": "held out",
        "fraction": 0.25,
        "n": 450,
        "reason": "scikit-learn's digits have no test split",
    }
    assert "digits have no test split: held out 25% of the data (450 samples)" in (
        digits.description
    )
    rng = np.random.default_rng(13)
    x, y = rng.normal(size=(12, 8)), np.arange(12) % 2
    raw = RawData(x, y, x[:4], y[:4], origin="Toy (built in)")  # a reader that gives a split
    data = prepare(raw, DataConfig(dataset="digits", val_split=0.0), 0)
    assert data.test_split == {"source": "official", "n": 4}
    assert "the official test split of Toy (built in)" in data.description


def test_eval_reports_the_test_split(equal_run):
    code, out, err = _eval(equal_run, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["test_split"]["source"] == "file"
    assert report["test_split"]["path"].endswith("Even_TEST.ts")


def test_unknown_training_labels_name_a_few_and_count_the_rest():
    raw = RawData(np.zeros((9, 4)), np.array([f"l{i}" for i in range(9)]), None, None, "f", ("a",))
    with pytest.raises(DataError, match=r"labels 'l0', 'l1', 'l2', 'l3', 'l4' and 4 more are"):
        prepare(raw, DataConfig(dataset="digits", val_split=0.0), 0)


def test_the_result_line_says_a_held_out_test_split_is_held_out(capsys):
    from types import SimpleNamespace

    from conv1d_cli.cli.app import print_training_result

    summary = {
        "status": "completed",
        "best": {"metric": "train_loss", "value": None, "epoch": None},
        "test": {"accuracy": 0.875, "loss": 0.5, "n": 8},
        "test_split": {"source": "held out", "fraction": 0.2, "n": 8},
    }
    result = SimpleNamespace(run_dir="runs/x", summary=summary)
    print_training_result(result, json_output=False)
    assert "(n=8, held out of the training data)" in capsys.readouterr().out
    summary["test_split"] = {"source": "file", "n": 8}
    print_training_result(result, json_output=False)
    assert "(n=8)" in capsys.readouterr().out
