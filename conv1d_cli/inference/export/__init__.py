"""``conv1d export``: a trained run as an ONNX file, checked against the NumPy engine.

``onnx`` and ``onnxruntime`` are an optional extra (``pip install "conv1d-cli[onnx]"``),
imported only here, when an export runs. ``onnx_export`` builds the graph (one emitter per layer
kind); this module runs the export and checks the graph in onnxruntime against the engine.
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
    max_prob_diff: float  # |onnxruntime - NumPy engine| on CHECK_SAMPLES raw samples
    n_checked: int


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


def onnx_probabilities(model_bytes: bytes, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, logits) of raw float32 samples x (N, C, L) from onnxruntime."""
    _, ort = require_onnx()
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    probs, logits = session.run(["probabilities", "logits"], {"input": x.astype(np.float32)})
    return probs, logits


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


def export_onnx(target: Path, out: Path | None = None, force: bool = False) -> ExportResult:
    """Write the network of ``target`` (run dir or checkpoint) as ONNX, then check it."""
    require_onnx()
    from conv1d_cli.inference.export.onnx_export import OPSET, build_onnx
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
    probs, _ = onnx_probabilities(data, x)
    diff = float(np.max(np.abs(probs - loaded.predict_proba(x))))
    run_dir = run_dir_of(loaded.checkpoint)
    if run_dir is not None and path.parent.resolve() != run_dir.resolve():
        run_dir = None  # written elsewhere: the run is not touched
    with run_dir_lock(run_dir, "conv1d export"):  # one writer per run, as for eval
        if path.exists() and not force:  # checked again: another process may have written it
            raise Conv1dError(f"{path} exists; choose another --out or add --force to replace it")
        atomic_write_bytes(path, data)
    return ExportResult(path, loaded.checkpoint, OPSET, diff, len(x))
