"""Weight initializers: ``init(shape, fan_in, fan_out, rng, dtype) -> array``; biases start at zero.

Fan-in of a convolution is in_channels * kernel_size, its fan-out out_channels * kernel_size
(PyTorch's convention); a dense layer's are in_features and out_features.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

FanRule = Callable[[int, int], float]


@dataclass(frozen=True)
class Initializer:
    """Draws N(0, scale^2) or U(-scale, scale) with scale = rule(fan_in, fan_out), or zeros."""

    name: str
    distribution: str  # "normal", "uniform" or "zeros"
    rule: FanRule

    def __call__(
        self,
        shape: tuple[int, ...],
        fan_in: int,
        fan_out: int,
        rng: np.random.Generator | None = None,
        dtype: DTypeLike = np.float32,
    ) -> np.ndarray:
        """An array of ``shape`` and ``dtype``; draws in float64 so both dtypes start alike."""
        if self.distribution == "zeros":
            return np.zeros(shape, dtype=dtype)
        rng = np.random.default_rng() if rng is None else rng
        scale = self.rule(fan_in, fan_out)
        if self.distribution == "normal":
            values = rng.normal(0.0, scale, size=shape)
        else:
            values = rng.uniform(-scale, scale, size=shape)
        return values.astype(dtype, copy=False)


_RULES: dict[str, tuple[str, FanRule]] = {
    "xavier": ("normal", lambda fan_in, fan_out: math.sqrt(2.0 / (fan_in + fan_out))),
    "xavier_uniform": ("uniform", lambda fan_in, fan_out: math.sqrt(6.0 / (fan_in + fan_out))),
    "he": ("normal", lambda fan_in, fan_out: math.sqrt(2.0 / fan_in)),
    "he_uniform": ("uniform", lambda fan_in, fan_out: math.sqrt(6.0 / fan_in)),
    "zeros": ("zeros", lambda fan_in, fan_out: 0.0),
}
INITIALIZER_NAMES = ("gaussian", *_RULES)


def get_initializer(name: str, sigma: float = 0.01) -> Initializer:
    """The initializer called ``name``; ``sigma`` is the standard deviation of 'gaussian'."""
    if name == "gaussian":
        if not (isinstance(sigma, int | float) and sigma > 0 and math.isfinite(sigma)):
            raise ValueError(f"sigma must be a positive number, got {sigma!r}")
        return Initializer("gaussian", "normal", lambda fan_in, fan_out: float(sigma))
    if name not in _RULES:
        raise ValueError(
            f"unknown initializer {name!r}; choose one of {', '.join(INITIALIZER_NAMES)}"
        )
    distribution, rule = _RULES[name]
    return Initializer(name, distribution, rule)


def resolve_initializer(initializer: Callable[..., np.ndarray] | str | None) -> Callable:
    """A layer's ``initializer`` argument as a callable: None means He-normal, a str is a name."""
    if initializer is None:
        return get_initializer("he")
    if isinstance(initializer, str):
        return get_initializer(initializer)
    if not callable(initializer):
        raise ValueError(f"initializer must be a name or a callable, got {initializer!r}")
    return initializer
