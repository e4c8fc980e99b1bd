"""The same network in PyTorch, built from the same config, for the side-by-side timings.

Imported only when ``torch`` is importable; the package never depends on it. Layers map one to
one (conv padding is resolved with the engine's own rule, so 'same' matches exactly), the
weights are copied from the NumPy model so both start from the same point, and the optimizer
gets the same settings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from conv1d_cli.nn import functional as fn


def _conv(spec: Any, shape: tuple[int, ...]) -> list[nn.Module]:
    channels, length = shape
    left, right = fn.resolve_padding(spec.padding, length, spec.kernel, spec.stride, spec.dilation)
    pad = left if left == right else 0
    mods: list[nn.Module] = []
    if left != right:  # PyTorch's Conv1d pads symmetrically; asymmetric 'same' needs a pad
        mods.append(nn.ConstantPad1d((left, right), 0.0))
    mods.append(
        nn.Conv1d(
            channels,
            spec.channels,
            spec.kernel,
            stride=spec.stride,
            padding=pad,
            dilation=spec.dilation,
            bias=spec.bias,
        )
    )
    return mods


# The kinds mapped below; configs with any other kind (blocks, global pooling) are mirrored.
FLAT_KINDS = ("conv1d", "dense", "linear", "relu", "maxpool1d", "avgpool1d", "flatten", "dropout")
FLAT_KINDS += ("batchnorm1d",)


def build_torch_model(model_cfg: Any, input_shape: tuple[int, int], numpy_model: Any):
    """torch.nn.Sequential equal to ``numpy_model`` (built from ``model_cfg``), same weights."""
    if any(spec.type not in FLAT_KINDS for spec in model_cfg.layers):
        from torch_mirror import mirror_model  # blocks and the rest: mirror the built network

        return mirror_model(numpy_model, input_shape)
    shape: tuple[int, ...] = tuple(input_shape)
    mods: list[nn.Module] = []
    for spec, layer in zip(model_cfg.layers, numpy_model.layers, strict=True):
        kind = spec.type
        if kind == "conv1d":
            new = _conv(spec, shape)
        elif kind in ("dense", "linear"):
            new = [nn.Linear(shape[0], spec.units, bias=spec.bias)]
        elif kind == "relu":
            new = [nn.ReLU()]
        elif kind == "maxpool1d":
            new = [nn.MaxPool1d(spec.kernel, spec.stride, spec.padding)]
        elif kind == "avgpool1d":
            new = [nn.AvgPool1d(spec.kernel, spec.stride, spec.padding)]
        elif kind == "flatten":
            new = [nn.Flatten()]
        elif kind == "dropout":
            new = [nn.Dropout(spec.rate)]
        elif kind == "batchnorm1d":
            new = [nn.BatchNorm1d(shape[0], eps=spec.eps, momentum=spec.momentum)]
        else:
            raise ValueError(f"no PyTorch counterpart in the benchmark for layer {kind!r}")
        shape = tuple(layer.output_shape(shape))
        _copy_weights(layer, new[-1])
        mods.extend(new)
    return nn.Sequential(*mods)


def _copy_weights(layer: Any, module: nn.Module) -> None:
    with torch.no_grad():
        for name, value in layer.params.items():
            target = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}[name]
            # Dense keeps W as (in, out) so its GEMM needs no transpose; Linear is (out, in).
            array = value.T if isinstance(module, nn.Linear) and name == "W" else value
            getattr(module, target).copy_(torch.from_numpy(np.ascontiguousarray(array)))


def build_torch_optimizer(opt_cfg: Any, model: nn.Module) -> torch.optim.Optimizer:
    """The torch optimizer with the config's settings (the engine follows PyTorch's rules)."""
    params = model.parameters()
    kind, lr, wd = opt_cfg.type, opt_cfg.lr, opt_cfg.weight_decay
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if kind == "momentum":
        return torch.optim.SGD(
            params, lr=lr, momentum=opt_cfg.momentum, nesterov=opt_cfg.nesterov, weight_decay=wd
        )
    if kind in ("adam", "adamw"):
        make = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return make(params, lr=lr, betas=opt_cfg.betas, eps=opt_cfg.eps, weight_decay=wd)
    raise ValueError(f"no PyTorch counterpart in the benchmark for optimizer {kind!r}")


def train_step_fn(model: nn.Module, optimizer: torch.optim.Optimizer):
    """A closure running one training step on NumPy arrays, as conv1d's Trainer does."""
    loss_fn = nn.CrossEntropyLoss()

    def step(x: np.ndarray, y: np.ndarray) -> float:
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        optimizer.zero_grad(set_to_none=True)
        logits = model(xt)
        loss = loss_fn(logits, yt)
        loss.backward()
        optimizer.step()
        # The Trainer counts correct predictions each step; so do we.
        int((logits.argmax(dim=1) == yt).sum())
        return float(loss.detach())

    return step


def eval_fn(model: nn.Module):
    """A closure computing logits in eval mode without autograd."""

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return run
