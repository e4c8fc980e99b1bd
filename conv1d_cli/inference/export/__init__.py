"""``conv1d export``: a trained run as an ONNX file, checked against the NumPy engine.

``onnx`` and ``onnxruntime`` are an optional extra (``pip install "conv1d-cli[onnx]"``),
imported only here, when an export runs. ``onnx_export`` builds the graph (one emitter per layer
kind); this module runs the export and checks the graph's first output in onnxruntime against
the engine: a classifier's ``probabilities`` against the engine's, a regression network's
``prediction`` against the engine's outputs de-standardized to the targets' units.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.errors import Conv1dError
from conv1d_cli.inference.load import LoadedModel, load_model

FORMATS = ("onnx",)
INSTALL_HINT = 'ONNX export needs onnx and onnxruntime: pip install "conv1d-cli[onnx]"'
CHECK_SAMPLES = 64


@dataclass
class ExportResult:
    path: Path
    checkpoint: Path
    opset: int
    max_diff: float  # max |onnxruntime - NumPy engine| of outputs[0] on n_checked raw samples
    n_checked: int
    task: str = "classification"
    outputs: tuple[str, ...] = ("probabilities", "logits")  # the graph's outputs, in order
    n_outputs: int = 0  # K: classes or regression targets
    input_shape: tuple[int, int] = (0, 0)  # one sample's (channels, length)
    # Regression: max of |diff| / max(|engine|, the target's training std), elementwise, so a
    # prediction near zero does not make a float32 rounding look large. None for classes.
    max_rel_diff: float | None = None

    @property
    def max_prob_diff(self) -> float:
        """The classifier's name for ``max_diff`` (its key in ``--json``)."""
        return self.max_diff

    def describe_io(self) -> str:
        """'input (batch, C, L) -> probabilities, logits (batch, K)' and the like."""
        channels, length = self.input_shape
        units = " in the targets' units" if self.task == "regression" else ""
        names = ", ".join(self.outputs)
        return f"input (batch, {channels}, {length}) -> {names} (batch, {self.n_outputs}){units}"

    def check_line(self) -> str:
        """One line: which output onnxruntime was compared on, and how closely it agreed."""
        name = self.outputs[0]
        verb = "differ" if name.endswith("s") else "differs"
        line = (
            f"checked with onnxruntime on {self.n_checked} samples: {name} {verb} from the "
            f"NumPy engine by at most {self.max_diff:.1e}"
        )
        if self.max_rel_diff is not None:
            line += f" (relative {self.max_rel_diff:.1e})"
        return line

    def as_json(self) -> dict[str, Any]:
        """What ``conv1d export --json`` prints."""
        payload: dict[str, Any] = {
            "path": str(self.path),
            "checkpoint": str(self.checkpoint),
            "opset": self.opset,
            "task": self.task,
            "outputs": list(self.outputs),
            "n_checked": self.n_checked,
        }
        if self.max_rel_diff is None:
            payload["max_prob_diff"] = self.max_diff
        else:
            payload |= {"max_diff": self.max_diff, "max_rel_diff": self.max_rel_diff}
        return payload


def require_onnx() -> tuple[Any, Any]:
    """(onnx, onnxruntime), or a Conv1dError saying how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise Conv1dError(INSTALL_HINT) from None
    return onnx, onnxruntime


def default_out(loaded: LoadedModel) -> Path:
    """``<run>/model.onnx`` for a run's checkpoint, else the checkpoint's name with .onnx."""
    from conv1d_cli.rundir.layout import run_dir_of

    run_dir = run_dir_of(loaded.checkpoint)
    if run_dir is not None:
        return run_dir / "model.onnx"
    return loaded.checkpoint.with_suffix(".onnx")


def onnx_outputs(model_bytes: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every graph output (name -> (N, K)) of raw float32 samples x (N, C, L), from onnxruntime."""
    _, ort = require_onnx()
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"input": x.astype(np.float32)}), strict=True))


def onnx_probabilities(model_bytes: bytes, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, logits) of raw float32 samples x (N, C, L) from onnxruntime."""
    out = onnx_outputs(model_bytes, x)
    return out["probabilities"], out["logits"]


def onnx_predictions(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """A regression graph's ``prediction`` (N, K) in the targets' units, of raw samples x."""
    return onnx_outputs(model_bytes, x)["prediction"]


def engine_outputs(loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
    """The engine's raw network outputs (N, K) of raw samples x, batch by batch (standardized
    targets for a regression network)."""
    parts = [part for _, part in loaded.iter_logits(x)]
    return np.concatenate(parts) if parts else np.empty((0, 0), dtype=loaded.dtype)


def engine_reference(loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
    """What the graph's first output must equal for raw samples x: class probabilities (N, K),
    or for a regression network predictions (N, K) in the targets' units (float64)."""
    if loaded.task == "regression":
        from conv1d_cli.task.regression import destandardize

        return destandardize(engine_outputs(loaded, x), loaded.target_scaling or {})
    return loaded.predict_proba(x)


def check_samples(loaded: LoadedModel, n: int, seed: int = 0) -> np.ndarray:
    """Raw samples (n, C, L) spread like the training data: shift + scale * N(0, 1) per channel."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *loaded.input_shape))
    stats = loaded.normalization
    if stats.get("method") != "per_sample":
        x = (
            x * np.asarray(stats["scale"])[None, :, None]
            + np.asarray(stats["shift"])[None, :, None]
        )
    return x.astype(np.float32)


def compare_with_engine(
    loaded: LoadedModel, model_bytes: bytes, x: np.ndarray
) -> tuple[str, float, float | None]:
    """(name of the graph's first output, its max |onnxruntime - engine| on raw samples x, and
    for regression that difference relative to max(|prediction|, the target's std))."""
    got = onnx_outputs(model_bytes, x)
    name = next(iter(got))  # the graph's first output
    want = engine_reference(loaded, x)
    error = np.abs(got[name].astype(np.float64) - want)
    diff = float(np.max(error)) if error.size else 0.0
    if loaded.task != "regression":
        return name, diff, None
    std = np.asarray((loaded.target_scaling or {}).get("std", 1.0), dtype=np.float64)
    rel = float(np.max(error / np.maximum(np.abs(want), std))) if error.size else 0.0
    return name, diff, rel


def export_onnx(target: Path, out: Path | None = None, force: bool = False) -> ExportResult:
    """Write the network of ``target`` (run dir or checkpoint) as ONNX, then check it."""
    require_onnx()
    from conv1d_cli.inference.export.onnx_export import OPSET, build_onnx, n_outputs
    from conv1d_cli.rundir.atomic import atomic_write_bytes
    from conv1d_cli.rundir.layout import run_dir_of
    from conv1d_cli.rundir.lock import run_dir_lock

    loaded = load_model(target)
    path = Path(out) if out is not None else default_out(loaded)
    if path.is_dir():
        raise Conv1dError(f"--out {path} is a folder; give a file name such as model.onnx")
    if path.exists() and not force:
        raise Conv1dError(f"{path} exists; choose another --out or add --force to replace it")
    if not path.parent.is_dir():
        raise Conv1dError(f"--out {path}: the folder {path.parent} does not exist")
    try:
        model = build_onnx(loaded)
    except ValueError as exc:
        raise Conv1dError(f"cannot export {loaded.checkpoint} to ONNX: {exc}") from None
    data = model.SerializeToString()
    x = check_samples(loaded, CHECK_SAMPLES)
    _, diff, rel = compare_with_engine(loaded, data, x)
    run_dir = run_dir_of(loaded.checkpoint)
    if run_dir is not None and path.parent.resolve() != run_dir.resolve():
        run_dir = None  # written elsewhere: the run is not touched
    with run_dir_lock(run_dir, "conv1d export"):  # one writer per run, as for eval
        if path.exists() and not force:  # checked again: another process may have written it
            raise Conv1dError(f"{path} exists; choose another --out or add --force to replace it")
        atomic_write_bytes(path, data)
    return ExportResult(
        path,
        loaded.checkpoint,
        OPSET,
        diff,
        len(x),
        loaded.task,
        tuple(o.name for o in model.graph.output),
        n_outputs(loaded),
        (int(loaded.input_shape[0]), int(loaded.input_shape[1])),
        rel,
    )
