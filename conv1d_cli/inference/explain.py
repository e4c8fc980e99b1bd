"""Which part of an input decided: Grad-CAM at one layer and input x gradient, on the engine.

No second engine: the network's own ``Sequential`` runs forward once in eval mode while one
layer is tapped (its output kept, and later the gradient arriving at that output), then its own
``backward`` runs once from the explained output down to the input. A layer is tapped by
shadowing ``forward``/``backward`` on the instance for that one pass (the way
training/diagnostics.py records ReLUs), so layers inside residual and parallel blocks are
reached exactly like the network's own ones.

Layer paths are named like parameters: "3", "0.layers.2", "0.activation", "2.branches.1.0".

The explained output of sample n with target class t is ``z[n, t] - mean(z[n])``: softmax does
not change when every logit moves together, so that common part of ``z[n, t]``'s gradient says
nothing about the decision and is left out.

Methods, each an (N, C, L) map on the (normalized) input's time axis; positive values are
evidence for the target class, negative values evidence against it:

- ``gradcam``: the layer's activations A (N, K, L') weighted by the channel means of their
  gradients, summed over channels, then linearly resampled to the input's length and repeated on
  every input channel (Grad-CAM has no input-channel axis). Not clipped at zero, unlike the
  paper: where the evidence for a class is the absence of another's pattern, the clipped map is
  zero exactly where the network looked.
- ``input-x-gradient``: x * dz/dx on the normalized input, i.e. relative to the training data's
  mean (zero after normalization).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from conv1d_cli.errors import ConfigError
from conv1d_cli.nn import Conv1d, Sequential

METHODS = ("gradcam", "input-x-gradient")


@dataclass(frozen=True)
class NamedLayer:
    """One layer of a network: its path, the layer, its per-sample output shape."""

    path: str
    layer: Any
    output_shape: tuple[int, ...]

    @property
    def kind(self) -> str:
        return type(self.layer).__name__

    @property
    def is_map(self) -> bool:
        """Whether the output is a (channels, length) map (Grad-CAM needs one)."""
        return len(self.output_shape) == 2


def _walk(layers: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for index, layer in enumerate(layers):
        path = f"{prefix}{index}"
        yield path, layer
        children = getattr(layer, "named_children", None)  # blocks (nn/blocks.py)
        for name, child in children() if children else ():
            if isinstance(child, Sequential):
                yield from _walk(child, f"{path}.{name}.")
            else:
                yield f"{path}.{name}", child


def named_layers(model: Sequential, input_shape: tuple[int, ...]) -> list[NamedLayer]:
    """Every layer in forward order, blocks followed by their children, named like parameters."""
    shapes = {row.path: row.output_shape for row in model.summary(input_shape)}
    return [NamedLayer(path, layer, shapes[path]) for path, layer in _walk(model.layers)]


def _listing(layers: list[NamedLayer]) -> str:
    return ", ".join(f"{entry.path} ({entry.kind})" for entry in layers)


def find_layer(
    model: Sequential, input_shape: tuple[int, ...], path: str, need: str = "map"
) -> NamedLayer:
    """The layer at ``path``, or a ConfigError listing the paths allowed.

    ``need``: "map" (its output is (channels, length): Grad-CAM, feature maps) or "conv" (a
    Conv1d: kernels)."""
    layers = named_layers(model, input_shape)
    allowed = [e for e in layers if (e.is_map if need == "map" else isinstance(e.layer, Conv1d))]
    what = "a layer with a (channels, length) output" if need == "map" else "a conv1d layer"
    found = next((entry for entry in layers if entry.path == str(path).strip()), None)
    if found is None:
        raise ConfigError(f"--layer {path}: no such layer; {what}: {_listing(allowed)}")
    if found not in allowed:
        raise ConfigError(
            f"--layer {path} is {found.kind} with output {found.output_shape}, not {what}; "
            f"allowed: {_listing(allowed)}"
        )
    return found


def default_layer(model: Sequential, input_shape: tuple[int, ...]) -> NamedLayer:
    """Grad-CAM's layer: the network's last convolution, or the last block holding one (a
    residual block's output, after its sum, as Grad-CAM on ResNets takes)."""
    layers = named_layers(model, input_shape)
    top = [entry for entry in layers if "." not in entry.path and entry.is_map]
    for entry in reversed(top):
        inside = [e for e in layers if e.path.startswith(f"{entry.path}.")]
        if isinstance(entry.layer, Conv1d) or any(isinstance(e.layer, Conv1d) for e in inside):
            return entry
    raise ConfigError("the network has no convolution for Grad-CAM; use input-x-gradient")


@dataclass
class Tap:
    """What one layer saw in one pass: its output (N, K, L') and the gradient reaching it."""

    activation: np.ndarray | None = None
    grad: np.ndarray | None = None


@contextmanager
def tapped(layer: Any) -> Iterator[Tap]:
    """Record ``layer``'s output and output gradient while the block is active."""
    tap = Tap()
    own = {name: vars(layer)[name] for name in ("forward", "backward") if name in vars(layer)}
    inner_forward, inner_backward = layer.forward, layer.backward

    def forward(x: np.ndarray) -> np.ndarray:
        y = inner_forward(x)
        tap.activation = np.array(y)  # a copy: a later layer may reuse its input's buffer
        return y

    def backward(grad_y: np.ndarray) -> np.ndarray:
        tap.grad = np.array(grad_y)
        return inner_backward(grad_y)

    layer.forward, layer.backward = forward, backward
    try:
        yield tap
    finally:
        del layer.forward, layer.backward
        for name, value in own.items():
            setattr(layer, name, value)


@contextmanager
def eval_mode(model: Sequential) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def decision_grad(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """d(z[n, t_n] - mean(z[n])) / dz: (N, K) one-hot of the targets minus 1/K."""
    grad = np.full(logits.shape, -1.0 / logits.shape[1], dtype=logits.dtype)
    grad[np.arange(len(targets)), targets] += 1.0
    return grad


def resample(cam: np.ndarray, length: int) -> np.ndarray:
    """(N, L') -> (N, length) by linear interpolation between the L' cell centres (PyTorch's
    ``interpolate(mode="linear", align_corners=False)``); the ends are held flat."""
    short = cam.shape[1]
    if short == length:
        return cam
    where = np.clip((np.arange(length) + 0.5) * (short / length) - 0.5, 0, short - 1)
    left = np.floor(where).astype(np.int64)
    right = np.minimum(left + 1, short - 1)
    frac = (where - left).astype(cam.dtype)
    return cam[:, left] * (1 - frac) + cam[:, right] * frac


def gradcam_map(activation: np.ndarray, grad: np.ndarray, length: int) -> np.ndarray:
    """A (N, K, L') and dz/dA (N, K, L') -> signed Grad-CAM (N, length)."""
    weights = grad.mean(axis=2)  # (N, K): one weight per channel, the paper's alpha
    cam = np.einsum("nk,nkl->nl", weights, activation)
    return resample(cam, length)


def explain_batch(
    model: Sequential,
    x: np.ndarray,
    method: str = "gradcam",
    layer: str | None = None,
    target: int | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalized x (N, C, L) -> (attributions (N, C, L), logits (N, K)) in x's dtype.

    ``target``: one class index for every sample, (N,) indices, or None (each sample's
    predicted class). One forward and one backward of ``model`` in eval mode."""
    if method not in METHODS:
        raise ConfigError(f"--method {method}: allowed methods: {', '.join(METHODS)}")
    shape = tuple(int(v) for v in x.shape[1:])
    if method == "gradcam":
        entry = default_layer(model, shape) if layer is None else find_layer(model, shape, layer)
        tap_on = entry.layer
    else:
        tap_on = None
    with eval_mode(model), tapped(tap_on) if tap_on is not None else _no_tap() as tap:
        logits = model.forward(x)
        targets = np.argmax(logits, axis=1) if target is None else target
        targets = np.broadcast_to(np.asarray(targets, dtype=np.int64), (len(x),))
        dx = model.backward(decision_grad(logits, targets))
    if method == "input-x-gradient":
        return (x * dx).astype(x.dtype, copy=False), logits
    cam = gradcam_map(tap.activation, tap.grad, x.shape[2]).astype(x.dtype, copy=False)
    return np.repeat(cam[:, None, :], x.shape[1], axis=1), logits


@contextmanager
def _no_tap() -> Iterator[Tap]:
    yield Tap()


def target_index(class_names: tuple[str, ...], target: str | int | None) -> int | None:
    """--target as a class index: a class name, else an integer index; None stays None."""
    if target is None:
        return None
    names = [str(name) for name in class_names]
    if str(target) in names:
        return names.index(str(target))
    if isinstance(target, int | np.integer) and 0 <= target < len(names):
        return int(target)
    raise ConfigError(f"--target {target}: not a class of the network; classes: {', '.join(names)}")


def explain_samples(
    loaded: Any,
    x: Any,
    method: str = "gradcam",
    *,
    target: str | int | None = None,
    layer: str | None = None,
    batch_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw samples x (N, ...) of a LoadedModel -> (attributions (N, C, L), logits (N, K)),
    batch by batch: ``LoadedModel.explain`` and ``conv1d explain``."""
    task = getattr(loaded, "task", "classification")  # set by checkpoints of issue 23 on
    if task != "classification":
        raise ConfigError(f"explanations are for classifiers; this network is a {task} one")
    samples = loaded.as_samples(x)
    index = target_index(loaded.class_names, target)
    size = batch_size or loaded.batch_size
    out = np.empty(samples.shape, dtype=loaded.dtype)
    logits = np.empty((len(samples), loaded.n_classes), dtype=loaded.dtype)
    for start in range(0, len(samples), size):
        batch = loaded.normalize(np.asarray(samples[start : start + size]))
        part, z = explain_batch(loaded.model, batch, method, layer, index)
        out[start : start + len(batch)], logits[start : start + len(batch)] = part, z
    return out, logits


def feature_maps(model: Sequential, x: np.ndarray, layer: str) -> np.ndarray:
    """Normalized x (N, C, L) -> the output of the layer at ``layer``, (N, K, L'), eval mode."""
    entry = find_layer(model, tuple(int(v) for v in x.shape[1:]), layer)
    with eval_mode(model), tapped(entry.layer) as tap:
        model.forward(x)
    return tap.activation
