"""`conv1d predict` end to end: every input kind, CSV/JSON rows, --top, errors, --out safety."""

from __future__ import annotations

import csv
import io
import json
import os
import stat

import numpy as np
import pytest
from idx_files import write_idx
from trained_runs import train_run
from typer.testing import CliRunner

from conv1d_cli import load_model
from conv1d_cli.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train_run(tmp_path_factory.mktemp("predict"))


def _predict(*args: str):
    result = runner.invoke(app, ["predict", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_rows_match_the_python_api_and_report_accuracy(run, tmp_path):
    run_dir, x, y = run
    path = tmp_path / "test.npz"
    np.savez(path, x=x, y=y)
    code, out, err = _predict(run_dir, path)
    assert code == 0, err
    rows = _rows(out)
    model = load_model(run_dir)
    proba = model.predict_proba(x)
    assert list(rows[0]) == ["index", "label", "prob_high", "prob_low", "prob_mid"]
    assert [int(r["index"]) for r in rows] == list(range(60))
    assert [r["label"] for r in rows] == list(model.predict(x))
    got = np.array([[float(r[f"prob_{c}"]) for c in model.classes_] for r in rows])
    np.testing.assert_allclose(got, proba, rtol=1e-5, atol=1e-6)  # 7 digits, float32 batches
    accuracy = np.mean(model.predict(x) == y)
    assert f"accuracy {accuracy:.4f} (n=60" in err


def test_unlabelled_inputs_of_every_kind(run, tmp_path):
    run_dir, x, _ = run
    expected = list(load_model(run_dir).predict(x))
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", x=x.reshape(len(x), -1))  # flat samples, read like data.view
    with (tmp_path / "x.csv").open("w", newline="") as handle:  # no header, no labels
        csv.writer(handle).writerows(x.reshape(len(x), -1).tolist())
    for name in ("x.npy", "x.npz", "x.csv"):
        code, out, err = _predict(run_dir, tmp_path / name)
        assert code == 0, (name, err)
        assert [r["label"] for r in _rows(out)] == expected, name
        assert "accuracy" not in err


def test_csv_with_a_label_column(run, tmp_path):
    run_dir, x, y = run
    path = tmp_path / "labelled.csv"
    flat = x.reshape(len(x), -1)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", *(f"v{i}" for i in range(flat.shape[1]))])
        writer.writerows([label, *row] for label, row in zip(y, flat.tolist(), strict=True))
    code, out, err = _predict(run_dir, path)
    assert code == 0, err
    assert [r["label"] for r in _rows(out)] == list(load_model(run_dir).predict(x))
    assert "accuracy" in err


def test_idx_images_file_with_its_labels(tmp_path):
    layers = [{"type": "flatten"}, {"type": "dense", "units": 3}]
    run_dir, _, _ = train_run(tmp_path / "run", layers, channels=1, length=16, epochs=1)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 4, 4), dtype=np.uint8)
    image_file = write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(12) % 3)
    code, out, err = _predict(run_dir, image_file)
    assert code == 0, err
    model = load_model(run_dir)
    assert [r["label"] for r in _rows(out)] == list(model.predict(images.reshape(12, 1, 16)))
    assert "accuracy" in err  # labels 0..2 are class indices


def test_json_lines_and_top(run, tmp_path):
    run_dir, x, _ = run
    np.save(tmp_path / "x.npy", x[:5])
    proba = load_model(run_dir).predict_proba(x[:5])
    code, out, _ = _predict(run_dir, tmp_path / "x.npy", "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == 5
    assert records[0]["probabilities"]["low"] == pytest.approx(proba[0, 1], abs=1e-6)
    code, out, _ = _predict(run_dir, tmp_path / "x.npy", "--json", "--top", "2")
    top = json.loads(out.splitlines()[0])["top"]
    assert [t["prob"] for t in top] == pytest.approx(sorted(proba[0])[::-1][:2], abs=1e-6)
    code, out, _ = _predict(run_dir, tmp_path / "x.npy", "--top", "1")
    rows = _rows(out)
    assert list(rows[0]) == ["index", "label", "class_1", "prob_1"]
    assert all(r["label"] == r["class_1"] for r in rows)
    code, _, err = _predict(run_dir, tmp_path / "x.npy", "--top", "4")
    assert code == 2 and "--top 4: must be between 1 and 3" in err


def test_wrong_shape_is_one_line_and_exit_2(run, tmp_path):
    run_dir, x, _ = run
    np.save(tmp_path / "short.npy", x[:, :, :20])
    code, out, err = _predict(run_dir, tmp_path / "short.npy")
    assert code == 2
    assert out == ""  # not even a header
    assert err.count("\n") == 1 and "(channels, length) = (2, 32)" in err
    (tmp_path / "data.bin").write_bytes(b"hello")
    code, _, err = _predict(run_dir, tmp_path / "data.bin")
    assert code == 2 and "unknown kind of file" in err
    code, _, err = _predict(run_dir, tmp_path / "missing.npy")
    assert code == 2 and "no such file" in err


def test_out_is_never_overwritten_without_force(run, tmp_path):
    run_dir, x, _ = run
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "pred.csv"
    code, stdout, err = _predict(run_dir, tmp_path / "x.npy", "--out", out)
    assert code == 0 and stdout == "" and f"to {out}" in err
    assert len(_rows(out.read_text())) == 60
    out.write_text("mine\n")
    code, _, err = _predict(run_dir, tmp_path / "x.npy", "--out", out)
    assert code == 2 and "exists" in err and "--force" in err
    assert out.read_text() == "mine\n"
    code, _, _ = _predict(run_dir, tmp_path / "x.npy", "--out", out, "--force")
    assert code == 0 and len(_rows(out.read_text())) == 60
    # A failing prediction leaves neither a partial file nor a temporary one.
    np.save(tmp_path / "short.npy", x[:, :, :20])
    code, _, _ = _predict(run_dir, tmp_path / "short.npy", "--out", tmp_path / "new.csv")
    assert code == 2 and sorted(p.name for p in tmp_path.iterdir()) == [
        "pred.csv",
        "short.npy",
        "x.npy",
    ]


def test_ts_and_tsv_archive_files(run, tmp_path):
    from ts_files import ts_text, tsv_text

    run_dir, x, y = run
    model = load_model(run_dir)
    # One series 2 shorter: refused, since this run's series all had one length (issue 22).
    short = [x[0, :, :30], *x[1:10]]
    path = tmp_path / "short.ts"
    path.write_text(ts_text(short, list(y[:10]), ["high", "low", "mid"]))
    code, out, err = _predict(run_dir, path)
    assert code == 2 and "series of shape (2, 30..32)" in err and out == ""
    expected = list(model.predict(x[:10]))
    path = tmp_path / "new.ts"
    path.write_text(ts_text(list(x[:10]), list(y[:10]), ["high", "low", "mid"]))
    code, out, err = _predict(run_dir, path)
    assert code == 0, err
    assert [r["label"] for r in _rows(out)] == expected
    assert "accuracy" in err
    uni_dir, xu, yu = train_run(tmp_path / "uni", channels=1, epochs=1)
    tsv = tmp_path / "new.tsv"
    tsv.write_text(tsv_text(list(xu[:8]), list(yu[:8]), xu.shape[2]))
    code, out, err = _predict(uni_dir, tsv)
    assert code == 0, err
    assert [r["label"] for r in _rows(out)] == list(load_model(uni_dir).predict(xu[:8]))


def test_memory_does_not_grow_with_the_input(tmp_path):
    import os
    import tracemalloc

    from conv1d_cli.inference.predict import predict_file

    layers = [{"type": "conv1d", "channels": 4, "kernel": 3}, {"type": "flatten"}]
    run_dir, _, _ = train_run(tmp_path / "run", [*layers, {"type": "dense", "units": 3}], epochs=1)
    model = load_model(run_dir)
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(12_000, 2, 32))
    big[:] = 1.0
    big.flush()
    del big

    def traced_peak(n: int) -> int:
        np.save(tmp_path / "part.npy", np.load(path, mmap_mode="r")[:n])
        source = path if n == 12_000 else tmp_path / "part.npy"
        with open(os.devnull, "w") as sink:
            tracemalloc.start()
            try:
                predict_file(run_dir, source, sink, model=model)
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    small, large = traced_peak(1_500), traced_peak(12_000)
    # Eight times the input, not eight times the memory: one batch at a time, rows written as
    # they go; the peak stays well under the 3 MB input itself.
    assert large < 2 * small, (small, large)
    assert large < 0.5 * 12_000 * 2 * 32 * 4


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_out_file_honours_the_umask_without_changing_it(run, tmp_path, monkeypatch, umask, mode):
    run_dir, x, _ = run
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "pred.csv"
    previous = os.umask(umask)
    try:
        with monkeypatch.context() as patch:  # setting the umask is racy with threads: never
            patch.setattr(os, "umask", lambda mask: pytest.fail("os.umask called"))
            code, _, err = _predict(run_dir, tmp_path / "x.npy", "--out", out)
    finally:
        os.umask(previous)
    assert code == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == mode
