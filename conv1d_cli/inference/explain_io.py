"""``conv1d explain`` and ``conv1d show``: read the samples, explain or show, write a folder.

INPUT is read the way ``conv1d predict`` reads it (inference/inputs.py: labels included, so a
picture can name the true class). Everything is checked (indices, --target, --layer, --method)
before the output folder is made; a folder that exists and is not empty is refused unless
``force``, and every file is written atomically (rundir/atomic.py).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.errors import Conv1dError, DataError
from conv1d_cli.inference import explain_plots as plots
from conv1d_cli.inference.explain import (
    METHODS,
    default_layer,
    explain_samples,
    feature_maps,
    find_layer,
    named_layers,
    target_index,
)
from conv1d_cli.inference.inputs import read_predict_input
from conv1d_cli.inference.load import LoadedModel, load_model, softmax
from conv1d_cli.nn import Conv1d
from conv1d_cli.rundir.atomic import atomic_write_bytes, write_json
from conv1d_cli.training.report import save_figure

MAX_PICTURES = 16  # sample pictures per call; attributions.npy holds every explained sample


@dataclass
class Written:
    """What a command wrote into ``out``, for its last lines."""

    out: Path
    files: list[str] = field(default_factory=list)
    note: str = ""


def check_out(out: Path, force: bool) -> None:
    """Refuse an --out that is a file, or a folder with something in it (unless ``force``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise Conv1dError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise Conv1dError(
            f"--out {out} exists and is not empty; choose another folder or add --force to "
            "write into it"
        )


def _make_out(out: Path) -> Path:
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Conv1dError(f"--out {out}: cannot make the folder: {exc.strerror}") from None
    return Path(out)


def read_samples(
    loaded: LoadedModel, input_path: Path, indices: list[int] | None
) -> tuple[np.ndarray, list[int], list[str] | None, str]:
    """(raw samples (n, C, L), their indices, true class names or None, the input's name).

    Only the requested samples are kept while the input is read batch by batch."""
    source = read_predict_input(
        input_path, loaded.config.data, loaded.input_shape, padded=loaded.padded
    )
    if indices is not None:
        bad = [i for i in indices if not 0 <= i < source.n]
        if bad:
            raise DataError(
                f"--index {bad[0]}: out of range; {source.origin} has {source.n} samples "
                f"(0..{source.n - 1})"
            )
    wanted = list(range(source.n)) if indices is None else list(indices)
    distinct = np.unique(np.asarray(wanted, dtype=np.int64))
    picked: dict[int, tuple[np.ndarray, Any]] = {}
    done = 0
    for x, labels in source.batches(loaded.batch_size):
        x = loaded.as_samples(x, source.origin)
        here = distinct[np.searchsorted(distinct, done) : np.searchsorted(distinct, done + len(x))]
        for i in here.tolist():
            picked[i] = (np.array(x[i - done]), None if labels is None else labels[i - done])
        done += len(x)
    if not wanted:
        raise DataError(f"{source.origin}: no samples to explain")
    x = np.stack([picked[i][0] for i in wanted])
    labels = [picked[i][1] for i in wanted]
    truth = None
    if all(label is not None for label in labels) and not loaded.unknown_labels(np.array(labels)):
        names = loaded.classes_[loaded.label_indices(np.array(labels), source.origin)]
        truth = [str(name) for name in names]
    return x, wanted, truth, source.origin


def _save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def explain_file(
    target: Path,
    input_path: Path,
    out: Path,
    *,
    indices: list[int] | None = None,
    target_class: str | None = None,
    method: str = "gradcam",
    layer: str | None = None,
    force: bool = False,
) -> Written:
    """``conv1d explain``: attributions.npy (N, C, L), explain.json, a picture per sample (the
    first MAX_PICTURES) and classes.png (the mean per predicted class) in ``out``."""
    check_out(out, force)
    if method not in METHODS:
        raise Conv1dError(f"--method {method}: allowed methods: {', '.join(METHODS)}")
    if layer is not None and method != "gradcam":
        raise Conv1dError(f"--layer is for --method gradcam; {method} explains the input itself")
    loaded = load_model(target)
    shape = loaded.input_shape
    explained = target_index(loaded.class_names, target_class)
    where = ""
    if method == "gradcam":
        entry = default_layer(loaded.model, shape) if layer is None else find_layer(
            loaded.model, shape, layer
        )  # fmt: skip
        layer, where = entry.path, f" at layer {entry.path} ({entry.kind})"
    x, wanted, truth, origin = read_samples(loaded, input_path, indices)
    attributions, logits = explain_samples(loaded, x, method, target=explained, layer=layer)
    probs = softmax(logits.astype(np.float64))
    predicted = np.argmax(probs, axis=1)
    targets = predicted if explained is None else np.full(len(x), explained)
    names = [str(name) for name in loaded.class_names]
    out = _make_out(out)
    written = Written(out)
    _save_npy(out / "attributions.npy", attributions)
    write_json(
        out / "explain.json",
        {
            "checkpoint": str(loaded.checkpoint),
            "input": origin,
            "method": method,
            "layer": layer if method == "gradcam" else None,
            "explained": "predicted class" if explained is None else names[explained],
            "samples": [
                {
                    "index": index,
                    "predicted": names[predicted[row]],
                    "probability": float(probs[row, predicted[row]]),
                    "true": None if truth is None else truth[row],
                    "explained_class": names[targets[row]],
                }
                for row, index in enumerate(wanted)
            ],
        },
    )
    written.files += ["attributions.npy", "explain.json"]
    for row, index in enumerate(wanted[:MAX_PICTURES]):
        title = (
            f"sample {index}: predicted {names[predicted[row]]} ({probs[row, predicted[row]]:.2f})"
            + ("" if truth is None else f", true {truth[row]}")
            + f"; {method}{where} for {names[targets[row]]}"
        )
        name = f"sample-{index}.png"
        save_figure(plots.sample_figure(x[row], attributions[row], title), out / name)
        written.files.append(name)
    title = f"mean {method}{where} per predicted class ({origin})"
    figure = plots.class_figure(x, attributions, predicted, names, title)
    save_figure(figure, out / "classes.png")
    written.files.append("classes.png")
    if len(wanted) > MAX_PICTURES:
        written.note = f"pictures of the first {MAX_PICTURES} of {len(wanted)} samples"
    plots.pyplot().close("all")
    return written


def first_conv(loaded: LoadedModel) -> str:
    """The path of the network's first convolution (what ``show`` draws by default)."""
    for entry in named_layers(loaded.model, loaded.input_shape):
        if isinstance(entry.layer, Conv1d):
            return entry.path
    raise Conv1dError("the network has no conv1d layer to show")


def show_run(
    target: Path,
    out: Path,
    *,
    layer: str | None = None,
    input_path: Path | None = None,
    index: int | None = None,
    force: bool = False,
) -> Written:
    """``conv1d show``: kernels.png (a conv layer's filters) and, with an input, one sample's
    feature maps at that layer's output (feature-maps.png), in ``out``."""
    check_out(out, force)
    if index is not None and input_path is None:
        raise Conv1dError("--index needs --input FILE (the sample's file)")
    loaded = load_model(target)
    path = first_conv(loaded) if layer is None else layer
    entry = find_layer(loaded.model, loaded.input_shape, path, need="conv")
    sample = None
    if input_path is not None:
        x, _, truth, origin = read_samples(loaded, input_path, [0 if index is None else index])
        maps = feature_maps(loaded.model, loaded.normalize(x), entry.path)[0]
        true = "" if truth is None else f", true {truth[0]}"
        sample = (x[0], maps, f"sample {0 if index is None else index} of {origin}{true}")
    out = _make_out(out)
    written = Written(out)
    weights = np.asarray(entry.layer.params["W"], dtype=np.float64)
    title = f"layer {entry.path}: {entry.layer!r}, {weights.shape[0]} filters"
    save_figure(plots.kernels_figure(weights, title), out / "kernels.png")
    written.files.append("kernels.png")
    if sample is not None:
        series, maps, where = sample
        title = f"layer {entry.path} output {maps.shape} for {where}"
        save_figure(plots.feature_maps_figure(series, maps, title), out / "feature-maps.png")
        written.files.append("feature-maps.png")
    plots.pyplot().close("all")
    return written


def describe(written: Written) -> str:
    """The command's last line: what was written where."""
    note = f" ({written.note})" if written.note else ""
    return f"wrote {len(written.files)} files to {written.out}: {', '.join(written.files[:6])}" + (
        ", ..." if len(written.files) > 6 else ""
    ) + note  # fmt: skip


def dump(written: Written) -> str:
    """--json: the folder and its files."""
    return json.dumps({"out": str(written.out), "files": written.files, "note": written.note})
