"""A whole optimizer step on flat vectors: where each named array sits, and the state so laid out.

Optimizers' update rules are elementwise, so applying one to every parameter gathered end to end
gives each number exactly as the per-array loop does, in ~12 NumPy calls per step instead of ~12
per array (resnet1d.yaml's 35 arrays: Adam 0.86 -> 0.46 ms of arithmetic). Used by
``optim.Optimizer.step``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np

Arrays = Mapping[str, np.ndarray]


class FlatLayout:
    """Where each named array sits in one flat vector, and the state buffers laid out that way.

    The per-name state tables hold views of the flat buffers, so ``state_dict`` and the per-array
    path see the same numbers; a table entry that is no longer our view (a loaded state, a
    per-array step of an overlapping set of names) makes the layout stale, and the next step
    builds a new one from the tables' current values.
    """

    def __init__(self, optimizer: Any, params: Arrays) -> None:
        self.names = tuple(params)
        self.shapes = [p.shape for p in params.values()]
        self.dtype = next(iter(params.values())).dtype
        bounds = np.cumsum([0] + [p.size for p in params.values()])
        total = int(bounds[-1])
        self.slices = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
        self.flat_params = np.empty(total, self.dtype)
        self.flat_grads = np.empty(total, self.dtype)
        self.param_views = self._views(self.flat_params)
        self.tables = optimizer.state
        self.state: dict[str, np.ndarray] = {}
        self.state_views: dict[str, list[np.ndarray]] = {}
        for kind in optimizer.buffer_names:
            flat = np.zeros(total, self.dtype)
            views = self._views(flat)
            table = optimizer.state[kind]
            for name, view in zip(self.names, views, strict=True):
                if name in table:
                    view[...] = table[name]
                table[name] = view
            self.state[kind], self.state_views[kind] = flat, views

    def _views(self, flat: np.ndarray) -> list[np.ndarray]:
        return [flat[s].reshape(shape) for s, shape in zip(self.slices, self.shapes, strict=True)]

    @staticmethod
    def usable(params: Arrays, grads: Arrays) -> bool:
        """One dtype throughout and every gradient shaped like its parameter."""
        dtype = next(iter(params.values())).dtype
        return all(
            p.dtype == dtype and grads[name].dtype == dtype and grads[name].shape == p.shape
            for name, p in params.items()
        )

    def fits(self, optimizer: Any, params: Arrays, grads: Arrays) -> bool:
        """Same names, shapes and dtype as when built, and the state tables still ours."""
        if tuple(params) != self.names or optimizer.state is not self.tables:
            return False
        if [p.shape for p in params.values()] != self.shapes:
            return False
        if next(iter(params.values())).dtype != self.dtype or not self.usable(params, grads):
            return False
        return all(
            optimizer.state[kind].get(name) is view
            for kind, views in self.state_views.items()
            for name, view in zip(self.names, views, strict=True)
        )

    def gather(self, params: Arrays, grads: Arrays) -> tuple[np.ndarray, np.ndarray]:
        """(total,) copies of the parameters and the gradients, end to end."""
        np.concatenate([p.reshape(-1) for p in params.values()], out=self.flat_params)
        np.concatenate([grads[name].reshape(-1) for name in self.names], out=self.flat_grads)
        return self.flat_params, self.flat_grads

    def scatter(self, params: Arrays) -> None:
        """The updated flat parameters back into the caller's arrays."""
        for p, view in zip(params.values(), self.param_views, strict=True):
            p[...] = view
