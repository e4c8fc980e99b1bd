"""Sequential: a list of layers with qualified parameter names ("0.W", "3.b") for state tables."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from conv1d_cli.nn.layers import Layer


@dataclass(frozen=True)
class LayerInfo:
    """One row of ``Sequential.summary``; ``description`` is the layer's config-like repr."""

    index: int
    name: str
    output_shape: tuple[int, ...]
    n_params: int
    macs: int
    description: str = ""
    path: str = ""  # "3" or, inside blocks, "3.layers.1" (the parameter-name prefix)
    depth: int = 0  # nesting level: 0 for the network's own layers


def layer_rows(
    layer: Layer, shape: tuple[int, ...], index: int, path: str, depth: int
) -> list[LayerInfo]:
    """The layer's summary row, then (for blocks) its children's rows."""
    out_shape = tuple(int(v) for v in layer.output_shape(shape))
    n_params = sum(p.size for p in layer.params.values())
    macs = layer.macs(shape)
    rows = [
        LayerInfo(index, type(layer).__name__, out_shape, n_params, macs, repr(layer), path, depth)
    ]
    children = getattr(layer, "summary_children", None)  # blocks (nn/blocks.py)
    for name, child_shape, child in children(shape) if children else ():
        if isinstance(child, Sequential):
            rows += child.summary(child_shape, f"{path}.{name}.", depth + 1)
        else:
            rows += layer_rows(child, child_shape, 0, f"{path}.{name}", depth + 1)
    return rows


class Sequential:
    """Layers applied in order; backward runs them in reverse. Inputs (N, C, L) or (N, F)."""

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = list(layers)
        self.training = True

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __getitem__(self, index: int) -> Layer:
        return self.layers[index]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, ...) input -> (N, ...) output of the last layer."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    __call__ = forward

    def backward(self, grad: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Gradient of the output -> gradient of the input; fills every layer's ``grads``.

        With ``input_grad=False`` (training) the first layer skips its input gradient, which
        nothing uses, and None is returned.
        """
        if not self.layers:
            return grad
        for layer in reversed(self.layers[1:]):
            grad = layer.backward(grad)
        if not input_grad:
            self.layers[0].backward_params(grad)
            return None
        return self.layers[0].backward(grad)

    def train(self, mode: bool = True) -> Sequential:
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def eval(self) -> Sequential:
        return self.train(False)

    def _named(self, table: str) -> dict[str, np.ndarray]:
        return {
            f"{i}.{name}": array
            for i, layer in enumerate(self.layers)
            for name, array in getattr(layer, table).items()
        }

    def parameters(self) -> dict[str, np.ndarray]:
        """The live parameter arrays by qualified name; optimizers update them in place."""
        return self._named("params")

    def gradients(self) -> dict[str, np.ndarray]:
        """The live gradient arrays, named like ``parameters()``."""
        return self._named("grads")

    def buffers(self) -> dict[str, np.ndarray]:
        """The live non-trainable state (BatchNorm's running statistics)."""
        return self._named("buffers")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of parameters and buffers by qualified name (what a checkpoint stores)."""
        return {
            name: array.copy() for name, array in {**self.parameters(), **self.buffers()}.items()
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` into the existing arrays in place; ValueError lists every mismatch."""
        own = {**self.parameters(), **self.buffers()}
        problems = []
        if missing := sorted(own.keys() - state.keys()):
            problems.append(f"missing keys: {', '.join(missing)}")
        if unexpected := sorted(state.keys() - own.keys()):
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        for name in sorted(own.keys() & state.keys()):
            got = np.shape(state[name])
            if got != own[name].shape:
                problems.append(f"{name}: checkpoint shape {got} != model shape {own[name].shape}")
        if problems:
            raise ValueError("state does not fit the model: " + "; ".join(problems))
        for name, array in own.items():
            array[...] = state[name]

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape, e.g. (1, 784) -> (10,), computed without data."""
        shape = tuple(int(v) for v in input_shape)
        for layer in self.layers:
            shape = tuple(layer.output_shape(shape))
        return shape

    def summary(
        self, input_shape: tuple[int, ...], prefix: str = "", depth: int = 0
    ) -> list[LayerInfo]:
        """One LayerInfo per layer for samples of ``input_shape`` (no batch axis); a block's
        row (its totals) is followed by its children's rows, one level deeper."""
        rows = []
        shape = tuple(int(v) for v in input_shape)
        for i, layer in enumerate(self.layers):
            rows += layer_rows(layer, shape, i, f"{prefix}{i}", depth)
            shape = tuple(layer.output_shape(shape))
        return rows

    def macs(self, input_shape: tuple[int, ...]) -> int:
        """Multiply-accumulates per sample of the whole chain."""
        return sum(row.macs for row in self.summary(input_shape) if row.depth == 0)

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters().values())

    def predict_logits(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """(N, ...) -> (N, K) outputs in eval mode, batch by batch; the mode is restored after."""
        was_training = self.training
        self.eval()
        try:
            outs = [self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        finally:
            self.train(was_training)
        return np.concatenate(outs) if outs else np.empty((0, *self.output_shape(x.shape[1:])))

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"
