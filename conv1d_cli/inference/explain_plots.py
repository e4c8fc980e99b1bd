"""The pictures of ``conv1d explain`` and ``conv1d show``, as matplotlib figures.

Attributions are drawn as a colour band behind the series they explain, on a diverging scale
centred on zero (red: evidence for the explained class, blue: against), one row per channel.
Every function returns a figure; the caller saves it with ``training.report.save_figure``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from conv1d_cli.training.report import pyplot

MAX_CHANNELS = 8  # rows of one picture; more channels are summarised in the title
MAX_KERNELS = 64  # filters drawn by show; the rest are counted in the title
CMAP = "RdBu_r"


def _band(ax: Any, series: np.ndarray, attribution: np.ndarray, limit: float) -> Any:
    """One channel: the series (L,) as a line over its attribution (L,) as a colour band."""
    low, high = float(np.min(series)), float(np.max(series))
    pad = 0.05 * (high - low or 1.0)
    image = ax.imshow(
        attribution[None, :],
        aspect="auto",
        cmap=CMAP,
        vmin=-limit,
        vmax=limit,
        extent=(-0.5, len(series) - 0.5, low - pad, high + pad),
        interpolation="nearest",
    )
    ax.plot(np.arange(len(series)), series, color="black", linewidth=0.9)
    ax.set_xlim(-0.5, len(series) - 0.5)
    return image


def _limit(attribution: np.ndarray) -> float:
    top = float(np.max(np.abs(attribution))) if attribution.size else 0.0
    return top if top > 0 and np.isfinite(top) else 1.0


def sample_figure(series: np.ndarray, attribution: np.ndarray, title: str) -> Any:
    """One sample: series (C, L) raw and attribution (C, L); channels stacked, shared colour."""
    plt = pyplot()
    shown = min(len(series), MAX_CHANNELS)
    fig, axes = plt.subplots(shown, 1, figsize=(8, 1.2 + 1.1 * shown), sharex=True, squeeze=False)
    limit = _limit(attribution[:shown])
    for channel in range(shown):
        ax = axes[channel, 0]
        image = _band(ax, series[channel], attribution[channel], limit)
        ax.set_ylabel(f"ch {channel}")
    axes[-1, 0].set_xlabel("time step")
    more = f" (first {shown} of {len(series)} channels)" if shown < len(series) else ""
    fig.suptitle(title + more, fontsize=10)
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="attribution", shrink=0.9)
    return fig


def class_figure(
    series: np.ndarray,
    attributions: np.ndarray,
    groups: np.ndarray,
    class_names: Sequence[str],
    title: str,
) -> Any:
    """Per class (by ``groups``, (N,) class indices): the mean series (each channel a line) over
    the mean attribution summed over channels as a band; a row per class that has samples."""
    plt = pyplot()
    present = [k for k in range(len(class_names)) if np.any(groups == k)]
    fig, axes = plt.subplots(
        max(1, len(present)), 1, figsize=(8, 1.2 + 1.2 * len(present)), sharex=True, squeeze=False
    )
    bands = {k: attributions[groups == k].sum(axis=1).mean(axis=0) for k in present}
    limit = _limit(np.array(list(bands.values()))) if bands else 1.0
    image = None
    for row, k in enumerate(present):
        ax = axes[row, 0]
        mean = series[groups == k].mean(axis=0)  # (C, L)
        image = _band(ax, mean[0], bands[k], limit)
        for channel in range(1, min(len(mean), MAX_CHANNELS)):
            ax.plot(np.arange(mean.shape[1]), mean[channel], linewidth=0.9)
        ax.set_ylabel(f"{class_names[k]}\n(n={int(np.sum(groups == k))})", fontsize=8)
    axes[-1, 0].set_xlabel("time step")
    fig.suptitle(title, fontsize=10)
    if image is not None:
        fig.colorbar(image, ax=axes[:, 0].tolist(), label="mean attribution", shrink=0.9)
    return fig


def kernels_figure(weights: np.ndarray, title: str) -> Any:
    """A conv layer's W (C_out, C_in, K): one panel per filter, a line per input channel (up
    to 4; more as an image of input channels x taps)."""
    plt = pyplot()
    c_out, c_in, k = weights.shape
    shown = min(c_out, MAX_KERNELS)
    cols = min(8, shown)
    rows = -(-shown // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.3 * rows + 0.6), squeeze=False)
    limit = _limit(weights[:shown])
    for index, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if index >= shown:
            ax.axis("off")
            continue
        if c_in <= 4:
            for channel in range(c_in):
                ax.plot(np.arange(k), weights[index, channel], marker=".", linewidth=0.9)
            ax.axhline(0, color="grey", linewidth=0.5)
            ax.set_ylim(-1.1 * limit, 1.1 * limit)
        else:
            ax.imshow(weights[index], aspect="auto", cmap=CMAP, vmin=-limit, vmax=limit)
        ax.set_title(str(index), fontsize=7, pad=2)
    more = f" (first {shown} of {c_out} filters)" if shown < c_out else ""
    fig.suptitle(title + more, fontsize=10)
    return fig


def feature_maps_figure(series: np.ndarray, maps: np.ndarray, title: str) -> Any:
    """One sample's input (C, L) above a layer's output (K, L') as channels x time, both on the
    input's time axis (a shorter output is stretched over it)."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 2.2 + min(4.0, 0.12 * len(maps))), sharex=True,
        gridspec_kw={"height_ratios": [1, 2]},
    )  # fmt: skip
    length = series.shape[1]
    for channel in range(min(len(series), MAX_CHANNELS)):
        top.plot(np.arange(length), series[channel], linewidth=0.9)
    top.set_ylabel("input")
    top.set_xlim(-0.5, length - 0.5)
    limit = _limit(maps)
    image = bottom.imshow(
        maps,
        aspect="auto",
        cmap=CMAP,
        vmin=-limit,
        vmax=limit,
        extent=(-0.5, length - 0.5, len(maps) - 0.5, -0.5),
        interpolation="nearest",
    )
    bottom.set_ylabel("output channel")
    bottom.set_xlabel("time step (input)")
    fig.suptitle(title, fontsize=10)
    fig.colorbar(image, ax=bottom, label="activation")
    return fig
