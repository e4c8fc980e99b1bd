"""Checkpoints are checked before anything is built from them (issue 22, item 3).

A corrupt or crafted checkpoint (a config asking for 10^12 channels, a header whose shapes lie,
metadata of the wrong types) is one line and exit 2 from ``conv1d eval`` and ``conv1d train
--resume``, never a MemoryError (exit 1) or the kernel's OOM kill. Crafted sizes here are 10^12
and up: were a check to miss one, the allocation fails at once instead of filling the machine.
"""

from __future__ import annotations

import json
import random
import shutil
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conv1d_cli.build import checkpoint_check
from conv1d_cli.build.objects import build_model
from conv1d_cli.build.shapes import network_shapes
from conv1d_cli.cli.app import app
from conv1d_cli.config import load_config, load_config_dict
from conv1d_cli.errors import ConfigError
from conv1d_cli.rundir.checkpoints import load_checkpoint, save_checkpoint

runner = CliRunner()
HUGE = 10**12
REPO = Path(__file__).resolve().parent.parent

# conv -> batchnorm -> a residual block whose channels change (a projection shortcut with its
# own conv) -> pool -> dense: every way a parameter gets its name.
CONFIG = """
name: checked
seed: 0
data: {dataset: digits, limit: 200, val_split: 0.2, test_split: 0.25}
model:
  layers:
    - {type: conv1d, channels: 4, kernel: 3, padding: same}
    - {type: batchnorm1d}
    - {type: relu}
    - type: residual
      layers:
        - {type: conv1d, channels: 6, kernel: 3, padding: same}
        - {type: batchnorm1d}
      activation: relu
    - {type: maxpool1d, kernel: 2}
    - {type: flatten}
    - {type: dense, units: 10}
optimizer: {type: adam, lr: 0.01}
train: {epochs: 1, batch_size: 32}
output: {runs_dir: RUNS, plots: false}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A run directory trained once for the module (its data cache in a temporary home)."""
    folder = tmp_path_factory.mktemp("checked")
    config = folder / "checked.yaml"
    config.write_text(textwrap.dedent(CONFIG).replace("RUNS", str(folder / "runs")))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONV1D_DATA_HOME", str(folder / "data-home"))
        result = runner.invoke(app, ["train", str(config), "--quiet"])
    assert result.exit_code == 0, result.output
    return folder / "runs" / "checked"


@pytest.fixture
def checkpoint(trained, tmp_path) -> Path:
    """A copy of the run's best checkpoint outside any run folder (eval writes nothing)."""
    path = tmp_path / "model.safetensors"
    shutil.copyfile(trained / "checkpoints" / "best.safetensors", path)
    return path


def split(data: bytes) -> tuple[dict, bytes]:
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + size]), data[8 + size :]


def join(header: dict, body: bytes) -> bytes:
    """A safetensors file from its header and tensor bytes (the header padded to 8 bytes)."""
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return len(encoded).to_bytes(8, "little") + encoded + body


def edit_meta(path: Path, edit) -> None:
    header, body = split(path.read_bytes())
    meta = json.loads(header["__metadata__"]["meta"])
    edit(meta)
    header["__metadata__"]["meta"] = json.dumps(meta)
    path.write_bytes(join(header, body))


def eval_error(path: Path) -> str:
    """``conv1d eval path``: asserts exit 2 with one line naming the file; that line."""
    result = runner.invoke(app, ["eval", str(path)])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert str(path) in lines[0]
    return lines[0]


def test_a_config_asking_for_huge_channels_is_refused_by_the_tensor_shapes(checkpoint):
    edit_meta(checkpoint, lambda m: m["config"]["model"]["layers"][0].update(channels=HUGE))
    line = eval_error(checkpoint)
    assert "tensor model.0.W is (4, 1, 3)" in line
    assert f"model.layers[0] (conv1d, {HUGE:,} channels, kernel 3) needs ({HUGE}, 1, 3)" in line


def test_a_huge_layer_inside_a_block_is_named_by_its_key_path(checkpoint):
    def edit(meta):
        meta["config"]["model"]["layers"][3]["layers"][0]["kernel"] = HUGE

    edit_meta(checkpoint, edit)
    line = eval_error(checkpoint)
    assert "tensor model.3.layers.0.W is (6, 4, 3)" in line
    assert f"model.layers[3].layers[0] (conv1d, 6 channels, kernel {HUGE})" in line


def test_a_network_the_memory_cannot_hold_is_refused_with_the_numbers(checkpoint):
    # A crafted file whose tensors all fit its config: global pooling before the dense layer
    # (so its weights do not depend on the length) and samples of 10^12 values, whose
    # activations no machine holds.
    loaded = load_checkpoint(checkpoint)
    loaded.meta["config"]["model"]["layers"][4] = {"type": "globalavgpool1d"}
    loaded.meta["config"]["model"]["layers"][5] = {"type": "relu"}  # not flatten: (6,) is flat
    loaded.meta["data"]["sample_shape"] = [1, HUGE]
    loaded.model_state["6.W"] = np.zeros((6, 10), np.float32)
    save_checkpoint(checkpoint, loaded)
    line = eval_error(checkpoint)
    assert line.startswith(f"error: not enough memory for loading {checkpoint}: needs about")
    assert "activations of a batch of 1" in line and "the checkpoint's tensors" in line


def test_the_preflight_counts_the_stored_tensors(checkpoint, monkeypatch):
    monkeypatch.setattr(checkpoint_check, "available_memory", lambda: (1000, "a test budget"))
    line = eval_error(checkpoint)
    assert "not enough memory for loading" in line and "1000 B is available (a test budget)" in line


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            lambda s: s.pop("1.running_var"),
            "needs tensor model.1.running_var, which the checkpoint",
        ),
        (lambda s: s.update({"9.W": np.ones(3, np.float32)}), "model.9.W belongs to no layer"),
        (lambda s: s.update({"0.W": np.ones((4, 1, 3), np.int64)}), "model.0.W is I64, not floats"),
        (lambda s: s.update({"0.b": np.ones(5, np.float32)}), "model.0.b is (5,) but"),
    ],
    ids=["missing", "extra", "integer", "bias"],
)
def test_tensors_that_do_not_fit_the_config(checkpoint, change, fragment):
    loaded = load_checkpoint(checkpoint)
    change(loaded.model_state)
    save_checkpoint(checkpoint, loaded)
    assert fragment in eval_error(checkpoint)


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _bad_header(data: bytes) -> bytes:
    return data[:8] + b"{not json" + data[17:]


def _random_bytes(data: bytes) -> bytes:
    return random.Random(0).randbytes(4096)


def _empty(data: bytes) -> bytes:
    return b""


def _bad_metadata(data: bytes) -> bytes:
    header, body = split(data)
    header["__metadata__"]["meta"] = '{"config": 5'
    return join(header, body)


def _shape_lie(data: bytes) -> bytes:
    header, body = split(data)
    header["model.0.W"]["shape"] = [4, 1, 5]
    return join(header, body)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (_truncated, "is truncated"),
        (_bad_header, "is not a checkpoint (no safetensors header)"),
        (_random_bytes, "truncated or not a checkpoint"),
        (_empty, "truncated or not a checkpoint (0 bytes)"),
        (_bad_metadata, "its metadata is not JSON"),
        (_shape_lie, "tensor 'model.0.W' of shape (4, 1, 5) (F32) needs 80 bytes"),
    ],
    ids=["truncated", "bad-header", "random-bytes", "empty", "bad-metadata", "shape-lie"],
)
def test_the_six_malformed_checkpoints_of_the_issue(checkpoint, mutate, fragment):
    checkpoint.write_bytes(mutate(checkpoint.read_bytes()))
    assert fragment in eval_error(checkpoint)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda m: m["data"].update(sample_shape=["a", 64]), "sample_shape ['a', 64] is not"),
        (lambda m: m["data"].update(sample_shape=[1, -64]), "is not [channels, length]"),
        (lambda m: m["data"].update(class_names=[]), "class_names [] is not a list of names"),
        (lambda m: m["data"].update(class_names=list("abc")), "outputs (10,) per sample but it"),
        (lambda m: m["data"]["normalization"].update(scale=[0.0]), "scale [0.0] is not 1 finite"),
        (lambda m: m["data"]["normalization"].update(method=3), "normalization {'method': 3"),
        (lambda m: m.pop("config"), "metadata lacks its 'config' object"),
        (lambda m: m["config"]["train"].update(dtype="int8"), "its stored config is invalid"),
        (lambda m: m.update(config={**m["config"], "seed": HUGE}), "seed: got 1000000000000"),
        # weights unchanged, but 'same' padding of a 10^12 dilation: a padded input of 2e12
        (lambda m: m["config"]["model"]["layers"][0].update(dilation=HUGE), "not enough memory"),
    ],
)
def test_metadata_of_the_wrong_kind(checkpoint, edit, fragment):
    edit_meta(checkpoint, edit)
    assert fragment in eval_error(checkpoint)


def test_resume_gets_the_same_checks(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    last = run / "checkpoints" / "last.safetensors"
    edit_meta(last, lambda m: m["config"]["model"]["layers"][0].update(channels=HUGE))
    result = runner.invoke(app, ["train", "--resume", str(run)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{last}: tensor model.0.W is (4, 1, 3)" in lines[0]


SHIPPED = [
    *sorted((REPO / "configs").glob("*.yaml")),
    *sorted((REPO / "configs" / "templates").glob("*.yaml")),
    REPO / "tests" / "data" / "checkpoint-a84f575" / "every-kind.yaml",
]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_the_shape_pass_names_every_tensor_the_network_has(path):
    cfg = load_config(path)
    for shape in ((1, 64), (3, 150)):
        try:
            model = build_model(cfg.model, shape, 10, np.random.default_rng(0), cfg.train.dtype)
        except ConfigError:  # this network does not take this shape: the pass says so too
            found = network_shapes(cfg.model, shape, cfg.train.dtype, 10)
            top = [row.output_shape for row in found.rows if row.depth == 0]
            assert found.error is not None or top[-1] != (10,)
            continue
        found = network_shapes(cfg.model, shape, cfg.train.dtype, 10)
        assert found.error is None and found.complete
        assert found.tensors == {name: a.shape for name, a in model.state_dict().items()}


def test_the_shape_pass_allocates_nothing_for_huge_layers():
    cfg = load_config_dict(
        {
            "model": {
                "layers": [
                    {"type": "conv1d", "channels": HUGE, "kernel": HUGE, "padding": "same"},
                    {"type": "batchnorm1d"},
                    {"type": "globalavgpool1d"},
                    {"type": "dense", "units": HUGE},
                    {"type": "dense"},
                ]
            }
        },
        "test",
    )
    tracemalloc.start()
    try:
        found = network_shapes(cfg.model, (2, 100), "float64", 3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, peak
    assert found.tensors["0.W"] == (HUGE, 2, HUGE) and found.tensors["1.running_var"] == (HUGE,)
    assert found.tensors["3.W"] == (HUGE, HUGE) and found.tensors["4.W"] == (HUGE, 3)
    assert found.rows[0].output_shape == (HUGE, 100)


# ------------------------------------------------------------------------------------ fuzzing
# Values a crafted header or config puts where a count, name or list belongs.
ODD_VALUES = [HUGE, 2**63, -1, -HUGE, 0, 1.5, "x", "3", None, True, [], {}, [HUGE]]
ODD_DTYPES = ["F64", "F16", "I64", "BOOL", "BF16", "U8", "F99", 3, None]


def _leaves(value, path=()):
    """Every (key path, value) inside nested dicts and lists."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        yield (*path, key), item
        if isinstance(item, dict | list) and item:
            yield from _leaves(item, (*path, key))


def _set_leaf(root, path, value) -> None:
    for key in path[:-1]:
        root = root[key]
    if value is _DELETE:
        del root[path[-1]]
    else:
        root[path[-1]] = value


_DELETE = object()


def _meta_edit(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    header, body = split(data)
    meta = json.loads(header["__metadata__"]["meta"])
    # the parts eval reads: the config's model and train keys, and the stored data facts
    parts = [meta["config"]["model"], meta["config"]["train"], meta["data"]]
    leaves = [(p, v) for part in parts for p, v in _leaves(part)]
    path, _ = rng.choice(leaves)
    root = next(part for part in parts if _has(part, path))
    value = rng.choice([*ODD_VALUES, _DELETE])
    _set_leaf(root, path, value)
    header["__metadata__"]["meta"] = json.dumps(meta)
    return (
        f"meta {'.'.join(map(str, path))} = {'<deleted>' if value is _DELETE else value!r}",
        join(header, body),
    )


def _any_meta_edit(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """Any key of the stored metadata (the config's data section, epoch, ...) but the generator
    state, which only ``--resume`` reads."""
    header, body = split(data)
    meta = json.loads(header["__metadata__"]["meta"])
    path, _ = rng.choice([(p, v) for p, v in _leaves(meta) if p[0] != "rng_state"])
    value = rng.choice([*ODD_VALUES, _DELETE])
    _set_leaf(meta, path, value)
    header["__metadata__"]["meta"] = json.dumps(meta)
    shown = "<deleted>" if value is _DELETE else repr(value)
    return f"meta {'.'.join(map(str, path))} = {shown}", join(header, body)


def _has(root, path) -> bool:
    try:
        for key in path:
            root = root[key]
    except (KeyError, IndexError, TypeError):
        return False
    return True


def _header_edit(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    header, body = split(data)
    name = rng.choice([n for n in header if n != "__metadata__"])
    entry = header[name]
    field = rng.choice(["shape", "dtype", "data_offsets", "metadata"])
    if field == "shape":
        shape = list(entry["shape"])
        how = rng.randrange(3)
        if how == 0 and shape:
            shape[rng.randrange(len(shape))] = rng.choice(ODD_VALUES)
        elif how == 1:
            shape.append(rng.choice([1, 2, HUGE]))
        else:
            shape = shape[1:]
        entry["shape"] = shape
        what = f"{name} shape = {shape!r}"
    elif field == "dtype":
        entry["dtype"] = rng.choice(ODD_DTYPES)
        what = f"{name} dtype = {entry['dtype']!r}"
    elif field == "data_offsets":
        begin, end = entry["data_offsets"]
        entry["data_offsets"] = rng.choice(
            [[begin + 8, end + 8], [end, begin], [-1, end], [0, HUGE], [begin], "x", [begin, "8"]]
        )
        what = f"{name} offsets = {entry['data_offsets']!r}"
    else:
        key = rng.choice(["format", "format_version", "meta", "conv1d_version"])
        header["__metadata__"][key] = rng.choice(["2", "0", "x", "{}", "[]", '{"config": {}}'])
        what = f"metadata {key} = {header['__metadata__'][key]!r}"
    return what, join(header, body)


def _byte_flips(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    out = bytearray(data)
    header_end = 8 + int.from_bytes(data[:8], "little")
    where = []
    for _ in range(rng.randint(1, 4)):
        # half of the flips in the header: the tensor bytes only change the weights' values
        at = rng.randrange(header_end) if rng.random() < 0.5 else rng.randrange(len(out))
        out[at] ^= 1 << rng.randrange(8)
        where.append(at)
    return f"bits flipped at {where}", bytes(out)


def _truncation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    cut = rng.randrange(len(data))
    return f"cut to {cut} bytes", data[:cut]


MUTATIONS = [_meta_edit, _any_meta_edit, _header_edit, _byte_flips, _truncation]


def test_fuzzed_checkpoints_exit_0_or_2_never_1(checkpoint):
    """Seeded mutations of a good checkpoint through ``conv1d eval`` (in-process): every one
    evaluates (exit 0) or is one ``error:`` line (exit 2); nothing is an unexpected error."""
    rng = random.Random(22)
    original = checkpoint.read_bytes()
    outcomes: dict[int, int] = {}
    wrong = []
    for _ in range(120):
        what, data = rng.choice(MUTATIONS)(rng, original)
        checkpoint.write_bytes(data)
        result = runner.invoke(app, ["eval", str(checkpoint), "--json"])
        outcomes[result.exit_code] = outcomes.get(result.exit_code, 0) + 1
        lines = result.stderr.strip().splitlines()
        one_line = len(lines) == 1 and lines[0].startswith("error: ")
        if result.exit_code not in (0, 2) or (result.exit_code == 2 and not one_line):
            wrong.append(f"{what}: exit {result.exit_code}: {result.stderr.strip()[:300]}")
    assert not wrong, "\n".join(wrong)
    assert outcomes.get(2, 0) >= 60 and outcomes.get(0, 0) >= 5, outcomes  # both were reached
