"""A folder of .npy arrays as data (dataset npy): memory-mapped samples train, resume, evaluate
and predict exactly as the same arrays in an npz do; every malformed folder is one line, exit 2."""

from __future__ import annotations

import json
import signal
import textwrap

import numpy as np
import pytest
from run_helpers import StopAfter, rows, weights
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config.schema import DataConfig
from conv1d_cli.data import mapped
from conv1d_cli.data.mapped import MappedRows, MappedSplit, fit_statistics, nonfinite
from conv1d_cli.data.normalization import apply_normalization, fit_normalization
from conv1d_cli.data.prefetch import Prefetched
from conv1d_cli.errors import TrainingInterrupted
from conv1d_cli.training.setup import FinishedRun, run_training, setup_training

runner = CliRunner()

CONFIG = """
name: npy
seed: 4
data: {{path: {path}, val_split: 0.2, test_split: 0.2, shift: 2, noise: 0.05, normalize: {norm}}}
model:
  layers:
    - {{type: conv1d, channels: 4, kernel: 5, stride: 2}}
    - {{type: batchnorm1d}}
    - {{type: relu}}
    - {{type: dropout, rate: 0.1}}
    - {{type: globalavgpool1d}}
    - {{type: dense}}
optimizer: {{type: adam, lr: 0.01}}
train: {{epochs: 2, batch_size: 16, eval_batch_size: 7}}
output: {{runs_dir: {runs}, plots: false}}
"""


def _arrays(n: int = 240, channels: int = 2, length: int = 48, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    t = np.linspace(0, 1, length)
    wave = np.sin(2 * np.pi * (y[:, None, None] + 1) * t[None, None, :])
    x = (3 + wave + 0.3 * rng.normal(size=(n, channels, length))).astype(np.float32)
    return x, y


@pytest.fixture
def folder(tmp_path):
    """(folder of x.npy / y.npy, an npz of the same arrays)."""
    x, y = _arrays()
    path = tmp_path / "signals"
    path.mkdir()
    np.save(path / "x.npy", x)
    np.save(path / "y.npy", y)
    np.savez(tmp_path / "signals.npz", x=x, y=y)
    return path, tmp_path / "signals.npz"


def _config(tmp_path, path, norm="standardize", name="npy.yaml"):
    config = tmp_path / name
    config.write_text(textwrap.dedent(CONFIG.format(path=path, norm=norm, runs=tmp_path / "runs")))
    return config


@pytest.mark.parametrize("norm", ["standardize", "scale", "per_sample"])
def test_a_mapped_folder_trains_to_the_weights_of_the_same_npz(tmp_path, folder, norm):
    path, npz = folder
    mapped_run = setup_training(_config(tmp_path, path, norm), name="mapped")
    assert isinstance(mapped_run.data.x_train, MappedSplit)  # never read into memory whole
    in_memory = setup_training(_config(tmp_path, npz, norm, "z.yaml"), name="memory")
    assert isinstance(in_memory.data.x_train, np.ndarray)
    run_training(mapped_run)
    run_training(in_memory)
    a, b = (s.trainer.run_dir for s in (mapped_run, in_memory))
    want, got = weights(b), weights(a)
    for name in want:  # streamed statistics may differ from NumPy's in the last float64 bits
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)
    summary = [json.loads((run / "summary.json").read_text()) for run in (a, b)]
    assert summary[0]["test"]["n"] == summary[1]["test"]["n"] == 48
    assert summary[0]["test"]["accuracy"] == pytest.approx(summary[1]["test"]["accuracy"])


def test_exact_resume_on_mapped_data(tmp_path, folder):
    path, _ = folder
    config = _config(tmp_path, path)
    overrides = ["train.epochs=3"]
    reference = setup_training(config, overrides, name="reference")
    run_training(reference)
    reporter = StopAfter(13, signal.SIGTERM)  # mid-epoch 2: 10 steps an epoch
    setup = setup_training(config, overrides, name="cut", reporter=reporter)
    reporter.trainer = setup.trainer
    with pytest.raises(TrainingInterrupted):
        run_training(setup)
    resumed = setup_training(None, resume=setup.trainer.run_dir)
    assert not isinstance(resumed, FinishedRun)
    assert run_training(resumed).status == "completed"
    want, got = weights(reference.trainer.run_dir), weights(setup.trainer.run_dir)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    assert rows(setup.trainer.run_dir) == rows(reference.trainer.run_dir)


def test_eval_and_predict_read_a_mapped_test_split(tmp_path, folder):
    path, _ = folder
    x, y = _arrays(60, seed=1)
    np.save(path / "x_test.npy", x)
    np.save(path / "y_test.npy", y)
    setup = setup_training(_config(tmp_path, path), name="run")
    run_training(setup)
    run = setup.trainer.run_dir
    result = runner.invoke(app, ["eval", str(run)])
    assert result.exit_code == 0, result.output
    report = json.loads((run / "eval.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert report["n"] == 60 and report["accuracy"] == pytest.approx(summary["test"]["accuracy"])
    out = runner.invoke(app, ["predict", str(run / "checkpoints" / "best.safetensors"), str(path)])
    assert out.exit_code == 0, out.output
    assert len(out.stdout.splitlines()) == 241  # the folder's x.npy (240 samples) and a header


def _write(folder, **arrays):
    folder.mkdir(exist_ok=True)
    for name, value in arrays.items():
        np.save(folder / f"{name}.npy", value)


def _truncated(folder):
    x, y = _arrays()
    _write(folder, x=x, y=y)
    data = (folder / "x.npy").read_bytes()
    (folder / "x.npy").write_bytes(data[: len(data) // 2])
    return "x.npy"


def _short_labels(folder):
    x, y = _arrays()
    _write(folder, x=x, y=y[:-1])
    return "y.npy"


def _complex(folder):
    x, y = _arrays()
    _write(folder, x=x.astype(np.complex64), y=y)
    return "x.npy"


def _pickled_labels(folder):
    x, _ = _arrays()
    _write(folder, x=x)
    np.save(folder / "y.npy", np.array([object()] * len(x)), allow_pickle=True)
    return "y.npy"


def _fortran(folder):
    x, y = _arrays()
    _write(folder, x=np.asfortranarray(x), y=y)
    return "x.npy"


def _test_without_labels(folder):
    x, y = _arrays()
    _write(folder, x=x, y=y, x_test=x)
    return "y_test.npy"


def _no_labels(folder):
    x, _ = _arrays()
    _write(folder, x=x)
    return "y.npy"


def _one_dimensional(folder):
    _, y = _arrays()
    _write(folder, x=np.zeros(len(y), np.float32), y=y)
    return "x.npy"


def _nan(folder):
    x, y = _arrays()
    x[17, 1, 5] = np.nan
    _write(folder, x=x, y=y)
    return "sample 17"


def _test_shape(folder):
    x, y = _arrays()
    _write(folder, x=x, y=y, x_test=x[:, :1], y_test=y)
    return "x_test.npy"


@pytest.mark.parametrize(
    "make",
    [
        _truncated,
        _short_labels,
        _complex,
        _pickled_labels,
        _fortran,
        _test_without_labels,
        _no_labels,
        _one_dimensional,
        _nan,
        _test_shape,
    ],
)
def test_a_malformed_folder_is_one_line_naming_the_file_exit_2(tmp_path, make):
    folder = tmp_path / "bad"
    named = make(folder)
    config = _config(tmp_path, folder)
    result = runner.invoke(app, ["train", str(config), "--set", "data.dataset=npy"])
    assert result.exit_code == 2, result.output
    assert named in result.output and str(folder) in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output


def test_missing_other_than_error_is_refused_naming_the_key(tmp_path, folder):
    path, _ = folder
    result = runner.invoke(
        app, ["train", str(_config(tmp_path, path)), "--set", "data.missing=interpolate"]
    )
    assert result.exit_code == 2
    assert result.output.startswith("error: data.missing: interpolate is not available")


def test_a_folder_with_x_npy_is_dataset_npy(folder, tmp_path):
    path, _ = folder
    assert DataConfig(path=str(path)).dataset == "npy"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["train", str(_config(tmp_path, empty))])
    assert result.exit_code == 2
    assert "a folder holding x.npy (npy)" in result.output


@pytest.mark.parametrize("method", ["standardize", "scale"])
def test_streamed_statistics_match_the_in_memory_ones(monkeypatch, tmp_path, method):
    monkeypatch.setattr(mapped, "CHUNK_VALUES", 1000)  # 10 samples a chunk: 24 chunks
    x, _ = _arrays()
    np.save(tmp_path / "x.npy", x)
    rows = MappedRows(np.load(tmp_path / "x.npy", mmap_mode="r"))
    order = np.random.default_rng(0).permutation(len(x))[:200]  # a split: rows out of order
    got = fit_statistics(method, rows[order])
    want = fit_normalization(method, x[order])
    assert got["method"] == want["method"] == method
    for key in ("shift", "scale"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12)


def test_a_mapped_split_reads_only_the_rows_asked_normalized(monkeypatch, tmp_path):
    monkeypatch.setattr(mapped, "CHUNK_VALUES", 1000)
    x, _ = _arrays()
    x[123, 0, 7] = np.inf
    np.save(tmp_path / "x.npy", x)
    rows = MappedRows(np.load(tmp_path / "x.npy", mmap_mode="r"))
    assert nonfinite(rows) == nonfinite(x) == (1, 123)
    x[123, 0, 7] = 0
    rows.source = x  # the same rows, now finite
    stats = fit_normalization("standardize", x)
    split = MappedSplit(rows[::-1], stats)  # a split whose rows run backwards
    index = np.array([5, 200, 3, 3, 77])
    want = apply_normalization(x[::-1][index], stats)
    np.testing.assert_array_equal(split[index], want)
    np.testing.assert_array_equal(split[10:20], apply_normalization(x[::-1][10:20], stats))
    assert split.astype(np.float64)[index].dtype == np.float64
    assert split.min() == pytest.approx(float(apply_normalization(x, stats).min()), rel=1e-6)


def test_prefetched_batches_are_the_batches_asked_for():
    x = np.arange(50 * 2 * 3, dtype=np.float32).reshape(50, 2, 3)
    order = np.random.default_rng(0).permutation(50)
    ahead = Prefetched(x, order, 8)
    for k in (2, 3, 4, 6, 0):  # from a resumed batch on, then out of turn
        index = order[k * 8 : (k + 1) * 8]
        np.testing.assert_array_equal(ahead[index], x[index])
    ahead.close()
