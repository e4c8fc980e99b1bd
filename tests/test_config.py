"""The config loader: YAML rules, one-line errors naming key paths, --set overrides, round trip."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from conv1d_cli.config import (
    AdamConfig,
    Config,
    SGDConfig,
    apply_name_default,
    config_diff,
    config_to_yaml,
    load_config,
    load_config_dict,
    parse_override,
)
from conv1d_cli.config.yamlio import ConfigLoader, read_yaml
from conv1d_cli.errors import ConfigError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

BASE = """\
name: base
data: {dataset: digits, val_split: 0.2}
model:
  layers:
    - {type: conv1d, channels: 4, kernel: 3}
    - {type: relu}
    - {type: flatten}
    - {type: dense, units: 10}
"""


@pytest.fixture
def write(tmp_path):
    """write(text, name='c.yaml') -> the path of a new config file holding text."""

    def _write(text: str, name: str = "c.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return _write


def config_error(path: Path, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    for raw in ("input_value", "http", "pydantic", "Traceback"):
        assert raw not in message
    return message


# --------------------------------------------------------------------------- bad configs
def _layer(extra: str) -> str:
    return BASE.replace("{type: conv1d, channels: 4, kernel: 3}", "{type: conv1d, " + extra + "}")


def _with(extra: str) -> str:
    return BASE + textwrap.dedent(extra)


BAD = {
    # case: (YAML text, overrides, fragments the one-line message must hold)
    "empty file": ("", (), ["the file is empty"]),
    "only comments": ("# nothing\n\n", (), ["the file is empty"]),
    "root is a list": ("- 1\n- 2\n", (), ["top level must be a mapping", "a list of 2 items"]),
    "root is text": ("just text\n", (), ["top level must be a mapping", "'just text'"]),
    "syntax error": ("model:\n  layers: [1, 2\nseed: 3\n", (), ["line 3, column", "YAML syntax"]),
    "bad indentation": ("a: b: c\n", (), ["line 1, column 5", "mapping values are not allowed"]),
    "tab character": ("seed: 1\nx:\n\t- 1\n", (), ["line 3, column 1", "YAML syntax"]),
    "duplicate top key": (BASE + "name: again\n", (), ["name: duplicate key (lines 1 and 9)"]),
    "duplicate nested key": (
        BASE.replace("val_split: 0.2}", "val_split: 0.2, val_split: 0.3}"),
        (),
        ["data.val_split: duplicate key (lines 2 and 2)"],
    ),
    "duplicate key in a layer": (
        _layer("channels: 4, kernel: 3, kernel: 5"),
        (),
        ["model.layers[0].kernel: duplicate key"],
    ),
    "unknown top key": (
        _with("optimiser: {type: sgd}\n"),
        (),
        ["optimiser (line 9): unknown key (did you mean 'optimizer'?)", "allowed keys: name,"],
    ),
    "unknown section key": (
        _with("train: {epoch: 3}\n"),
        (),
        ["train.epoch (line 9): unknown key (did you mean 'epochs'?)"],
    ),
    "unknown layer field": (
        _layer("channels: 4, kernal: 3"),
        (),
        [
            "model.layers[0].kernal (line 5): unknown key for layer type 'conv1d' "
            "(did you mean 'kernel'?), allowed keys: type, channels, kernel",
            "model.layers[0].kernel (line 5): missing, expected an integer > 0",
        ],
    ),
    "key of another optimizer": (
        _with("optimizer: {type: sgd, betas: [0.9, 0.99]}\n"),
        (),
        ["optimizer.betas (line 9): unknown key for optimizer 'sgd'"],
    ),
    "text for a number": (
        _with("train: {epochs: ten}\n"),
        (),
        ["train.epochs (line 9): got 'ten', expected an integer >= 0"],
    ),
    "float for an integer": (
        _with("seed: 1.5\n"),
        (),
        ["seed (line 9): got 1.5, expected an integer >= 0"],
    ),
    "number for text": (
        _with("output: {runs_dir: 12}\n"),
        (),
        ["output.runs_dir (line 9): got 12 (quote it to mean text), expected text"],
    ),
    "section not a mapping": (
        _with("train: 5\n"),
        (),
        ["train (line 9): got 5, expected a mapping"],
    ),
    "layers not a list": (
        "model: {layers: {type: relu}}\n",
        (),
        ["model.layers (line 1): got a mapping, expected a list"],
    ),
    "layer not a mapping": (
        BASE.replace("- {type: relu}", "- relu"),
        (),
        ["model.layers[1] (line 6): got 'relu', write it as a mapping: {type: relu}"],
    ),
    "model missing": ("name: x\n", (), ["model: missing, expected a mapping"]),
    "no layers": ("model: {layers: []}\n", (), ["model.layers (line 1): got an empty list"]),
    "layer type missing": (
        BASE.replace("{type: relu}", "{kind: relu}"),
        (),
        ["model.layers[1].type (line 6): missing, expected one of: conv1d, dense"],
    ),
    "zero kernel": (
        _layer("channels: 4, kernel: 0"),
        (),
        ["model.layers[0].kernel (line 5): got 0"],
    ),
    "negative stride": (
        _layer("channels: 4, kernel: 3, stride: -2"),
        (),
        ["model.layers[0].stride (line 5): got -2, expected an integer > 0"],
    ),
    "zero channels": (
        _layer("channels: 0, kernel: 3"),
        (),
        ["model.layers[0].channels (line 5): got 0, expected an integer > 0"],
    ),
    "zero units": (
        BASE.replace("units: 10", "units: 0"),
        (),
        ["model.layers[3].units (line 8): got 0, expected an integer > 0"],
    ),
    "negative epochs": (_with("train: {epochs: -1}\n"), (), ["train.epochs (line 9): got -1"]),
    "negative batch size": (
        _with("train: {batch_size: -8}\n"),
        (),
        ["train.batch_size (line 9): got -8, expected an integer > 0"],
    ),
    "zero learning rate": (
        _with("optimizer: {type: sgd, lr: 0}\n"),
        (),
        ["optimizer.lr (line 9): got 0, expected a number > 0"],
    ),
    "negative learning rate": (
        _with("optimizer: {type: adam, lr: -1e-3}\n"),
        (),
        ["optimizer.lr (line 9): got -0.001, expected a number > 0"],
    ),
    "infinite learning rate": (
        _with("optimizer: {lr: .inf}\n"),
        (),
        ["optimizer.lr (line 9): got inf, expected a number > 0"],
    ),
    "dropout rate 1": (
        BASE.replace("{type: relu}", "{type: dropout, rate: 1}"),
        (),
        ["model.layers[1].rate (line 6): got 1, expected a number in [0, 1)"],
    ),
    "negative dropout rate": (
        BASE.replace("{type: relu}", "{type: dropout, rate: -0.1}"),
        (),
        ["model.layers[1].rate (line 6): got -0.1, expected a number in [0, 1)"],
    ),
    "unknown layer type": (
        BASE.replace("{type: relu}", "{type: conv2d}"),
        (),
        [
            "model.layers[1].type (line 6): unknown layer type 'conv2d' (did you mean "
            "'conv1d'?), allowed: conv1d, dense, linear, relu, leakyrelu",
        ],
    ),
    "unknown optimizer": (
        _with("optimizer: {type: adamm}\n"),
        (),
        ["optimizer.type (line 9): unknown optimizer 'adamm' (did you mean 'adam'?), allowed: sgd"],
    ),
    "unknown schedule": (
        _with("schedule: {type: cosin}\n"),
        (),
        ["schedule.type (line 9): unknown schedule 'cosin' (did you mean 'cosine'?)"],
    ),
    "unknown dataset": (
        BASE.replace("dataset: digits", "dataset: mnsit"),
        (),
        [
            "data.dataset (line 2): got 'mnsit' (did you mean 'mnist'?), expected one of: "
            "mnist, fashion-mnist, mnist1d, digits, npz, csv",
        ],
    ),
    "unknown padding": (
        _layer("channels: 4, kernel: 3, padding: sam"),
        (),
        [
            "model.layers[0].padding (line 5): got 'sam' (did you mean 'same'?), expected an "
            "integer >= 0 or a list of 2 integers >= 0 or one of: valid, same",
        ],
    ),
    "unknown padding mode": (
        _layer("channels: 4, kernel: 3, padding_mode: mirror"),
        (),
        ["model.layers[0].padding_mode (line 5): got 'mirror', expected one of: zeros, replicate"],
    ),
    "view of the wrong length": (
        BASE.replace("val_split: 0.2}", "view: [784]}"),
        (),
        ["data.view (line 2): got a list of 1 item, expected a list of 2 integers > 0 or null"],
    ),
    "monitor needs a validation split": (
        BASE.replace("val_split: 0.2", "val_split: 0"),
        ("output.monitor=val_acc",),
        ["output.monitor (--set output.monitor=val_acc): val_acc needs a validation split"],
    ),
    "name: no": (
        BASE.replace("name: base", "name: no"),
        (),
        ['name (line 1): YAML read no as the boolean false, quote it to mean the text: name: "no"'],
    ),
    "on in a choice": (
        BASE.replace("dataset: digits", "dataset: digits, normalize: off"),
        (),
        ["data.normalize (line 2): YAML read off as the boolean false", 'normalize: "off"'],
    ),
    "yes for a number": (
        _with("train: {epochs: yes}\n"),
        (),
        ["train.epochs (line 9): YAML read yes as the boolean true, expected an integer >= 0"],
    ),
    "true for a number": (
        _layer("channels: true, kernel: 3"),
        (),
        ["model.layers[0].channels (line 5): got the boolean true, expected an integer > 0"],
    ),
    "boolean inside a pair": (
        _layer("channels: 4, kernel: 3, padding: [1, true]"),
        (),
        ["model.layers[0].padding[1] (line 5): got the boolean true"],
    ),
    "python tag": (
        _with("seed: !!python/object/apply:os.system [ls]\n"),
        (),
        ["line 9, column 7: unsupported YAML tag"],
    ),
    "bad explicit float": (_with("seed: !!float abc\n"), (), ["line 9, column 7", "not a valid"]),
    "alias loop": (_with("x: &a [*a]\n"), (), ["line 9", "alias refers to a collection"]),
    "several errors at once": (
        _with("train: {epochs: -1, batch_size: 0}\noptimizer: {lr: 0}\n"),
        (),
        [
            "3 errors: train.epochs (line 9): got -1, expected an integer >= 0; "
            "train.batch_size (line 9): got 0, expected an integer > 0; "
            "optimizer.lr (line 10): got 0, expected a number > 0",
        ],
    ),
    # --set
    "override without =": (BASE, ("train.epochs",), ["--set train.epochs: expected KEY=VALUE"]),
    "override with empty key": (BASE, ("=3",), ["--set =3: the key before '=' is empty"]),
    "override with bad key": (BASE, ("train..epochs=3",), ["not a dotted key"]),
    "override with bad value": (
        BASE,
        ("data.view=[28, 28",),
        ["--set data.view=[28, 28: the value: column 8: YAML syntax error"],
    ),
    "override of an unknown key": (
        BASE,
        ("optimizer.lrr=0.1",),
        [
            "--set optimizer.lrr=0.1: optimizer.lrr is not a config key for optimizer 'adam' "
            "(did you mean 'lr'?), allowed keys: lr,"
        ],
    ),
    "override of an unknown section": (
        BASE,
        ("trian.epochs=3",),
        ["--set trian.epochs=3: trian is not a config key (did you mean 'train'?)"],
    ),
    "override index out of range": (
        BASE,
        ("model.layers[4].units=3",),
        ["model.layers is a list of 4 items, so the key after it can be an index 0 to 3"],
    ),
    "override below a number": (
        BASE,
        ("data.val_split.x=1",),
        ["data.val_split is a number in [0, 1), it has no keys below it"],
    ),
    "override of an invalid value": (
        BASE,
        ("train.epochs=-1",),
        ["train.epochs (--set train.epochs=-1): got -1, expected an integer >= 0"],
    ),
    "override name=no": (
        BASE,
        ("name=no",),
        ["name (--set name=no): YAML read no as the boolean false", "--set 'name=\"no\"'"],
    ),
    "override key of the old type": (
        BASE,
        ("optimizer.type=sgd", "optimizer.momentum=0.5"),
        ["optimizer.momentum is not a config key for optimizer 'sgd'"],
    ),
    "layer type switch keeps the old layer's keys": (
        BASE,
        ("model.layers[0].type=flatten",),
        [
            "model.layers[0].channels (line 5): unknown key for layer type 'flatten'",
            "model.layers[0].kernel (line 5): unknown key for layer type 'flatten'",
        ],
    ),
    "user-written key that no longer fits": (
        _with("optimizer: {type: adam, betas: [0.8, 0.9]}\n"),
        ("optimizer.type=sgd",),
        ["optimizer.betas (line 9): unknown key for optimizer 'sgd'"],
    ),
}


@pytest.mark.parametrize(("text", "overrides", "fragments"), BAD.values(), ids=BAD.keys())
def test_bad_config_is_one_clear_line(write, text, overrides, fragments):
    message = config_error(write(text), overrides)
    for fragment in fragments:
        assert fragment in message


def test_missing_file(tmp_path):
    message = config_error(tmp_path / "nope.yaml")
    assert message == f"{tmp_path / 'nope.yaml'}: no such file"


def test_directory(tmp_path):
    assert config_error(tmp_path) == f"{tmp_path}: is a directory, not a YAML config file"


def test_unreadable_file(write, monkeypatch):
    path = write(BASE)

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    assert config_error(path).endswith("cannot read the file: permission denied")


def test_not_utf8(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    assert "not UTF-8 text" in config_error(path)


def test_billion_laughs_is_refused_quickly(write):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    assert "expands to more than" in config_error(write("\n".join(lines) + "\n"))


# ------------------------------------------------------------------------------ YAML rules
def test_yaml_1_2_numbers():
    doc = read_yaml("a: 1e-3\nb: 1E5\nc: .5\nd: -2.5e-4\ne: 010\nf: 0x1f\ng: 0o17\nh: 1_000\n", "t")
    assert doc.data == {
        "a": 0.001,
        "b": 100000.0,
        "c": 0.5,
        "d": -0.00025,
        "e": 10,
        "f": 31,
        "g": 15,
        "h": "1_000",
    }
    assert all(isinstance(doc.data[k], float) for k in "abcd")
    assert yaml.load("lr: 1e-3", Loader=ConfigLoader) == {"lr": 0.001}


def test_1e_3_is_a_float_in_the_config(write):
    cfg = load_config(
        write(
            _with("optimizer: {lr: 1e-3}\ndata: {mnist1d: {scale: 2E-2}}\n").replace(
                "data: {dataset: digits, val_split: 0.2}\n", ""
            )
        )
    )
    assert cfg.optimizer.lr == 0.001
    # mnist1d is a free-form mapping: only the loader (not pydantic) can make this a float
    assert cfg.data.mnist1d == {"scale": 0.02}


def test_duplicate_keys_are_rejected_by_the_loader():
    with pytest.raises(yaml.YAMLError, match=r"duplicate key 'a' \(lines 1 and 2\)"):
        yaml.load("a: 1\na: 2\n", Loader=ConfigLoader)
    with pytest.raises(ConfigError, match=r"x.a: duplicate key \(lines 2 and 3\)"):
        read_yaml("x:\n  a: 1\n  a: 2\n", "t")


def test_yes_no_rule(write):
    doc = read_yaml("a: no\nb: Yes\nc: true\nd: 'no'\non: 1\n", "t")
    assert doc.data == {"a": False, "b": True, "c": True, "d": "no", "on": 1}
    assert doc.words == {("a",): "no", ("b",): "Yes"}  # where to explain, if they land in text
    # In a boolean field the YAML 1.1 words keep working; quoted, `no` is text.
    cfg = load_config(write(BASE.replace("name: base", 'name: "no"') + "output: {plots: off}\n"))
    assert cfg.name == "no"
    assert cfg.output.plots is False


def test_dates_and_sexagesimals_stay_text(write):
    cfg = load_config(write(BASE.replace("name: base", "name: 2024-01-01")))
    assert cfg.name == "2024-01-01"
    assert read_yaml("t: 1:30\n", "t").data == {"t": "1:30"}


def test_anchors_and_merge_keys(write):
    text = BASE.replace("model:\n", "conv: &conv {type: conv1d, kernel: 3}\nmodel:\n").replace(
        "{type: conv1d, channels: 4, kernel: 3}", "{<<: *conv, channels: 4, kernel: 5}"
    )
    with pytest.raises(ConfigError, match=r"conv \(line 3\): unknown key"):
        load_config(write(text))
    doc = read_yaml("a: &x {p: 1, q: 2}\nb: {<<: *x, q: 3}\n", "t")
    assert doc.data["b"] == {"p": 1, "q": 3}


# ------------------------------------------------------------------------------ overrides
def test_parse_override():
    assert parse_override("optimizer.lr=1e-3") == (["optimizer", "lr"], 0.001)
    assert parse_override("model.layers[0].channels=16") == (
        ["model", "layers", "0", "channels"],
        16,
    )
    assert parse_override("model.layers.0.channels=16") == (
        ["model", "layers", "0", "channels"],
        16,
    )
    assert parse_override("data.view=[28,28]") == (["data", "view"], [28, 28])
    assert parse_override("name=no") == (["name"], False)
    assert parse_override("data.path=a=b") == (["data", "path"], "a=b")
    assert parse_override(" train.epochs = 3") == (["train", "epochs"], 3)
    assert parse_override("train.early_stopping=") == (["train", "early_stopping"], None)
    with pytest.raises(ConfigError, match="--set lr: expected KEY=VALUE"):
        parse_override("lr")


def test_overrides_apply_in_order(write):
    cfg = load_config(
        write(BASE),
        [
            "optimizer.lr=0.01",
            "train.epochs=3",
            "train.epochs=4",
            "model.layers[0].channels=16",
            "model.layers.3.units=7",
            "data.view=[28,28]",
            "name=run-1",
        ],
    )
    assert cfg.optimizer.lr == 0.01
    assert cfg.train.epochs == 4
    assert cfg.model.layers[0].channels == 16
    assert cfg.model.layers[3].units == 7
    assert cfg.data.view == (28, 28)
    assert cfg.name == "run-1"


def test_override_of_a_section_the_yaml_left_out(write):
    cfg = load_config(
        write(BASE),
        ["optimizer.lr=1e-2", "train.early_stopping.patience=3", "data.mnist1d.seed=7"],
    )
    assert cfg.optimizer == AdamConfig(type="adam", lr=0.01)
    assert cfg.train.early_stopping is not None and cfg.train.early_stopping.patience == 3
    assert cfg.data.mnist1d == {"seed": 7}


def test_override_switches_union_type(write):
    cfg = load_config(write(_with("optimizer: {type: adam, lr: 0.01}\n")), ["optimizer.type=sgd"])
    assert cfg.optimizer == SGDConfig(type="sgd", lr=0.01)
    cfg = load_config(
        write(BASE), ["optimizer.type=momentum", "optimizer.momentum=0.5", "schedule.type=step"]
    )
    assert cfg.optimizer.type == "momentum" and cfg.optimizer.momentum == 0.5
    assert cfg.schedule.type == "step"
    cfg = load_config(write(BASE), ["model.layers[1].type=tanh"])
    assert cfg.model.layers[1].type == "tanh"


def test_type_switch_on_a_resolved_config_drops_old_defaults(write):
    resolved = load_config(write(BASE)).model_dump(mode="json")
    assert "betas" in resolved["optimizer"]
    cfg = load_config_dict(resolved, "ckpt", ["optimizer.type=sgd"])
    assert cfg.optimizer == SGDConfig(type="sgd")


def test_override_section_replaced_whole(write):
    cfg = load_config(
        write(BASE), ["optimizer={type: sgd, lr: 0.5}", "model.layers[1]={type: gelu}"]
    )
    assert cfg.optimizer == SGDConfig(type="sgd", lr=0.5)
    assert cfg.model.layers[1].type == "gelu"


def test_section_without_type_keeps_the_default_type(write):
    cfg = load_config(write(_with("optimizer: {lr: 0.01}\nschedule: {}\n")))
    assert cfg.optimizer == AdamConfig(type="adam", lr=0.01)
    assert cfg.schedule.type == "constant"


# -------------------------------------------------------------------- load_config_dict, name
def test_load_config_dict_names_its_source():
    raw = yaml.safe_load(BASE)
    assert load_config_dict(raw, "x").name == "base"
    raw["train"] = {"epochs": -1}
    with pytest.raises(ConfigError, match=r"^ckpt.safetensors: train.epochs: got -1"):
        load_config_dict(raw, "ckpt.safetensors")
    assert raw["train"] == {"epochs": -1}  # the caller's mapping is never changed
    cfg = load_config_dict(yaml.safe_load(BASE), "ckpt", ["data.path=/data/mnist"])
    assert cfg.data.path == "/data/mnist"


def test_name_defaults_to_the_file_stem(write):
    path = write(BASE.replace("name: base", "name: null"), name="my-exp.yaml")
    assert load_config(path).name == "my-exp"
    assert load_config(write(BASE.replace("name: base\n", ""), name="other.yml")).name == "other"
    raw = yaml.safe_load(BASE.replace("name: base", "name: null"))
    assert load_config_dict(raw, "ckpt").name is None  # a mapping has no stem
    assert apply_name_default(load_config_dict(raw, "ckpt"), "x/run.yaml").name == "run"


# ------------------------------------------------------------------- round trip and diff
NO_DATA = BASE.replace("data: {dataset: digits, val_split: 0.2}\n", "")
ROUND_TRIP = {
    "base": BASE,
    "tricky text": NO_DATA.replace("name: base", "name: '1e3'")
    + textwrap.dedent("""\
        data:
          dataset: npz
          path: 'no'
          label_column: '0o17'
          mnist1d: {'on': 'yes', b: '2024-01-01', c: 1.5e-7, d: [1, {e: null}], f: "a\\nb"}
        """),
    "everything set": NO_DATA
    + textwrap.dedent("""\
        data: {view: [1, 64], shift: 2, noise: 0.05, limit: 100}
        loss: {label_smoothing: 0.1}
        optimizer: {type: adamw, lr: 3e-4, betas: [0.8, 0.95], clip_grad_norm: 1.0}
        schedule: {type: onecycle, pct_start: 0.25}
        train: {epochs: 3, early_stopping: {patience: 2, min_delta: 1e-4}}
        output: {monitor: val_loss, plots: false}
        """),
    "padding pair": _layer("channels: 4, kernel: 3, padding: [1, 2], padding_mode: reflect"),
}


@pytest.mark.parametrize("text", ROUND_TRIP.values(), ids=ROUND_TRIP.keys())
def test_config_to_yaml_round_trip(write, text):
    cfg = load_config(write(text))
    dumped = config_to_yaml(cfg)
    assert load_config(write(dumped, name="again.yaml")) == cfg
    assert yaml.safe_load(dumped) == cfg.model_dump(mode="json")  # plain PyYAML reads it too
    assert list(yaml.safe_load(dumped)) == list(Config.model_fields)  # schema order


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_round_trip(write, path):
    cfg = load_config(path)
    assert load_config(write(config_to_yaml(cfg))) == cfg


def test_config_to_yaml_is_readable(write):
    dumped = config_to_yaml(load_config(write(BASE)))
    assert "  - {type: conv1d, channels: 4, kernel: 3, stride: 1," in dumped
    assert "  betas: [0.9, 0.999]\n" in dumped
    assert "early_stopping: null" in dumped


def test_config_diff(write):
    a = load_config(write(BASE))
    assert config_diff(a, a) == []
    assert config_diff(a, load_config(write(BASE), ["train.epochs=99"])) == ["train.epochs"]
    b = load_config(write(BASE), ["model.layers[0].kernel=5", "optimizer.lr=0.1", "seed=3"])
    assert config_diff(a, b) == ["seed", "model.layers[0].kernel", "optimizer.lr"]
    fewer = load_config(write(BASE), ["model.layers=[{type: flatten}, {type: dense, units: 10}]"])
    assert config_diff(a, fewer) == ["model.layers"]
    sgd = load_config(write(BASE), ["optimizer.type=sgd"])
    assert config_diff(a, sgd) == ["optimizer.type", "optimizer.betas", "optimizer.eps"]
    stopping = load_config(write(BASE), ["train.early_stopping={patience: 2}"])
    assert config_diff(a, stopping) == ["train.early_stopping"]
    assert config_diff(a, load_config(write(BASE), ["data.view=[1, 64]"])) == ["data.view"]
