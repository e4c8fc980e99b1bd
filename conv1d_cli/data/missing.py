"""Missing values (NaN) in raw series: an error by default, or filled as ``data.missing`` says."""

from __future__ import annotations

import numpy as np

FILL_HINT = "set data.missing: interpolate (or zero) to fill missing values"


def fill_missing(x: np.ndarray, method: str) -> np.ndarray:
    """x (..., L) float with NaNs -> a float64 copy with every NaN filled along the last axis.

    ``interpolate``: linear between the nearest known neighbours of the same series, the ends
    take the nearest known value (a series with no known value becomes zeros); ``zero``: 0.
    """
    out = np.array(x, dtype=np.float64)
    missing = np.isnan(out)
    if not missing.any():
        return out
    if method == "zero":
        out[missing] = 0.0
        return out
    if method != "interpolate":
        raise ValueError(f"unknown fill {method!r}; allowed: interpolate, zero")
    rows = out.reshape(-1, out.shape[-1])
    positions = np.arange(rows.shape[1])
    for r in np.flatnonzero(missing.reshape(rows.shape).any(axis=1)):  # only series with gaps
        known = ~np.isnan(rows[r])
        if not known.any():
            rows[r] = 0.0
            continue
        rows[r] = np.interp(positions, positions[known], rows[r, known])
    return out
