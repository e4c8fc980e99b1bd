"""Optimizers with PyTorch's update rules, so values check by hand (schedules: schedules.py).

An optimizer updates parameter arrays in place from a dict of gradients with the same names and
keeps its per-parameter state under those names, so ``state_dict()`` lines up with a model's.
Gradients are read, never modified.

One step of a whole network runs on flat arrays (``FlatLayout``): every parameter and gradient
gathered end to end, the update rule applied once, the results scattered back. The rules are
elementwise, so each number comes out exactly as the per-array loop computes it; what is saved
is the ~12 NumPy calls per array and step (resnet1d.yaml's 35 arrays: Adam 0.86 -> 0.46 ms).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from conv1d_cli.training.optim_flat import Arrays, FlatLayout


def check_number(
    name: str, value: Any, low: float, high: float = math.inf, *, open_low=False, open_high=False
) -> float:
    """``value`` as a float in the interval, or ValueError naming ``name``."""
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = (value > low if open_low else value >= low) and (
            value < high if open_high else value <= high
        )
    if not ok:
        interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return value


def global_norm(grads: Iterable[np.ndarray]) -> float:
    """L2 norm of all arrays taken together, accumulated in float64."""
    return math.sqrt(sum(float(np.square(g, dtype=np.float64).sum()) for g in grads))


def clip_grad_norm(grads: Arrays | Iterable[np.ndarray], max_norm: float) -> float:
    """Scale all gradients in place so their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping (PyTorch's clip_grad_norm_, including its 1e-6 guard).
    """
    max_norm = check_number("max_norm", max_norm, 0.0, open_low=True)
    arrays = list(grads.values()) if isinstance(grads, Mapping) else list(grads)
    norm = global_norm(arrays)
    if norm > max_norm:
        coef = max_norm / (norm + 1e-6)
        for g in arrays:
            g *= coef
    return norm


class Optimizer:
    """Base: ``step(params, grads)`` updates params in place; L2 weight decay and clipping.

    ``lr`` is public: a schedule sets it before each step. ``buffer_names`` lists the
    per-parameter state, exported as "<buffer>.<param name>" next to a 0-d int64 "step".
    ``flat`` (default on) runs a step of several arrays on flat vectors, with the same results.
    """

    buffer_names: tuple[str, ...] = ()
    decoupled_weight_decay = False
    flat = True

    def __init__(self, lr: float, weight_decay: float = 0.0, clip_grad_norm: float | None = None):
        self.lr = check_number("lr", lr, 0.0)
        self.weight_decay = check_number("weight_decay", weight_decay, 0.0)
        self.clip_grad_norm = (
            None
            if clip_grad_norm is None
            else check_number("clip_grad_norm", clip_grad_norm, 0.0, open_low=True)
        )
        self.step_count = 0
        self.grad_norm: float | None = None  # the norm before clipping at the last step
        self.state: dict[str, dict[str, np.ndarray]] = {b: {} for b in self.buffer_names}
        self._layer_keys: dict[int, str] = {}
        self._layouts: dict[tuple[str, ...], FlatLayout] = {}
        self._flat_layout: FlatLayout | None = None  # the one of the step under way

    def step(self, params: Arrays, grads: Arrays) -> None:
        """One update of every array in ``params`` from the same-named array in ``grads``."""
        if missing := sorted(params.keys() - grads.keys()):
            raise ValueError(f"no gradient for parameters: {', '.join(missing)}")
        self.step_count += 1
        coef = 1.0
        if self.clip_grad_norm is not None:
            self.grad_norm = global_norm(grads[name] for name in params)
            if self.grad_norm > self.clip_grad_norm:
                coef = self.clip_grad_norm / (self.grad_norm + 1e-6)
        layout = self._layout_for(params, grads)
        if layout is not None:
            self._flat_step(layout, params, grads, coef)
            return
        for name, p in params.items():
            g = grads[name]
            if g.shape != p.shape:
                raise ValueError(f"gradient of {name} has shape {g.shape}, parameter {p.shape}")
            if coef != 1.0:
                g = g * coef  # a scaled copy: the caller's gradient stays as it was
            if self.weight_decay:
                if self.decoupled_weight_decay:
                    p *= 1.0 - self.lr * self.weight_decay
                else:
                    g = g + self.weight_decay * p
            self._update(name, p, g)

    def _layout_for(self, params: Arrays, grads: Arrays) -> FlatLayout | None:
        """The flat layout for this set of arrays (built or rebuilt as needed), or None when
        the step should run array by array (flat off, one array, mixed dtypes, bad shapes)."""
        if not self.flat or len(params) < 2:
            return None
        key = tuple(params)
        layout = self._layouts.get(key)
        if layout is not None and layout.fits(self, params, grads):
            return layout
        if not FlatLayout.usable(params, grads) or any(
            name in self.state[kind] and self.state[kind][name].shape != p.shape
            for kind in self.buffer_names
            for name, p in params.items()
        ):
            return None  # the per-array loop raises the precise error, if there is one
        layout = self._layouts[key] = FlatLayout(self, params)
        return layout

    def _flat_step(self, layout: FlatLayout, params: Arrays, grads: Arrays, coef: float) -> None:
        """The per-array loop's arithmetic, on the gathered vectors (our copies: safe in place)."""
        p, g = layout.gather(params, grads)
        if coef != 1.0:
            g *= coef
        if self.weight_decay:
            if self.decoupled_weight_decay:
                p *= 1.0 - self.lr * self.weight_decay
            else:
                g += self.weight_decay * p
        self._flat_layout = layout
        try:
            self._update(None, p, g)
        finally:
            self._flat_layout = None
        layout.scatter(params)

    def _update(self, name: str | None, p: np.ndarray, g: np.ndarray) -> None:
        """Update ``p`` in place; ``name`` None: the flat vectors of a whole step."""
        raise NotImplementedError

    def update(self, layer: Any) -> None:
        """The course's hook: step one layer's ``params`` with its ``grads``.

        State is keyed "layer<i>.<param>" by order of first use, so layers sharing an
        optimizer keep separate moments; the step counter counts calls.
        """
        prefix = self._layer_keys.setdefault(id(layer), f"layer{len(self._layer_keys)}")
        self.step(
            {f"{prefix}.{k}": v for k, v in layer.params.items()},
            {f"{prefix}.{k}": v for k, v in layer.grads.items()},
        )

    def _buffer(self, kind: str, name: str | None, p: np.ndarray) -> np.ndarray:
        if name is None:
            return self._flat_layout.state[kind]
        table = self.state[kind]
        if name not in table:
            table[name] = np.zeros_like(p)
        elif table[name].shape != p.shape:
            raise ValueError(
                f"optimizer state {kind}.{name} has shape {table[name].shape}, parameter {p.shape}"
            )
        return table[name]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the step counter and every buffer: {"step": 0-d int64, "m.0.W": ...}."""
        out = {"step": np.array(self.step_count, dtype=np.int64)}
        for kind, table in self.state.items():
            out.update({f"{kind}.{name}": array.copy() for name, array in table.items()})
        return out

    def load_state_dict(self, state: Arrays) -> None:
        """Restore exactly what ``state_dict`` exported; ValueError on foreign or missing keys."""
        if "step" not in state:
            raise ValueError("optimizer state has no 'step' entry")
        tables: dict[str, dict[str, np.ndarray]] = {b: {} for b in self.buffer_names}
        unexpected = []
        for key, value in state.items():
            kind, _, name = key.partition(".")
            if kind in tables and name:
                tables[kind][name] = np.array(value, copy=True)
            elif key != "step":
                unexpected.append(key)
        if unexpected:
            raise ValueError(
                f"unexpected keys for {type(self).__name__}: {', '.join(sorted(unexpected))}"
            )
        self.step_count = int(state["step"])
        self.state = tables

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"


class Momentum(Optimizer):
    """buf = momentum * buf + g; p -= lr * buf (or lr * (g + momentum * buf) with Nesterov)."""

    def __init__(
        self,
        lr: float,
        momentum: float = 0.9,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        clip_grad_norm: float | None = None,
    ) -> None:
        self.momentum = check_number("momentum", momentum, 0.0, 1.0, open_high=True)
        if nesterov and not self.momentum:
            raise ValueError("nesterov needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.buffer_names = ("momentum",) if self.momentum else ()
        super().__init__(lr, weight_decay, clip_grad_norm)

    def _update(self, name: str | None, p: np.ndarray, g: np.ndarray) -> None:
        if self.momentum:
            buf = self._buffer("momentum", name, p)
            buf *= self.momentum
            buf += g
            g = g + self.momentum * buf if self.nesterov else buf
        p -= self.lr * g


class SGD(Momentum):
    """p -= lr * g: Momentum with the momentum set to zero (no state besides the step)."""

    def __init__(self, lr: float, weight_decay: float = 0.0, clip_grad_norm: float | None = None):
        super().__init__(lr, 0.0, False, weight_decay, clip_grad_norm)


class RMSProp(Optimizer):
    """sq = alpha * sq + (1 - alpha) * g^2; p -= lr * g / (sqrt(sq) + eps)."""

    buffer_names = ("sq",)

    def __init__(
        self,
        lr: float,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        clip_grad_norm: float | None = None,
    ) -> None:
        super().__init__(lr, weight_decay, clip_grad_norm)
        self.alpha = check_number("alpha", alpha, 0.0, 1.0, open_high=True)
        self.eps = check_number("eps", eps, 0.0, open_low=True)
        self._keep, self._add = self.alpha, 1.0 - self.alpha

    def _update(self, name: str | None, p: np.ndarray, g: np.ndarray) -> None:
        sq = self._buffer("sq", name, p)
        if self._keep != 1.0:
            sq *= self._keep
        sq += self._add * (g * g)
        denom = np.sqrt(sq)
        denom += self.eps
        p -= self.lr * (g / denom)


class AdaGrad(RMSProp):
    """sq += g^2; p -= lr * g / (sqrt(sq) + eps): RMSProp with a running sum, not an average."""

    def __init__(
        self,
        lr: float,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
        clip_grad_norm: float | None = None,
    ) -> None:
        super().__init__(lr, 0.0, eps, weight_decay, clip_grad_norm)
        self._keep, self._add = 1.0, 1.0


class Adam(Optimizer):
    """Bias-corrected moments; weight decay is L2 on the gradient unless decoupled (AdamW)."""

    buffer_names = ("m", "v")

    def __init__(
        self,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        clip_grad_norm: float | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        super().__init__(lr, weight_decay, clip_grad_norm)
        if not (isinstance(betas, tuple | list) and len(betas) == 2):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (
            check_number("betas[0]", betas[0], 0.0, 1.0, open_high=True),
            check_number("betas[1]", betas[1], 0.0, 1.0, open_high=True),
        )
        self.eps = check_number("eps", eps, 0.0, open_low=True)
        self.decoupled_weight_decay = bool(decoupled_weight_decay)
        self._scratch: dict[str, np.ndarray] = {}  # not state: never saved or loaded

    def _update(self, name: str | None, p: np.ndarray, g: np.ndarray) -> None:
        b1, b2 = self.betas
        m, v = self._buffer("m", name, p), self._buffer("v", name, p)
        # One scratch array per parameter, reused every step: the same operations in the same
        # order as the textbook expressions (bit-identical), without a temporary per operation.
        tmp = self._scratch.get(name)
        if tmp is None or tmp.shape != p.shape or tmp.dtype != np.result_type(p, g):
            tmp = self._scratch[name] = np.empty(p.shape, np.result_type(p, g))
        m *= b1
        np.multiply(1.0 - b1, g, out=tmp)
        m += tmp
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v += tmp
        t = self.step_count
        # PyTorch's arrangement: p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
        np.sqrt(v, out=tmp)
        tmp *= 1.0 / math.sqrt(1.0 - b2**t)
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr / (1.0 - b1**t)
        p -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before the Adam step."""

    def __init__(
        self,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        clip_grad_norm: float | None = None,
    ) -> None:
        super().__init__(lr, betas, eps, weight_decay, clip_grad_norm, decoupled_weight_decay=True)
