"""``conv1d eval``'s picture of a regression network: predicted against true values, residuals.

One column per output (the first ``MAX_OUTPUTS``): on top the predictions against the targets
with the identity line (a perfect network puts every point on it); below, the residuals
(predicted - true) against the targets, so a trend or a funnel (errors growing with the value)
shows at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from conv1d_cli.training.report import pyplot, save_figure

MAX_OUTPUTS = 6  # more panels than this are unreadable; eval.json holds every output's numbers


def plot_predictions(
    true: np.ndarray, predicted: np.ndarray, names: Sequence[str], path: Path, title: str
) -> None:
    """Targets and predictions (N, K) in the targets' units -> a PNG at ``path``."""
    true = np.asarray(true, dtype=np.float64).reshape(len(true), -1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(len(predicted), -1)
    k = min(true.shape[1], MAX_OUTPUTS)
    plt = pyplot()
    fig, axes = plt.subplots(
        2,
        k,
        figsize=(4.2 * k + 0.6, 6.4),
        squeeze=False,
        gridspec_kw={"height_ratios": [2.2, 1]},
        sharex="col",
    )
    # Fewer points draw bigger and more opaque; thousands stay readable.
    size = float(np.clip(1500 / max(len(true), 1), 4, 30))
    alpha = float(np.clip(60 / max(len(true), 1) ** 0.5, 0.25, 0.85))
    for j in range(k):
        t, p = true[:, j], predicted[:, j]
        top, bottom = axes[0, j], axes[1, j]
        top.scatter(t, p, s=size, alpha=alpha, color="C0", edgecolors="none")
        both = np.concatenate([t, p])
        low, high = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
        pad = (high - low) * 0.05 or 0.5
        line = [low - pad, high + pad]
        top.plot(line, line, color="0.35", linewidth=1, linestyle="--", label="predicted = true")
        top.set_xlim(line)
        top.set_ylim(line)
        top.set_ylabel(f"predicted {names[j]}" if j < len(names) else "predicted")
        top.legend(loc="upper left", fontsize=8, frameon=False)
        top.grid(alpha=0.3)
        residual = p - t
        bottom.scatter(t, residual, s=size, alpha=alpha, color="C1", edgecolors="none")
        bottom.axhline(0.0, color="0.35", linewidth=1, linestyle="--")
        bottom.set_xlabel(f"true {names[j]}" if j < len(names) else "true")
        bottom.set_ylabel("residual (predicted - true)")
        bottom.grid(alpha=0.3)
    if true.shape[1] > k:
        title += f"; first {k} of {true.shape[1]} outputs shown"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
