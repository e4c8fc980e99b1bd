"""`conv1d explain` and `conv1d show` end to end on a small trained run: files, pictures,
LoadedModel.explain, and every refusal as one line with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from trained_runs import train_run
from typer.testing import CliRunner

from conv1d_cli import load_model
from conv1d_cli.cli.app import app
from conv1d_cli.inference import explain_plots as plots
from conv1d_cli.training.report import save_figure

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"
BLOCK_NET = [
    {"type": "conv1d", "channels": 6, "kernel": 5, "padding": "same"},
    {"type": "relu"},
    {
        "type": "residual",
        "activation": "relu",
        "layers": [
            {"type": "conv1d", "channels": 6, "kernel": 3, "padding": "same"},
            {"type": "batchnorm1d"},
        ],
    },
    {"type": "maxpool1d", "kernel": 2},
    {"type": "globalavgpool1d"},
    {"type": "dense", "units": 3},
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain")
    run_dir, x, y = train_run(folder, BLOCK_NET, epochs=2)
    data = folder / "test.npz"
    np.savez(data, x=x, y=y)
    return run_dir, data, x, y


def _invoke(*args):
    result = runner.invoke(app, [*map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == PNG and path.stat().st_size > 2000


def test_explain_writes_attributions_json_and_pictures(run, tmp_path):
    run_dir, data, x, y = run
    out = tmp_path / "out"
    code, stdout, err = _invoke("explain", run_dir, data, "--out", out, "-i", "3", "-i", "0")
    assert code == 0, err
    assert "wrote 5 files to" in stdout
    attributions = np.load(out / "attributions.npy")
    assert attributions.shape == (2, 2, 32) and attributions.dtype == np.float32
    model = load_model(run_dir)
    expected = model.explain(x[[3, 0]], method="gradcam")
    np.testing.assert_allclose(attributions, expected, rtol=1e-6, atol=1e-7)
    report = json.loads((out / "explain.json").read_text())
    assert report["method"] == "gradcam" and report["layer"] == "2"  # the residual block
    assert [s["index"] for s in report["samples"]] == [3, 0]
    assert [s["true"] for s in report["samples"]] == list(y[[3, 0]])
    assert [s["predicted"] for s in report["samples"]] == list(model.predict(x[[3, 0]]))
    for name in ("sample-3.png", "sample-0.png", "classes.png"):
        assert _is_png(out / name)


def test_every_sample_input_x_gradient_for_one_class(run, tmp_path):
    run_dir, data, x, _ = run
    out = tmp_path / "all"
    code, stdout, err = _invoke(
        "explain", run_dir, data, "--out", out, "--method", "input-x-gradient",
        "--target", "high", "--json",
    )  # fmt: skip
    assert code == 0, err
    written = json.loads(stdout)
    assert written["note"] == "pictures of the first 16 of 60 samples"
    assert len([f for f in written["files"] if f.startswith("sample-")]) == 16
    attributions = np.load(out / "attributions.npy")
    expected = load_model(run_dir).explain(x, method="input-x-gradient", target="high")
    np.testing.assert_allclose(attributions, expected, rtol=1e-6, atol=1e-7)
    report = json.loads((out / "explain.json").read_text())
    assert report["layer"] is None and {s["explained_class"] for s in report["samples"]} == {"high"}


def test_a_streamed_csv_input_and_a_layer_inside_a_block(run, tmp_path):
    run_dir, _, x, y = run
    path = tmp_path / "x.csv"
    rows = [",".join(["label", *(f"v{i}" for i in range(64))])]
    rows += [
        ",".join([label, *(f"{v:.9g}" for v in s.reshape(-1))])
        for s, label in zip(x, y, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "csv"
    code, _, err = _invoke(
        "explain", run_dir, path, "--out", out, "-i", "59", "--layer", "2.layers.0"
    )
    assert code == 0, err
    report = json.loads((out / "explain.json").read_text())
    assert report["samples"][0]["true"] == y[59] and report["layer"] == "2.layers.0"
    expected = load_model(run_dir).explain(x[59:], layer="2.layers.0")
    np.testing.assert_allclose(np.load(out / "attributions.npy"), expected, rtol=1e-5, atol=1e-6)


def test_show_draws_kernels_and_feature_maps(run, tmp_path):
    run_dir, data, _, _ = run
    code, stdout, err = _invoke("show", run_dir, "--out", tmp_path / "a")
    assert code == 0, err
    assert stdout.startswith("wrote 1 files") and _is_png(tmp_path / "a" / "kernels.png")
    out = tmp_path / "b"  # 6 input channels: each filter as an image
    code, _, err = _invoke(
        "show", run_dir, "--out", out, "--layer", "2.layers.0", "--input", data, "-i", "5"
    )
    assert code == 0, err
    assert _is_png(out / "kernels.png") and _is_png(out / "feature-maps.png")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "60"], "--index 60: out of range; "),
        (["--target", "loud"], "--target loud: not a class of the network; classes: high, low"),
        (["--layer", "7"], "--layer 7: no such layer; a layer with a (channels, length) output: 0"),
        (["--layer", "4"], "--layer 4 is GlobalAvgPool1d with output (6,), not a layer with a"),
        (["--method", "lime"], "--method lime: allowed methods: gradcam, input-x-gradient"),
        (["--method", "input-x-gradient", "--layer", "0"], "--layer is for --method gradcam"),
    ],
)  # fmt: skip
def test_explain_refusals_are_one_line_and_write_nothing(run, tmp_path, args, message):
    run_dir, data, _, _ = run
    out = tmp_path / "never"
    code, _, err = _invoke("explain", run_dir, data, "--out", out, *args)
    assert code == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert not out.exists()


def test_a_folder_with_files_needs_force(run, tmp_path):
    run_dir, data, _, _ = run
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = _invoke("explain", run_dir, data, "--out", out, "-i", "1")
    assert code == 2 and "--out" in err and "not empty" in err and "--force" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    code, _, err = _invoke("explain", run_dir, data, "--out", out, "-i", "1", "--force")
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "mine" and (out / "attributions.npy").exists()
    (tmp_path / "file").write_text("")
    code, _, err = _invoke("show", run_dir, "--out", tmp_path / "file")
    assert code == 2 and "is a file; give a folder" in err


def test_show_refusals(run, tmp_path):
    run_dir, _, _, _ = run
    code, _, err = _invoke("show", run_dir, "--out", tmp_path / "x", "--layer", "1")
    assert code == 2 and "--layer 1 is ReLU" in err and "allowed: 0 (Conv1d), 2.layers.0" in err
    code, _, err = _invoke("show", run_dir, "--out", tmp_path / "x", "-i", "2")
    assert code == 2 and "--index needs --input FILE" in err
    assert not (tmp_path / "x").exists()


def test_pictures_of_many_channels_and_filters_render(tmp_path):
    rng = np.random.default_rng(0)
    series, attribution = rng.normal(size=(10, 50)), rng.normal(size=(10, 50))
    figures = {
        "sample": plots.sample_figure(series, attribution, "ten channels"),
        "flat": plots.sample_figure(np.zeros((1, 50)), np.zeros((1, 50)), "all zero"),
        "classes": plots.class_figure(
            rng.normal(size=(6, 3, 50)), rng.normal(size=(6, 3, 50)),
            np.array([0, 0, 2, 2, 2, 0]), ["a", "b", "c"], "two of three classes",
        ),
        "kernels": plots.kernels_figure(rng.normal(size=(70, 2, 5)), "70 filters"),
        "maps": plots.feature_maps_figure(series, rng.normal(size=(40, 25)), "maps"),
    }  # fmt: skip
    for name, figure in figures.items():
        save_figure(figure, tmp_path / f"{name}.png")
        assert _is_png(tmp_path / f"{name}.png")
    plots.pyplot().close("all")


def test_a_regression_network_is_refused(run):
    from conv1d_cli.errors import ConfigError

    loaded = load_model(run[0])
    loaded.task = "regression"  # what checkpoints of the task work (issue 23) carry
    with pytest.raises(ConfigError, match="explanations are for classifiers; this network is a"):
        loaded.explain(run[2][:2])
