"""The inference fast path equals the engine's eval-mode forward, layer kind by layer kind."""

from __future__ import annotations

import numpy as np
import pytest
from test_onnx_export import CONV, HEAD, LAYER_CASES, loaded_model
from threadpoolctl import threadpool_limits

from conv1d_cli import nn
from conv1d_cli.config import load_config
from conv1d_cli.inference import fastpath
from conv1d_cli.inference.fastpath import InferenceRunner

EXTRA_CASES = {
    "relu-first": [{"type": "relu"}, CONV],  # the caller's array must not be written
    "dropout-relu": [{"type": "dropout", "rate": 0.2}, {"type": "relu"}, CONV],
    "bn-alone": [{"type": "batchnorm1d"}, CONV, {"type": "batchnorm1d"}, {"type": "relu"}],
    "maxpool-k1": [CONV, {"type": "maxpool1d", "kernel": 1}],
    "maxpool-k3-s1": [CONV, {"type": "maxpool1d", "kernel": 3, "stride": 1, "padding": 1}],
    "globalavg": [CONV, {"type": "globalavgpool1d"}],
}


def _compare(loaded, runner: InferenceRunner, n: int = 37) -> None:
    x = np.random.default_rng(2).normal(0, 2, (n, *loaded.input_shape)).astype(np.float32)
    before = x.copy()
    expected = loaded.model.forward(x)
    got = runner.logits(x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("name", sorted(LAYER_CASES) + sorted(EXTRA_CASES))
@pytest.mark.parametrize("threads", [1, 2])
def test_every_layer_kind_in_small_chunks(name, threads, monkeypatch):
    # Chunks this small are quick, and quick chunks run on one thread: lift that rule so two
    # threads really run chunks in parallel (the rule itself: test_quick_chunks_run_on_one_thread).
    monkeypatch.setattr(fastpath, "PARALLEL_MIN_CHUNK_S", 0.0)
    layers = {**LAYER_CASES, **EXTRA_CASES}[name]
    if not layers or layers[-1]["type"] != "globalavgpool1d":
        layers = layers + HEAD
    else:
        layers = [*layers, {"type": "dense", "units": 4}]
    loaded = loaded_model(layers)
    runner = InferenceRunner(loaded.model, loaded.input_shape, chunk_bytes=2000)
    assert runner.chunk < 10  # many chunks, run by several threads when allowed
    with threadpool_limits(threads):
        _compare(loaded, runner)


def test_shipped_networks():
    for path in ("configs/seed.yaml", "configs/mnist.yaml", "benchmarks/deep.yaml"):
        cfg = load_config(path)
        layers = [spec.model_dump() for spec in cfg.model.layers]
        layers[-1]["units"] = 4
        loaded = loaded_model(layers, (1, 784))
        with threadpool_limits(2):
            _compare(loaded, InferenceRunner(loaded.model, (1, 784)), n=70)


class Doubling(nn.Layer):
    """A layer the fast path has no rule for; it keeps state on itself like engine layers."""

    def forward(self, x):
        self._x = x
        return self._x * 2


def test_unknown_layers_run_their_own_forward_one_chunk_at_a_time():
    loaded = loaded_model([CONV, *HEAD])
    loaded.model.layers.insert(1, Doubling())
    runner = InferenceRunner(loaded.model, loaded.input_shape, chunk_bytes=2000)
    with threadpool_limits(2):
        _compare(loaded, runner)


def test_training_mode_is_restored():
    loaded = loaded_model([CONV, {"type": "dropout", "rate": 0.5}, *HEAD])
    loaded.model.train()
    runner = InferenceRunner(loaded.model, loaded.input_shape)
    x = np.ones((3, *loaded.input_shape), np.float32)
    np.testing.assert_array_equal(runner.logits(x), runner.logits(x))  # no dropout
    assert loaded.model.training


@pytest.mark.parametrize("quick", [True, False])
def test_quick_chunks_run_on_one_thread(quick, monkeypatch):
    """Chunks quicker than PARALLEL_MIN_CHUNK_S (timed on the first) skip the thread pool."""
    pools = []

    class CountingPool(fastpath.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(fastpath, "ThreadPoolExecutor", CountingPool)
    monkeypatch.setattr(fastpath, "PARALLEL_MIN_CHUNK_S", 3600.0 if quick else 0.0)
    loaded = loaded_model([CONV, *HEAD])
    runner = InferenceRunner(loaded.model, loaded.input_shape, chunk_bytes=2000)
    with threadpool_limits(2):
        _compare(loaded, runner)
    assert len(pools) == (0 if quick else 1)
