"""Input normalization: fitted on the training split, stored in the checkpoint, applied everywhere.

Training, ``conv1d eval``, prediction and the ONNX exporter all call ``apply_normalization`` with
the statistics ``fit_normalization`` returned, so a network always sees its inputs the same way.

The statistics are a JSON-safe dict ``{"method", "shift": [C], "scale": [C]}``:

- ``scale``: ``x' = (x - shift[c]) / scale[c]``; 8-bit images divide by their value range (255),
  other data by the training split's per-channel min (shift) and max - min (scale).
- ``standardize``: the same formula with the training split's per-channel mean and population
  std over (N, L).
- ``none``: shift 0, scale 1 (the data passes unchanged, as float32).
- ``per_sample`` (the UCR/UEA archive convention): no fitted numbers (shift 0, scale 1 are stored
  only so the channel count is checked). Each sample n and channel c is z-normalised on its own
  over the length axis, computed in float64::

      mean = x[n, c, :].mean()                  # over the L positions
      std  = sqrt(((x[n, c, :] - mean) ** 2).mean())   # population std, ddof = 0
      std  = 1 if std == 0 else std             # a constant series becomes all zeros
      x'[n, c, :] = float32((x[n, c, :] - mean) / std)

  Series of unequal length are padded at the end before this (the padding takes part in mean
  and std), so the same padded input gives the same numbers at training and predict time.

A scale of 0 (a constant channel) is stored as 1. ``auto`` is resolved by ``resolve_method``
before fitting and is never stored: checkpoints hold ``scale``, ``standardize``, ``per_sample``
or ``none``, so old checkpoints (scale/standardize/none) load unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

METHODS = ("scale", "standardize", "per_sample", "none")


def resolve_method(method: str, value_range: float | None) -> str:
    """``auto`` -> ``scale`` for data with a known value range (8-bit images), else standardize."""
    if method == "auto":
        return "scale" if value_range is not None else "standardize"
    return method


def fit_normalization(
    method: str, x_train: np.ndarray, value_range: float | None = None
) -> dict[str, Any]:
    """Per-channel statistics of x_train (N, C, L) for ``method`` (``auto`` is resolved first).

    ``value_range`` is the largest possible raw value when the source knows it (255 for 8-bit
    images): ``scale`` then needs no data.
    """
    method = resolve_method(method, value_range)
    if method not in METHODS:
        raise ValueError(f"unknown normalization {method!r}; allowed: auto, {', '.join(METHODS)}")
    channels = x_train.shape[1]
    shift, scale = np.zeros(channels), np.ones(channels)
    if method == "scale":
        if value_range is not None:
            scale = np.full(channels, float(value_range))
        elif len(x_train):
            shift = x_train.min(axis=(0, 2)).astype(np.float64)
            scale = x_train.max(axis=(0, 2)).astype(np.float64) - shift
    elif method == "standardize" and len(x_train):
        shift = x_train.mean(axis=(0, 2), dtype=np.float64)
        scale = x_train.std(axis=(0, 2), dtype=np.float64)
    scale = np.where(scale > 0, scale, 1.0)  # a constant channel stays as it is
    return {"method": method, "shift": shift.tolist(), "scale": scale.tolist()}


def stat_arrays(stats: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The stored shift and scale as (C,) float32 arrays."""
    return (
        np.asarray(stats["shift"], dtype=np.float32),
        np.asarray(stats["scale"], dtype=np.float32),
    )


def apply_normalization(x: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """x (N, C, L) numeric -> float32 (N, C, L) normalized as ``stats`` says (see the module)."""
    if stats["method"] == "per_sample":
        return per_sample(x)
    shift, scale = stat_arrays(stats)
    # float32 for 8-bit and float32 data (shift is float32), float64 for float64 data; one
    # full-size allocation instead of three (a 60,000-image split made two 188 MB temporaries).
    out = x - shift[None, :, None]
    np.divide(out, scale[None, :, None], out=out)
    return out.astype(np.float32, copy=False)


def per_sample(x: np.ndarray) -> np.ndarray:
    """Each sample and channel of x (N, C, L) z-normalised over L in float64 -> float32."""
    x64 = np.asarray(x, dtype=np.float64)
    mean = x64.mean(axis=2, keepdims=True)
    centred = x64 - mean
    std = np.sqrt(np.mean(centred * centred, axis=2, keepdims=True))
    np.divide(centred, np.where(std > 0, std, 1.0), out=centred)
    return centred.astype(np.float32)


def raw_zero(stats: dict[str, Any]) -> np.ndarray:
    """(C,) float32: where a raw 0 lands after normalization (the fill of shifted-in positions).

    Under ``per_sample`` each series has its own shift; its mean (0 after normalization) is used.
    """
    shift, scale = stat_arrays(stats)
    if stats["method"] == "per_sample":
        return np.zeros_like(shift)
    return ((0.0 - shift) / scale).astype(np.float32)
