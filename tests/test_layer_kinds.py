"""Every layer kind in LAYER_SPECS has what a kind needs beyond its spec.

A kind is declared once (a ``LayerSpec`` naming its ``engine`` class); the tables keyed by
engine class elsewhere must each have it: the inference fast path's rule (or its explicit
``plain_forward``), the ONNX emitter, and the PyTorch mirror the benchmarks build. The mirror's
table is read from benchmarks/torch_mirror.py's source: torch is not installed for the tests.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar, Literal

import pytest
from test_fastpath import EXTRA_CASES
from test_onnx_export import HEAD, LAYER_CASES

from conv1d_cli import nn
from conv1d_cli.config.layers import LAYER_SPECS, LayerSpec, iter_specs, register
from conv1d_cli.config.layers.base import build_sequence
from conv1d_cli.inference.export.onnx_export import EMITTERS
from conv1d_cli.inference.fastpath import RULES

MIRROR_SOURCE = Path(__file__).parent.parent / "benchmarks" / "torch_mirror.py"


def kinds() -> dict[str, type[LayerSpec]]:
    """One entry per kind (spec class), named by its first tag ('dense', not 'linear')."""
    return {spec.__name__: spec for spec in LAYER_SPECS.values()}


def mirror_engines(source: str) -> set[type]:
    """The engine classes keying torch_mirror.py's ``MIRRORS`` dict (``cnn.X: ...``)."""
    for node in ast.walk(ast.parse(source)):
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "MIRRORS":
            assert isinstance(node.value, ast.Dict), "MIRRORS must be a dict literal"
            names = [key.attr for key in node.value.keys if isinstance(key, ast.Attribute)]
            assert len(names) == len(node.value.keys), "MIRRORS keys must read cnn.<Class>"
            return {getattr(nn, name) for name in names}
    raise AssertionError(f"no MIRRORS table in {MIRROR_SOURCE}")


def missing(table: set[type] | dict[type, object]) -> list[str]:
    return sorted(name for name, spec in kinds().items() if spec.engine not in table)


def test_every_kind_names_an_engine_class():
    assert len(kinds()) == 15
    for spec in kinds().values():
        assert isinstance(spec.engine, type) and issubclass(spec.engine, nn.Layer)


def test_every_kind_has_a_fast_path_rule_or_says_it_uses_its_forward():
    assert missing(RULES) == []


def test_every_kind_has_an_onnx_emitter():
    assert missing(EMITTERS) == []


def test_every_kind_has_a_pytorch_mirror():
    assert missing(mirror_engines(MIRROR_SOURCE.read_text())) == []


def uncompared() -> list[str]:
    """Kinds no case of the fast-path and ONNX tests (LAYER_CASES, EXTRA_CASES) names."""
    from conv1d_cli.config import load_config_dict

    named = set()
    for layers in [*LAYER_CASES.values(), *EXTRA_CASES.values(), HEAD]:
        cfg = load_config_dict({"model": {"layers": layers or HEAD}}, "<test>")
        named |= {type(spec).__name__ for _, spec in iter_specs(cfg.model.layers, "")}
    return sorted(kinds().keys() - named)


def test_every_kind_is_compared_with_the_engine_by_the_fast_path_and_onnx_tests():
    """So each kind's rule and emitter are run against the engine, not only in a table."""
    assert uncompared() == []


# --------------------------------------------------------------- the checks can fail
class Doubling(nn.Layer):
    def forward(self, x):
        return x * 2


@pytest.fixture
def extra_kind():
    """A kind registered for one test only (its engine in none of the tables), then removed."""

    class DoublingLayer(LayerSpec):
        type: Literal["doubling-test"]
        engine: ClassVar[type[nn.Layer]] = Doubling

        def build(self, input_shape, ctx):
            return Doubling()

    register(DoublingLayer)
    try:
        yield DoublingLayer
    finally:
        del LAYER_SPECS["doubling-test"]


def test_the_checks_name_a_kind_missing_from_each_table(extra_kind):
    assert missing(RULES) == ["DoublingLayer"]
    assert missing(EMITTERS) == ["DoublingLayer"]
    assert missing(mirror_engines(MIRROR_SOURCE.read_text())) == ["DoublingLayer"]
    assert uncompared() == ["DoublingLayer"]


def test_a_mirror_entry_removed_from_the_source_is_missed():
    source = MIRROR_SOURCE.read_text()
    line = "    cnn.GELU: lambda layer, shape: nn.GELU(approximate=layer.approximate),\n"
    assert line in source
    assert missing(mirror_engines(source.replace(line, ""))) == ["GELULayer"]


def test_a_plain_forward_statement_counts_as_a_rule(monkeypatch, extra_kind):
    from conv1d_cli.inference import fastpath

    monkeypatch.setitem(fastpath.RULES, Doubling, fastpath.plain_forward)
    assert missing(RULES) == []


def test_a_kind_without_an_engine_cannot_register():
    class Nameless(LayerSpec):
        type: Literal["nameless-test"]

    with pytest.raises(TypeError, match="Nameless names no engine class"):
        register(Nameless)
    assert "nameless-test" not in LAYER_SPECS


def test_a_build_returning_another_class_than_its_engine_is_a_bug(extra_kind):
    import numpy as np

    from conv1d_cli.config.layers import BuildContext

    ctx = BuildContext(np.random.default_rng(0), np.dtype(np.float32), lambda *a, **k: None)
    build_sequence([extra_kind(type="doubling-test")], (3, 8), ctx)  # its engine: fine
    extra_kind.build = lambda self, shape, ctx: nn.ReLU()
    with pytest.raises(TypeError, match="returned ReLU, not its engine Doubling"):
        build_sequence([extra_kind(type="doubling-test")], (3, 8), ctx)
