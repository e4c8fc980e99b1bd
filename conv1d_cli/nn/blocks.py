"""Blocks: layers made of layer lists. Residual (body + shortcut, summed) and Parallel
(branches concatenated along channels, the Inception module); both nest.

Parameter, gradient and buffer names recurse like PyTorch's ``state_dict``: a block's own tables
hold its children's entries under ``layers.1.W``, ``shortcut.0.W`` or ``branches.0.1.W``, so a
model names them ``3.layers.1.W`` and optimizers and checkpoints need nothing new.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from conv1d_cli.nn.layers import Layer
from conv1d_cli.nn.model import Sequential


def total_stride(layers: Sequential) -> int:
    """The product of the strides inside ``layers`` (1 for layers without one)."""
    return math.prod(int(getattr(layer, "stride", 1)) for layer in layers)


def _sum_into_fresh(a: np.ndarray, b: np.ndarray, incoming: np.ndarray) -> np.ndarray:
    """a + b: added in place into ``a`` when it is a buffer a layer just made (layers return
    new input gradients); into a new array when ``a`` is, or views, ``incoming`` (the gradient
    the caller still owns, which an identity path hands back unchanged)."""
    if (
        a.flags.writeable
        and not np.may_share_memory(a, incoming)
        and a.dtype == np.result_type(a, b)
    ):
        a += b
        return a
    return np.add(a, b)


class _Block(Layer):
    """Children are named Sequentials; params/grads/buffers are live, prefixed views of theirs."""

    def __init__(self) -> None:
        self.training = True  # no own tables: they are read from the children

    def named_children(self) -> Iterator[tuple[str, Layer | Sequential]]:
        raise NotImplementedError

    def _named(self, table: str) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for prefix, child in self.named_children():
            if isinstance(child, Sequential):
                entries = child._named(table)
            else:
                entries = getattr(child, table)
            found.update({f"{prefix}.{name}": array for name, array in entries.items()})
        return found

    # Properties: the tables follow the children (rebuilt per call, a few dict entries).
    params = property(lambda self: self._named("params"))
    grads = property(lambda self: self._named("grads"))
    buffers = property(lambda self: self._named("buffers"))

    def train(self, mode: bool = True) -> Layer:
        self.training = bool(mode)
        for _, child in self.named_children():
            child.train(mode)
        return self

    def summary_children(
        self, input_shape: tuple[int, ...]
    ) -> list[tuple[str, tuple[int, ...], Layer | Sequential]]:
        """(name, its input shape, child) in forward order, for summaries and MAC counts."""
        raise NotImplementedError

    def macs(self, input_shape: tuple[int, ...]) -> int:
        return sum(child.macs(shape) for _, shape, child in self.summary_children(input_shape))


class Residual(_Block):
    """y = act(layers(x) + shortcut(x)); shortcut is the identity when None. Any input layout."""

    def __init__(
        self,
        layers: Sequential,
        shortcut: Sequential | None = None,
        activation: Layer | None = None,
    ) -> None:
        super().__init__()
        self.layers = layers
        self.shortcut = shortcut
        self.activation = activation

    @property
    def stride(self) -> int:
        return total_stride(self.layers)

    def named_children(self) -> Iterator[tuple[str, Layer | Sequential]]:
        yield "layers", self.layers
        if self.shortcut is not None:
            yield "shortcut", self.shortcut
        if self.activation is not None:
            yield "activation", self.activation

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, C, L) -> (N, C', L'), the shape the layers give."""
        h = self.layers.forward(x)
        s = x if self.shortcut is None else self.shortcut.forward(x)
        # A new array: h may be a cached output of the body's last layer (tanh keeps y).
        y = np.add(h, s)
        return y if self.activation is None else self.activation.forward(y)

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        """(N, C', L') -> (N, C, L); the gradient reaches both paths unchanged."""
        g = grad_y if self.activation is None else self.activation.backward(grad_y)
        dx = self.layers.backward(g)
        other = g if self.shortcut is None else self.shortcut.backward(g)
        return _sum_into_fresh(dx, other, g)

    def backward_params(self, grad_y: np.ndarray) -> None:
        g = grad_y if self.activation is None else self.activation.backward(grad_y)
        self.layers.backward(g, input_grad=False)
        if self.shortcut is not None:
            self.shortcut.backward(g, input_grad=False)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = self.layers.output_shape(input_shape)
        if self.shortcut is not None:
            other = self.shortcut.output_shape(input_shape)
        else:
            other = tuple(int(v) for v in input_shape)
        if other != shape:
            raise ValueError(f"the layers give {shape} but the shortcut gives {other}")
        return shape

    def summary_children(
        self, input_shape: tuple[int, ...]
    ) -> list[tuple[str, tuple[int, ...], Layer | Sequential]]:
        shape = tuple(int(v) for v in input_shape)
        out: list[tuple[str, tuple[int, ...], Layer | Sequential]] = [
            ("layers", shape, self.layers)
        ]
        if self.shortcut is not None:
            out.append(("shortcut", shape, self.shortcut))
        if self.activation is not None:
            out.append(("activation", self.layers.output_shape(shape), self.activation))
        return out

    def __repr__(self) -> str:
        kind = "identity" if self.shortcut is None else "projection"
        act = "" if self.activation is None else f", {self.activation!r}"
        return f"Residual({len(self.layers)} layers, {kind} shortcut{act})"


class Parallel(_Block):
    """Branches on the same input, outputs concatenated on axis 1 (channels or features)."""

    def __init__(self, branches: list[Sequential]) -> None:
        super().__init__()
        if not branches:
            raise ValueError("a parallel block needs at least one branch")
        self.branches = list(branches)

    @property
    def stride(self) -> int:
        return total_stride(self.branches[0])

    def named_children(self) -> Iterator[tuple[str, Layer | Sequential]]:
        for i, branch in enumerate(self.branches):
            yield f"branches.{i}", branch

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(N, C, L) -> (N, sum of branch channels, L') or (N, F) -> (N, sum of widths)."""
        outs = [branch.forward(x) for branch in self.branches]
        n, rest = outs[0].shape[0], outs[0].shape[2:]
        widths = [o.shape[1] for o in outs]
        dtype = np.result_type(*outs)
        if len(rest) == 1:  # channel-major like the convolutions' outputs: no reordering later
            y = np.empty((sum(widths), n, *rest), dtype=dtype).transpose(1, 0, 2)
        else:
            y = np.empty((n, sum(widths)), dtype=dtype)
        start = 0
        for out, width in zip(outs, widths, strict=True):  # each branch fills its own slice
            y[:, start : start + width] = out
            start += width
        self._widths = widths
        return y

    def _slices(self, grad_y: np.ndarray) -> Iterator[tuple[Sequential, np.ndarray]]:
        start = 0
        for branch, width in zip(self.branches, self._widths, strict=True):
            yield branch, grad_y[:, start : start + width]  # views, read only by the branches
            start += width

    def backward(self, grad_y: np.ndarray) -> np.ndarray:
        """(N, sum C_i, L') -> (N, C, L): the branches' input gradients summed."""
        dx = None
        for branch, grad in self._slices(grad_y):
            part = branch.backward(grad)
            dx = part if dx is None else _sum_into_fresh(dx, part, grad_y)
        if np.may_share_memory(dx, grad_y):  # an identity branch: never hand back grad_y
            dx = dx.copy()
        return dx

    def backward_params(self, grad_y: np.ndarray) -> None:
        for branch, grad in self._slices(grad_y):
            branch.backward(grad, input_grad=False)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        shapes = [branch.output_shape(input_shape) for branch in self.branches]
        if len({(len(s), s[1:]) for s in shapes}) != 1:
            listed = ", ".join(str(s) for s in shapes)
            raise ValueError(
                f"the branches give {listed}; they must differ only in channels (the first "
                "axis) to be concatenated"
            )
        return (sum(s[0] for s in shapes), *shapes[0][1:])

    def summary_children(
        self, input_shape: tuple[int, ...]
    ) -> list[tuple[str, tuple[int, ...], Layer | Sequential]]:
        shape = tuple(int(v) for v in input_shape)
        return [(f"branches.{i}", shape, branch) for i, branch in enumerate(self.branches)]

    def __repr__(self) -> str:
        return f"Parallel({len(self.branches)} branches)"
