"""Regression: standardized targets, mse / mae / huber losses, RMSE, MAE and R^2.

The network learns targets standardized with the training split's mean and std (stored in the
checkpoint), so one learning rate suits targets of any unit; every number a user sees (metrics,
predictions, the ONNX output) is back in the original units.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conv1d_cli.task.base import Task


def fit_target_scaling(y: np.ndarray) -> dict[str, list[float]]:
    """{"mean": [K], "std": [K]} of training targets y (N, K); a constant target keeps std 1."""
    y = np.asarray(y, dtype=np.float64)
    mean = y.mean(axis=0) if len(y) else np.zeros(y.shape[1])
    std = y.std(axis=0) if len(y) else np.ones(y.shape[1])
    std = np.where(std > 0, std, 1.0)
    return {"mean": mean.tolist(), "std": std.tolist()}


def standardize(y: np.ndarray, scaling: dict[str, Any]) -> np.ndarray:
    """Targets y (N, K) in original units -> (N, K) float32 standardized."""
    mean, std = np.asarray(scaling["mean"]), np.asarray(scaling["std"])
    return ((np.asarray(y, dtype=np.float64) - mean) / std).astype(np.float32)


def destandardize(outputs: np.ndarray, scaling: dict[str, Any]) -> np.ndarray:
    """Network outputs (N, K) -> (N, K) in the targets' original units (float64)."""
    mean, std = np.asarray(scaling["mean"]), np.asarray(scaling["std"])
    return np.asarray(outputs, dtype=np.float64) * std + mean


class Regression(Task):
    name = "regression"
    metrics = ("rmse", "mae", "r2")
    losses = ("mse", "mae", "huber")
    picture = "predictions.png"

    def tally(
        self, outputs: np.ndarray, y: np.ndarray, scaling: dict[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        """outputs, y (B, K) standardized -> per-output sums (K,) of squared and absolute
        errors and of the targets and their squares (R^2 needs the split's own variance)."""
        y = np.asarray(y, dtype=np.float64)
        error = np.asarray(outputs, dtype=np.float64) - y
        return {
            "sse": (error**2).sum(axis=0),
            "sae": np.abs(error).sum(axis=0),
            "sy": y.sum(axis=0),
            "syy": (y**2).sum(axis=0),
        }

    def per_output(
        self, tally: dict[str, Any], n: int, scaling: dict[str, Any]
    ) -> dict[str, np.ndarray]:
        """{"rmse", "mae", "r2"}: (K,) per output, RMSE and MAE in the targets' units, from the
        summed tally of n > 0 samples; R^2 is NaN for an output whose targets do not vary."""
        std = np.asarray(scaling["std"], dtype=np.float64)
        sse, sae = np.asarray(tally["sse"]), np.asarray(tally["sae"])
        sy, syy = np.asarray(tally["sy"]), np.asarray(tally["syy"])
        # Sums of standardized values are O(n): no catastrophic cancellation in syy - sy^2/n.
        total = syy - sy**2 / n
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(total > 1e-12 * n, 1.0 - sse / total, np.nan)
        return {"rmse": np.sqrt(sse / n) * std, "mae": sae / n * std, "r2": r2}

    def scores(
        self, tally: dict[str, Any], n: int, scaling: dict[str, Any] | None
    ) -> dict[str, float]:
        """RMSE and MAE in the targets' units and R^2, each averaged over the K outputs
        (scikit-learn's ``multioutput="uniform_average"``)."""
        if n == 0 or scaling is None:
            return dict.fromkeys(self.metrics, float("nan"))
        return {name: float(np.mean(v)) for name, v in self.per_output(tally, n, scaling).items()}

    def eval_report(
        self, outputs: np.ndarray, y: np.ndarray, scaling: dict[str, Any] | None,
        names: tuple[str, ...],
    ) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """outputs, y (N, K) standardized -> RMSE, MAE, R^2 averaged over the outputs, and the
        same per output (in each target's units) with the target names."""
        if scaling is None:
            raise ValueError("a regression evaluation needs the target scaling")
        tally = self.tally(outputs, y, scaling)
        scores = self.scores(tally, len(y), scaling)
        each = self.per_output(tally, len(y), scaling) if len(y) else {}
        per_output = [
            {"target": name, **{metric: float(each[metric][i]) for metric in self.metrics}}
            for i, name in enumerate(names)
            if each
        ]
        return scores, {"target_names": list(names), "per_output": per_output}

    def headline(self, report: dict[str, Any]) -> str:
        return (
            f"rmse {report['rmse']:.4g}  mae {report['mae']:.4g}  r2 {report['r2']:.4f}  "
            f"loss {report['loss']:.4f}  (n={report['n']})"
        )

    def describe_targets(self, n_outputs: int, names: tuple[str, ...]) -> str:
        if n_outputs == 1:
            return "1 target (regression)"
        return f"{n_outputs} targets (regression: {', '.join(names)})"
