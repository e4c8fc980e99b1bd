"""The time-series templates (configs/templates/*.yaml) train any labelled file with nothing but
``--set data.path=FILE``: an npz with its test arrays, a .ts or a .tsv train file with its _TEST
file beside it, a csv. Each template runs one short epoch on tiny files written here; the kind of
data, input shape, number of classes and normalization must all come from the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config
from conv1d_cli.rundir.checkpoints import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "configs" / "templates").glob("*.yaml"))
CLASSES = ("low", "high", "mid")  # string labels: names come from the file
runner = CliRunner()


def _series(n: int, channels: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, channels, length) float32, y (n,) str): noisy sines, 2, 4 or 3 cycles by class."""
    rng = np.random.default_rng(seed)
    kind = np.arange(n) % 3
    t = np.arange(length) / length
    cycles = np.array([2.0, 4.0, 3.0])[kind][:, None, None]
    x = 5.0 + np.sin(2 * np.pi * cycles * t) + rng.normal(0, 0.3, (n, channels, length))
    return x.astype(np.float32), np.array(CLASSES)[kind]


def _write_ts(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    lines = [f"@problemName {path.stem}", "@timeStamps false", "@missing false"]
    lines += [f"@univariate {str(x.shape[1] == 1).lower()}", "@equalLength true"]
    lines += [f"@classLabel true {' '.join(CLASSES)}", "@data"]
    for series, label in zip(x, y, strict=True):
        dims = [",".join(f"{v:.5f}" for v in channel) for channel in series]
        lines.append(":".join([*dims, label]))
    path.write_text("\n".join(lines) + "\n")


def _write_tsv(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    rows = ["\t".join([label, *(f"{v:.5f}" for v in s[0])]) for s, label in zip(x, y, strict=True)]
    path.write_text("\n".join(rows) + "\n")


def write_file(kind: str, folder: Path) -> tuple[Path, int]:
    """A tiny labelled file of ``kind``; returns (path, number of test samples expected)."""
    channels = 2 if kind == "ts" else 1
    x, y = _series(12, channels, 48, seed=0)
    xt, yt = _series(6, channels, 48, seed=1)
    if kind == "npz":
        path = folder / "tiny.npz"
        np.savez(path, x=x[:, 0], y=y, x_test=xt[:, 0], y_test=yt)  # (N, L): one channel
        return path, 6
    if kind in ("ts", "tsv"):
        write = _write_ts if kind == "ts" else _write_tsv
        write(folder / f"Tiny_TRAIN.{kind}", x, y)
        write(folder / f"Tiny_TEST.{kind}", xt, yt)
        return folder / f"Tiny_TRAIN.{kind}", 6
    path = folder / "tiny.csv"
    header = ["label", *(f"t{i}" for i in range(x.shape[2]))]
    rows = [",".join(header)]
    rows += [",".join([label, *(f"{v:.5f}" for v in s[0])]) for s, label in zip(x, y, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path, 3  # no test file: the default test_split (0.2) of 12 rows, rounded up


def _keys(tree: object) -> list[str]:
    """Every mapping key anywhere in a YAML tree."""
    if isinstance(tree, dict):
        return [k for key, value in tree.items() for k in (key, *_keys(value))]
    if isinstance(tree, list):
        return [k for item in tree for k in _keys(item)]
    return []


def test_there_are_three_templates():
    assert [p.stem for p in TEMPLATES] == ["fcn", "inception", "resnet1d"]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_a_template_leaves_everything_data_dependent_to_the_data(template):
    keys = set(_keys(yaml.safe_load(template.read_text())))
    for key in ("dataset", "path", "view", "normalize", "units"):
        assert key not in keys, f"{template.name} sets {key}"
    cfg = load_config(template)
    assert cfg.data.val_split == 0 and cfg.output.monitor == "train_loss"
    assert cfg.model.layers[-1].type == "dense" and cfg.model.layers[-1].units is None


@pytest.mark.parametrize(
    ("template", "kind"),
    [(t, k) for t in TEMPLATES for k in ("npz", "ts", "tsv", "csv")],
    ids=lambda v: v.stem if isinstance(v, Path) else v,
)
def test_a_template_trains_any_labelled_file_with_one_override(tmp_path, template, kind):
    path, n_test = write_file(kind, tmp_path)
    # The one override a user gives, plus what keeps the test short and inside tmp_path.
    args = ["train", str(template), "--set", f"data.path={path}", "--quiet", "--json"]
    for setting in ("train.epochs=1", f"output.runs_dir={tmp_path / 'runs'}", "output.plots=false"):
        args += ["--set", setting]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["test"]["n"] == n_test
    assert np.isfinite(summary["test"]["loss"])
    assert summary["best"]["metric"] == "train_loss"
    # The classifier's width came from the data's three classes (the last dense has no units).
    run = Path(summary["run_dir"])  # named after the template and the file
    assert run.parent == tmp_path / "runs"
    state = load_checkpoint(run / "checkpoints" / "best.safetensors").model_state
    last = len(load_config(template).model.layers) - 1
    assert state[f"{last}.W"].shape[-1] == 3
