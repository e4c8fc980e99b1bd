"""A PyTorch copy of any built conv1d network, blocks included, with the same weights.

``torch_reference.build_torch_model`` maps a flat config layer by layer; the templates nest
``residual`` and ``parallel`` blocks, so this module walks the built NumPy model instead (its
layers carry every resolved setting) and mirrors each layer, recursing into blocks. Used by the
benchmarks only: the twins of ``configs/templates/*.yaml`` in ``make bench`` and the check that
a mirror computes the same logits as the engine. Shapes: (N, C, L) in, (N, classes) out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from conv1d_cli import nn as cnn
from conv1d_cli.nn import functional as fn

PARAM_NAMES = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}


class ResidualMirror(nn.Module):
    def __init__(self, body: nn.Module, shortcut: nn.Module | None, act: nn.Module | None) -> None:
        super().__init__()
        self.body, self.shortcut, self.act = body, shortcut, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x) + (x if self.shortcut is None else self.shortcut(x))
        return y if self.act is None else self.act(y)


class ParallelMirror(nn.Module):
    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class GlobalAvgPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=2)


def _conv(layer: Any, shape: tuple[int, ...]) -> nn.Module:
    if layer.padding_mode != "zeros":
        raise ValueError(f"no mirror for padding_mode {layer.padding_mode!r}")
    k, s, d = layer.kernel_size, layer.stride, layer.dilation
    left, right = fn.resolve_padding(layer.padding, shape[1], k, s, d)
    conv = nn.Conv1d(
        layer.in_channels,
        layer.out_channels,
        k,
        stride=s,
        padding=left if left == right else 0,
        dilation=d,
        bias="b" in layer.params,
    )
    _copy(layer, conv)
    if left == right:
        return conv
    return nn.Sequential(nn.ConstantPad1d((left, right), 0.0), conv)


def _copy(layer: Any, module: nn.Module) -> None:
    with torch.no_grad():
        for name, value in layer.params.items():
            # Dense keeps W as (in, out) so its GEMM needs no transpose; Linear is (out, in).
            array = value.T if isinstance(module, nn.Linear) and name == "W" else value
            getattr(module, PARAM_NAMES[name]).copy_(torch.from_numpy(np.ascontiguousarray(array)))
        for name, value in getattr(layer, "buffers", {}).items():
            getattr(module, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _sequence(layers: Any, shape: tuple[int, ...]) -> nn.Sequential:
    mods = []
    for layer in layers:
        mods.append(mirror_layer(layer, shape))
        shape = tuple(layer.output_shape(shape))
    return nn.Sequential(*mods)


def _dense(layer: Any, shape: tuple[int, ...]) -> nn.Module:
    linear = nn.Linear(layer.in_features, layer.out_features, bias="b" in layer.params)
    _copy(layer, linear)
    return linear


def _batchnorm(layer: Any, shape: tuple[int, ...]) -> nn.Module:
    bn = nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum)
    _copy(layer, bn)
    return bn


def _residual(layer: Any, shape: tuple[int, ...]) -> nn.Module:
    body = _sequence(layer.layers, shape)
    shortcut = None if layer.shortcut is None else _sequence(layer.shortcut, shape)
    out = tuple(layer.layers.output_shape(shape))
    act = None if layer.activation is None else mirror_layer(layer.activation, out)
    return ResidualMirror(body, shortcut, act)


def _parallel(layer: Any, shape: tuple[int, ...]) -> nn.Module:
    return ParallelMirror([_sequence(branch, shape) for branch in layer.branches])


# Engine class (every layer kind's ``LayerSpec.engine``) -> (layer, its input shape) -> module;
# tests/test_layer_kinds.py reads these keys from the source (torch is not a test dependency).
MIRRORS: dict[type, Callable[[Any, tuple[int, ...]], nn.Module]] = {
    cnn.Residual: _residual,
    cnn.Parallel: _parallel,
    cnn.Conv1d: _conv,
    cnn.Dense: _dense,
    cnn.BatchNorm1d: _batchnorm,
    cnn.ReLU: lambda layer, shape: nn.ReLU(),
    cnn.LeakyReLU: lambda layer, shape: nn.LeakyReLU(layer.negative_slope),
    cnn.Tanh: lambda layer, shape: nn.Tanh(),
    cnn.Sigmoid: lambda layer, shape: nn.Sigmoid(),
    cnn.GELU: lambda layer, shape: nn.GELU(approximate=layer.approximate),
    cnn.MaxPool1d: lambda layer, shape: nn.MaxPool1d(
        layer.kernel_size, layer.stride, layer.padding
    ),
    cnn.AvgPool1d: lambda layer, shape: nn.AvgPool1d(
        layer.kernel_size, layer.stride, layer.padding
    ),  # count_include_pad=True by default, as the engine counts zero padding
    cnn.GlobalAvgPool1d: lambda layer, shape: GlobalAvgPool(),
    cnn.Flatten: lambda layer, shape: nn.Flatten(),
    cnn.Dropout: lambda layer, shape: nn.Dropout(layer.rate),
}


def mirror_layer(layer: Any, shape: tuple[int, ...]) -> nn.Module:
    """The torch module computing what ``layer`` computes on inputs of sample ``shape``."""
    build = MIRRORS.get(type(layer))
    if build is None:
        raise ValueError(f"no PyTorch mirror for layer {type(layer).__name__}")
    return build(layer, shape)


def mirror_model(model: Any, input_shape: tuple[int, int]) -> nn.Sequential:
    """torch.nn.Sequential equal to the built conv1d ``model`` for samples of ``input_shape``."""
    return _sequence(model.layers, tuple(int(d) for d in input_shape))
