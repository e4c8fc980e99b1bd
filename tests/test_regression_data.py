"""Regression data (issue 23 items 1 and 2): the task chosen from the data, CSV / npz / .ts
targets, their errors (one line naming file and line, exit 2) and the seeded held-out splits."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config import DataConfig
from conv1d_cli.data import RawData, load_dataset
from conv1d_cli.data.arrays import read_signals_csv, read_signals_npz
from conv1d_cli.data.prepare import prepare
from conv1d_cli.data.ts import read_archive
from conv1d_cli.errors import DataError
from conv1d_cli.inference.load import load_model
from conv1d_cli.rundir.checkpoints import load_checkpoint
from conv1d_cli.task.regression import destandardize

runner = CliRunner()
LENGTH = 32


def _sines(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, LENGTH) noisy sines and their frequencies (the targets, not whole numbers)."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(1.0, 4.0, n)
    t = np.arange(LENGTH) / LENGTH
    x = np.sin(2 * np.pi * freq[:, None] * t + rng.uniform(0, 6, (n, 1)))
    return x + rng.normal(0, 0.05, x.shape), freq


def _write_csv(path, x, targets: dict[str, np.ndarray], edit=None) -> None:
    """One row a sample: the values v0.., then the target columns; ``edit(row, cells)``."""
    header = [f"v{i}" for i in range(x.shape[1])] + list(targets)
    lines = [",".join(header)]
    for i, row in enumerate(x):
        cells = [f"{v:.5f}" for v in row] + [repr(float(t[i])) for t in targets.values()]
        if edit is not None:
            edit(i, cells)
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def ts_regression_text(x: np.ndarray, targets, *, label_tag: str = "@targetLabel true") -> str:
    """A univariate ``.ts`` file of series x (N, L) with one target (text) a line."""
    header = [
        "@problemName Sines",
        "@timeStamps false",
        "@univariate true",
        "@equalLength true",
        f"@seriesLength {x.shape[1]}",
        label_tag,
        "@data",
    ]
    rows = [
        ",".join(repr(float(v)) for v in row) + f":{t}" for row, t in zip(x, targets, strict=True)
    ]
    return "\n".join(header + rows) + "\n"


def _ts_pair(folder, n_train=120, n_test=40, seed=0):
    x, y = _sines(n_train + n_test, seed)
    train = folder / "Sines_TRAIN.ts"
    train.write_text(ts_regression_text(x[:n_train], [repr(float(v)) for v in y[:n_train]]))
    (folder / "Sines_TEST.ts").write_text(
        ts_regression_text(x[n_train:], [repr(float(v)) for v in y[n_train:]])
    )
    return train, x[n_train:], y[n_train:]


def _one_error_line(result, *needles: str) -> str:
    """The run failed with exit 2 and one error line holding every needle."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


TINY = """
data: {{path: {path}, val_split: 0.2}}
model:
  layers:
    - {{type: conv1d, channels: 8, kernel: 5, padding: same}}
    - {{type: relu}}
    - {{type: globalavgpool1d}}
    - {{type: dense}}
optimizer: {{lr: 0.01}}
train: {{epochs: 4, batch_size: 16}}
output: {{runs_dir: {runs}, plots: false}}
"""


def _train(tmp_path, data_path, *overrides: str):
    config = tmp_path / "tiny.yaml"
    config.write_text(textwrap.dedent(TINY.format(path=data_path, runs=tmp_path / "runs")))
    sets = [arg for o in overrides for arg in ("--set", o)]
    return runner.invoke(app, ["train", str(config), "--quiet", "--json", *sets])


# ------------------------------------------------------------------------------------ CSV
def test_csv_fractions_are_regression_named_by_their_column(tmp_path):
    x, y = _sines(50, 0)
    _write_csv(tmp_path / "s.csv", x, {"freq": y})
    data = load_dataset(DataConfig(path=str(tmp_path / "s.csv"), label_column="freq"), 0)
    assert data.task == "regression" and data.target_names == ("freq",)
    assert data.sample_shape == (1, LENGTH)  # the target column is not a signal value
    assert "1 target (regression)" in data.description
    back = destandardize(np.concatenate([data.y_train, data.y_val, data.y_test]),
                         data.target_scaling)  # fmt: skip
    np.testing.assert_allclose(np.sort(back[:, 0]), np.sort(y), rtol=1e-6)


def test_csv_whole_numbers_stay_classes_unless_told(tmp_path):
    x, _ = _sines(40, 0)
    _write_csv(tmp_path / "s.csv", x, {"label": np.arange(40) % 4})
    cfg = DataConfig(path=str(tmp_path / "s.csv"))
    assert load_dataset(cfg, 0).task == "classification"
    told = load_dataset(cfg, 0, task="regression")
    assert told.task == "regression" and told.n_outputs == 1


def test_csv_several_columns_give_several_named_outputs(tmp_path):
    x, y = _sines(60, 1)
    _write_csv(tmp_path / "s.csv", x, {"freq": y, "double": 2 * y, "count": np.arange(60)})
    cfg = DataConfig(path=str(tmp_path / "s.csv"), label_column=["freq", "count"])
    data = load_dataset(cfg, 0)
    assert data.task == "regression" and data.target_names == ("freq", "count")
    assert data.y_train.shape[1] == 2 and data.n_outputs == 2
    assert data.sample_shape == (1, LENGTH + 1)  # "double" is not named: it is a value
    assert "2 targets (regression: " in data.description
    # whole-number target columns are targets too, when there are several
    every = np.concatenate([data.y_train, data.y_val, data.y_test])
    every = destandardize(every, data.target_scaling)
    np.testing.assert_allclose(np.sort(every[:, 1]), np.arange(60), atol=1e-4)


def _edit_row(at: int, column: int, text: str):
    def edit(i, cells):
        if i == at:
            cells[column] = text

    return edit


@pytest.mark.parametrize(
    ("columns", "edit", "message"),
    [
        # the header is line 1, sample i is on line i + 2
        ("freq", _edit_row(3, -2, "abc"), "s.csv:5: column 'freq': target 'abc' is not a finite"),
        ("freq", _edit_row(0, -2, "nan"), "s.csv:2: column 'freq': target 'nan' is not a finite"),
        ("freq", _edit_row(7, -2, ""), "s.csv:9: no value in column 'freq'"),
        (["freq", "amp"], _edit_row(4, -2, "x"), "s.csv:6: column 'freq': target 'x' is not"),
        (["freq", "amp"], _edit_row(9, -1, "inf"), "s.csv:11: column 'amp': target 'inf' is"),
        (["freq", "amp"], _edit_row(2, -1, " "), "s.csv:4: no value in column 'amp'"),
    ],
)
def test_a_bad_csv_target_is_one_line_naming_file_line_and_column(tmp_path, columns, edit, message):
    x, y = _sines(20, 2)
    _write_csv(tmp_path / "s.csv", x, {"freq": y, "amp": y + 1}, edit)
    with pytest.raises(DataError, match=message.replace(".", r"\.")):
        read_signals_csv(tmp_path / "s.csv", columns)


def test_csv_names_under_task_regression_name_the_line_and_column(tmp_path):
    x, _ = _sines(12, 0)
    labels = np.array(["low", "high"] * 6)
    lines = ["label," + ",".join(f"v{i}" for i in range(LENGTH))]
    lines += [
        f"{lab}," + ",".join(f"{v:.4f}" for v in row) for lab, row in zip(labels, x, strict=True)
    ]
    lines.insert(3, "")  # a blank line still counts: the error names the file's own line
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    raw = read_signals_csv(tmp_path / "s.csv", "label")
    assert raw.y_train.dtype.kind == "U"
    with pytest.raises(DataError) as caught:
        prepare(raw, DataConfig(), 0, task="regression")
    assert str(caught.value).startswith(f"{tmp_path / 's.csv'}:2: targets must be numbers")
    assert "found 'low' in column 'label'; set task: classification" in str(caught.value)
    assert raw.train_lines[1][:4].tolist() == [2, 3, 5, 6]  # line 4 is blank
    later = RawData(
        raw.x_train[2:],
        raw.y_train[2:],
        None,
        None,
        origin=raw.origin,
        target_names=raw.target_names,
        train_lines=(raw.train_lines[0], raw.train_lines[1][2:]),
    )
    with pytest.raises(DataError, match=r"s\.csv:5: targets must be numbers .* found 'low'"):
        prepare(later, DataConfig(), 0, task="regression")


def test_csv_label_columns_named_twice_or_absent(tmp_path):
    x, y = _sines(10, 0)
    _write_csv(tmp_path / "s.csv", x, {"freq": y})
    with pytest.raises(DataError, match="data.label_column: 'freq' named twice"):
        read_signals_csv(tmp_path / "s.csv", ["freq", "freq"])
    with pytest.raises(DataError, match="data.label_column: 'amp' is not a column of"):
        read_signals_csv(tmp_path / "s.csv", ["freq", "amp"])


def test_label_column_as_a_list_in_the_config():
    assert DataConfig(label_column=["a", "b"]).label_column == ("a", "b")
    assert DataConfig(label_column="0o17").label_column == "0o17"
    with pytest.raises(ValueError, match="at least 1 item"):
        DataConfig(label_column=[])


# ------------------------------------------------------------------------------------ npz
def test_npz_target_names_and_k(tmp_path):
    x, y = _sines(40, 0)
    np.savez(tmp_path / "one.npz", x=x, y=y)
    np.savez(tmp_path / "two.npz", x=x, y=np.stack([y, -y], axis=1))
    one = load_dataset(DataConfig(path=str(tmp_path / "one.npz")), 0)
    two = load_dataset(DataConfig(path=str(tmp_path / "two.npz")), 0)
    assert one.target_names == ("target",) and two.target_names == ("target_0", "target_1")


def test_npz_y_test_must_have_the_same_k(tmp_path):
    x, y = _sines(40, 0)
    path = tmp_path / "s.npz"
    np.savez(path, x=x, y=y, x_test=x[:5], y_test=np.stack([y[:5], y[:5]], axis=1))
    with pytest.raises(DataError) as caught:
        read_signals_npz(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: y_test has 2 target columns") and "\n" not in message
    assert "y has 1" in message


def test_npz_whole_training_targets_beside_fractional_test_targets_are_one_problem(tmp_path):
    """y = [10.0, 23.0, ...] happens to be whole; with fractions in y_test it is regression."""
    x, y = _sines(40, 0)
    path = tmp_path / "s.npz"
    y_test = np.array([11.5, 20.25, 30.0, 12.0])
    np.savez(path, x=x, y=np.round(10 * y), x_test=x[:4], y_test=y_test)
    data = load_dataset(DataConfig(path=str(path)), 0)
    assert data.task == "regression"
    np.testing.assert_allclose(
        destandardize(data.y_test, data.target_scaling)[:, 0], y_test, rtol=1e-6
    )


# ------------------------------------------------------------------------------------ .ts
def test_ts_regression_round_trip_through_train(tmp_path):
    """summary.json's test RMSE is the best checkpoint's RMSE on the _TEST file, in the
    targets' own units, as computed here from its outputs."""
    train, x_test, y_test = _ts_pair(tmp_path)
    result = _train(tmp_path, train)
    assert result.exit_code == 0, result.stderr
    test = json.loads(result.stdout)["test"]
    assert set(test) >= {"rmse", "mae", "r2", "n"} and test["n"] == len(y_test)
    best = next((tmp_path / "runs").glob("*/checkpoints/best.safetensors"))
    meta = load_checkpoint(best).meta["data"]
    assert meta["task"] == "regression" and meta["target_names"] == ["target"]
    model = load_model(best)
    outputs = model.logits(x_test[:, None, :].astype(np.float32))  # (N, 1) standardized
    predicted = destandardize(outputs, meta["target_scaling"])[:, 0]
    error = predicted - y_test
    assert test["rmse"] == pytest.approx(np.sqrt(np.mean(error**2)), rel=2e-5)
    assert test["mae"] == pytest.approx(np.mean(np.abs(error)), rel=2e-5)
    r2 = 1 - np.sum(error**2) / np.sum((y_test - y_test.mean()) ** 2)
    assert test["r2"] == pytest.approx(r2, rel=1e-4, abs=1e-5)


def _replace_line(path, number: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("which", "line", "text", "message"),
    [  # header lines 1-7, series from line 8
        ("TRAIN", 10, "1,2,3:abc", "Sines_TRAIN.ts:10: target 'abc' is not a finite number"),
        ("TEST", 9, "1,2,3", "Sines_TEST.ts:9: no target: a series ends with ':' and its"),
        ("TRAIN", 8, "1,2,3:", "Sines_TRAIN.ts:8: target '' is not a finite number"),
        ("TRAIN", 12, "1,2,3:nan", "Sines_TRAIN.ts:12: target 'nan' is not a finite number"),
        ("TRAIN", 6, "@targetLabel true\n@classLabel true a b", "both @classLabel and @target"),
    ],
)
def test_a_malformed_ts_regression_file_is_one_line_and_exit_2(
    tmp_path, which, line, text, message
):
    train, _, _ = _ts_pair(tmp_path, 30, 10)
    _replace_line(tmp_path / f"Sines_{which}.ts", line, text)
    line_text = _one_error_line(_train(tmp_path, train), message)
    assert line_text.startswith(f"error: {tmp_path}")


def test_a_classification_test_file_beside_a_regression_one(tmp_path):
    train, x_test, _ = _ts_pair(tmp_path, 30, 10)
    labels = ["a", "b"] * 5
    text = ts_regression_text(x_test, labels, label_tag="@classLabel true a b")
    (tmp_path / "Sines_TEST.ts").write_text(text)
    _one_error_line(
        _train(tmp_path, train),
        f"{tmp_path / 'Sines_TEST.ts'}:6: @classLabel, but Sines_TRAIN.ts says @targetLabel "
        "true; the _TRAIN and _TEST files must be the same problem",
    )


def test_task_classification_on_a_regression_file(tmp_path):
    """Few distinct targets become classes named by their values ("2", not "2.0"); targets
    that are mostly distinct are refused: numbers to predict, not classes."""
    x, _ = _sines(40, 3)
    levels = ["1", "2.0", "3"] * 13 + ["1"]
    path = tmp_path / "Levels_TRAIN.ts"
    path.write_text(ts_regression_text(x, levels))
    data = prepare(read_archive(path), DataConfig(val_split=0.0), 0, task="classification")
    assert data.task == "classification" and data.class_names == ("1", "2", "3")
    ordered = np.concatenate([data.y_train, data.y_test])
    assert sorted(np.bincount(ordered).tolist()) == [13, 13, 14]
    assert load_dataset(DataConfig(path=str(path)), 0).task == "regression"  # auto: the file

    train, _, _ = _ts_pair(tmp_path, 30, 10)
    result = _train(tmp_path, train, "task=classification")
    _one_error_line(
        result, "Sines_TRAIN.ts: task classification, but the 30 training targets take 30 "
        "distinct values", "use task: regression or auto"
    )  # fmt: skip


def test_task_regression_on_named_classes_through_the_cli(tmp_path):
    x, _ = _sines(20, 0)
    header = "@problemName Named\n@univariate true\n@classLabel true low high\n@data\n"
    rows = [",".join(f"{v:.4f}" for v in row) + f":{'low' if i % 2 else 'high'}"
            for i, row in enumerate(x)]  # fmt: skip
    path = tmp_path / "Named_TRAIN.ts"
    path.write_text(header + "\n".join(rows) + "\n")
    result = _train(tmp_path, path, "task=regression")
    _one_error_line(
        result, f"{path}:5: targets must be numbers for task regression, found 'high'",
        "set task: classification for named classes",
    )  # fmt: skip


def test_covid_like_data_line_says_regression(tmp_path):
    train, _, _ = _ts_pair(tmp_path, 30, 10)
    data = load_dataset(DataConfig(path=str(train)), 0)
    assert data.description.startswith(f"{train}: 27 train / 3 val / 10 test samples")
    assert "1 target (regression)" in data.description
    assert "test split from Sines_TEST.ts" in data.description


# ------------------------------------------------------------------------- held-out splits
def test_regression_held_out_splits_are_seeded_shuffles(tmp_path):
    """No _TEST file: test and validation are seeded random draws over the whole range of
    (sorted, all distinct) targets; stratifying would be impossible with one sample each."""
    x, y = _sines(100, 4)
    order = np.argsort(y)
    raw = RawData(x[order], y[order], None, None, origin="sorted.npz")
    cfg = DataConfig(val_split=0.2, test_split=0.2)

    def targets(seed):
        data = prepare(raw, cfg, seed)
        return [destandardize(s, data.target_scaling)[:, 0]
                for s in (data.y_train, data.y_val, data.y_test)]  # fmt: skip

    first, again, other = targets(0), targets(0), targets(1)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.sort(first[2]), np.sort(other[2]))
    assert [len(part) for part in first] == [64, 16, 20]
    # shuffled, not the tail of the file: every part spans the sorted targets' range
    for part in first:
        assert part.min() < np.quantile(y, 0.25) and part.max() > np.quantile(y, 0.75)
    np.testing.assert_allclose(np.sort(np.concatenate(first)), np.sort(y), rtol=1e-6)
