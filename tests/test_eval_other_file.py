"""`conv1d eval RUN --set data.path=OTHER`: a stored file kind (ts, ucr, npz, csv) follows the new
file's suffix, as when a config leaves data.dataset out; an explicit data.dataset still wins."""

from __future__ import annotations

import json
import textwrap

import pytest
from signal_files import SINE_CLASSES, make_sines
from ts_files import tsv_text, write_ts_pair
from typer.testing import CliRunner

from conv1d_cli.cli.app import app
from conv1d_cli.config.loader import load_config_dict

runner = CliRunner()
CLASSES = ("1", "2", "3")  # numbers: a .tsv file reads its labels as numbers


def _tiny_pair(tmp_path):
    """The same 60 training and 30 test series as Sines_TRAIN.ts/_TEST.ts and as .tsv files."""
    x, kind = make_sines(90, length=64, seed=3)
    labels = [CLASSES[SINE_CLASSES.index(k)] for k in kind]
    series = [row[None, :] for row in x]
    ts = write_ts_pair(
        tmp_path / "ts",
        "Sines",
        (series[:60], labels[:60]),
        (series[60:], labels[60:]),
        CLASSES,
    )
    folder = tmp_path / "tsv"
    folder.mkdir()
    (folder / "Sines_TRAIN.tsv").write_text(tsv_text(series[:60], labels[:60], 64))
    (folder / "Sines_TEST.tsv").write_text(tsv_text(series[60:], labels[60:], 64))
    return ts, folder / "Sines_TRAIN.tsv"


def _eval(run, *sets):
    args = ["eval", str(run), "--json"]
    for value in sets:
        args += ["--set", value]
    return runner.invoke(app, args)


def test_eval_on_the_same_data_as_tsv_needs_no_dataset_override(tmp_path):
    ts, tsv = _tiny_pair(tmp_path)
    config = tmp_path / "tiny.yaml"
    config.write_text(
        textwrap.dedent(f"""
        data: {{path: {ts}}}
        model:
          layers:
            - {{type: conv1d, channels: 4, kernel: 5, padding: same}}
            - {{type: relu}}
            - {{type: globalavgpool1d}}
            - {{type: dense}}
        train: {{epochs: 1}}
        output: {{runs_dir: {tmp_path / "runs"}, plots: false}}
        """)
    )
    trained = runner.invoke(app, ["train", str(config), "--quiet", "--name", "tiny"])
    assert trained.exit_code == 0, trained.output
    run = tmp_path / "runs" / "tiny"
    on_ts = _eval(run)
    assert on_ts.exit_code == 0, on_ts.output
    on_tsv = _eval(run, f"data.path={tsv}")
    assert on_tsv.exit_code == 0, on_tsv.output
    first, second = json.loads(on_ts.stdout), json.loads(on_tsv.stdout)
    assert second["n"] == first["n"] == 30
    assert second["accuracy"] == first["accuracy"]
    assert second["loss"] == pytest.approx(first["loss"], rel=1e-5)  # float32 rounding
    # an explicit kind still wins: a .tsv file read as .ts is the reader's error, one line
    wrong = _eval(run, f"data.path={tsv}", "data.dataset=ts")
    assert wrong.exit_code == 2, wrong.output
    assert len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr


STORED = {
    "data": {"dataset": "ts", "path": "a/Sines_TRAIN.ts"},
    "model": {"layers": [{"type": "dense", "units": 2}]},
}


@pytest.mark.parametrize(
    ("stored", "overrides", "kind"),
    [
        ("ts", ["data.path=b/X_TRAIN.tsv"], "ucr"),
        ("ucr", ["data.path=b/X.NPZ"], "npz"),
        ("npz", ["data.path=b/x.csv"], "csv"),
        ("csv", ["data.path=b/x.ts"], "ts"),
        ("csv", ["data.path=b/x.txt"], "csv"),  # no known suffix: the stored kind stays
        ("ts", ["data.path=b/x.csv", "data.dataset=ts"], "ts"),  # given: it wins
        ("ts", ["data.dataset=ts", "data.path=b/x.csv"], "ts"),
        ("ts", ["train.epochs=3"], "ts"),  # no new path: nothing changes
        ("mnist", ["data.path=b/x.npz"], "mnist"),  # not a file kind
    ],
)
def test_a_stored_file_kind_follows_a_new_path(stored, overrides, kind):
    raw = {**STORED, "data": {**STORED["data"], "dataset": stored}}
    assert load_config_dict(raw, "stored", overrides).data.dataset == kind
    assert raw["data"]["dataset"] == stored  # the caller's mapping is left alone
