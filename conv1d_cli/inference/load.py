"""One inference path: a checkpoint -> network, normalization, class or target names, input shape.

``conv1d eval``, ``conv1d predict``, the ONNX export's check and the scikit-learn estimator all
go through ``LoadedModel``: raw samples are normalized with the statistics the checkpoint stores
(the same arithmetic as training's data pipeline), then run through the network in eval mode in
batches whose activations stay under ``ACTIVATION_BUDGET_BYTES``, so memory does not grow with
the input (a memory-mapped ``.npy`` is read batch by batch).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conv1d_cli.errors import Conv1dError, DataError

# Largest single activation (one layer's output for one batch) inference lets a batch reach; a
# long sequence gets a smaller batch instead of gigabytes of activations.
ACTIVATION_BUDGET_BYTES = 64 * 2**20


def normalize_samples(x: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """Raw samples (N, C, L) -> float32 (N, C, L), normalized exactly as training normalized
    them: the data pipeline's own ``apply_normalization`` with the checkpoint's statistics."""
    from conv1d_cli.data.normalization import apply_normalization

    channels = np.shape(stats["shift"])[0] if "shift" in stats else x.shape[1]
    if channels != x.shape[1]:
        raise DataError(
            f"the stored normalization has {channels} channels but the samples have {x.shape[1]}"
        )
    return apply_normalization(x, stats)


def softmax(logits: np.ndarray) -> np.ndarray:
    """(N, K) logits -> (N, K) probabilities; the shifted exponent never overflows."""
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


@dataclass
class LoadedModel:
    """A trained network ready to predict: ``predict``, ``predict_proba``, ``classes_``; a
    regression network's ``predict`` answers numbers in the targets' units (``target_names``).

    ``input_shape`` is one sample's (channels, length); inputs may be (N, channels, length), or
    any (N, ...) whose samples hold channels * length values (read in C order, as ``data.view``
    reads them in training), or (N, length) for one channel.
    """

    model: Any  # the engine's Sequential, kept in eval mode
    config: Any  # the resolved Config the network was trained with
    class_names: tuple[str, ...]
    input_shape: tuple[int, int]
    normalization: dict[str, Any]
    checkpoint: Path | None = None
    epoch: int | None = None
    meta: dict[str, Any] = field(default_factory=dict, repr=False)
    task: str = "classification"  # a key of conv1d_cli.task.TASKS
    target_names: tuple[str, ...] = ()  # regression: one name per output
    # Regression: {"mean": [K], "std": [K]}; outputs * std + mean are in the targets' units.
    target_scaling: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        from conv1d_cli.inference.fastpath import InferenceRunner

        self.model.eval()
        self.dtype = np.dtype(self.config.train.dtype)
        self.runner = InferenceRunner(self.model, self.input_shape)

    @property
    def classes_(self) -> np.ndarray:
        """The class names, index i = column i of ``predict_proba``."""
        return np.asarray(self.class_names)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def regression(self) -> bool:
        """Whether the network predicts numbers (``target_names``) rather than classes."""
        return self.task == "regression"

    @property
    def output_names(self) -> tuple[str, ...]:
        """One name per network output: the class names, or the regression target names."""
        return self.target_names if self.regression else self.class_names

    @property
    def n_outputs(self) -> int:
        """K, the network's output width: classes, or regression targets."""
        return len(self.output_names)

    @property
    def padded(self) -> bool:
        """Whether the run was trained on unequal-length series padded to one length (then
        shorter inputs may be padded too). Checkpoints from before this was stored: False."""
        data = self.meta.get("data") if isinstance(self.meta, dict) else None
        return isinstance(data, dict) and data.get("padded") is True

    @property
    def batch_size(self) -> int:
        """The config's eval batch, made smaller when one layer's output would pass the budget."""
        largest = max(
            [math.prod(self.input_shape)]
            + [math.prod(row.output_shape) for row in self.model.summary(self.input_shape)]
        )
        fits = max(1, ACTIVATION_BUDGET_BYTES // (largest * self.dtype.itemsize))
        return int(min(self.config.train.eval_batch_size, fits))

    # ----------------------------------------------------------------------------- inputs
    def as_samples(self, x: Any, origin: str = "the input") -> np.ndarray:
        """x (N, ...) -> a (N, C, L) view of it (no copy, memory maps stay mapped), or a
        DataError naming the expected (channels, length)."""
        # A mapped split (data/mapped.py) stays one: its slices are read batch by batch.
        x = x if isinstance(x, np.ndarray) or getattr(x, "read_by_batch", False) else np.asarray(x)
        channels, length = self.input_shape
        sample = tuple(int(v) for v in x.shape[1:])
        if x.ndim < 2 or math.prod(sample) != channels * length:
            got = f"samples of shape {sample}" if x.ndim >= 2 else f"an array of shape {x.shape}"
            raise DataError(
                f"{origin}: {got} do not fit the network, which expects (channels, length) = "
                f"({channels}, {length}) per sample, as (N, {channels}, {length})"
            )
        if x.dtype.kind not in "biuf":
            raise DataError(f"{origin}: samples must be numbers, found dtype {x.dtype}")
        return x.reshape(len(x), channels, length)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Raw (N, C, L) samples -> normalized samples in the network's dtype."""
        out = normalize_samples(x, self.normalization)
        return out.astype(self.dtype, copy=False)

    # -------------------------------------------------------------------------- predictions
    def iter_logits(
        self,
        x: Any,
        batch_size: int | None = None,
        *,
        normalized: bool = False,
        origin: str = "the input",
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(start, logits (n, K)) batch by batch; only one batch of x is ever read at once."""
        samples = self.as_samples(x, origin)
        size = batch_size or self.batch_size
        for start in range(0, len(samples), size):
            batch = samples[start : start + size]
            yield start, self.forward_batch(batch, normalized=normalized, origin=origin, at=start)

    def forward_batch(
        self, x: Any, *, normalized: bool = False, origin: str = "the input", at: int = 0
    ) -> np.ndarray:
        """Logits (n, K) of one batch of samples (read into memory whole); ``at`` is the index
        of its first sample in the input, for messages."""
        batch = np.asarray(self.as_samples(x, origin))
        if not normalized:
            _check_finite(batch, origin, at)
            batch = self.normalize(batch)
        return self.runner.logits(batch.astype(self.dtype, copy=False))

    def logits(self, x: Any, batch_size: int | None = None, *, normalized: bool = False):
        """(N, K) network outputs for raw (or, with ``normalized``, already normalized) x:
        logits, or standardized regression values (``values`` turns them into the targets')."""
        out = np.empty((len(x), self.n_outputs), dtype=self.dtype)
        for start, part in self.iter_logits(x, batch_size, normalized=normalized):
            out[start : start + len(part)] = part
        return out

    def values(self, outputs: np.ndarray) -> np.ndarray:
        """A regression network's outputs (N, K) -> (N, K) float64 in the targets' units."""
        from conv1d_cli.task.regression import destandardize

        if not self.regression or self.target_scaling is None:
            raise Conv1dError(f"{self._what()} predicts classes, not numbers")
        return destandardize(outputs, self.target_scaling)

    def predict_proba(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """(N, K) class probabilities of raw samples x (classification networks only)."""
        if self.regression:
            raise Conv1dError(
                f"{self._what()} is a regression network: it predicts numbers "
                f"({', '.join(self.target_names)}), not class probabilities; use predict"
            )
        return softmax(self.logits(x, batch_size))

    def predict(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """Raw samples x -> (N,) predicted class names; regression: (N,) float64 values in
        the target's units, (N, K) for K targets (columns in ``target_names`` order)."""
        outputs = self.logits(x, batch_size)
        if self.regression:
            values = self.values(outputs)
            return values[:, 0] if values.shape[1] == 1 else values
        return self.classes_[np.argmax(outputs, axis=1)]

    def _what(self) -> str:
        return str(self.checkpoint) if self.checkpoint is not None else "this network"

    def explain(
        self, x: Any, method: str = "gradcam", *, target: str | int | None = None,
        layer: str | None = None,
    ) -> np.ndarray:  # fmt: skip
        """Raw samples x (N, ...) -> (N, C, L) attributions of each one's predicted class (or
        ``target``): "gradcam" or "input-x-gradient" (inference/explain.py)."""
        from conv1d_cli.inference.explain import explain_samples

        return explain_samples(self, x, method, target=target, layer=layer)[0]

    def label_indices(self, labels: np.ndarray, origin: str = "the input") -> np.ndarray:
        """Labels (names or class indices) -> (N,) int64 class indices, or a DataError."""
        return label_indices(labels, self.class_names, origin)

    def unknown_labels(self, labels: np.ndarray) -> list[Any]:
        """The distinct labels that are not classes of the network (by ``label_indices``' rule)."""
        return unknown_labels(labels, self.class_names)


def _check_finite(batch: np.ndarray, origin: str, start: int) -> None:
    if batch.dtype.kind == "f" and not np.isfinite(batch).all():
        bad = ~np.isfinite(batch.reshape(len(batch), -1)).all(axis=1)
        raise DataError(
            f"{origin}: sample {start + int(np.argmax(bad))} holds NaN or infinite values; "
            "clean the data first"
        )


def unknown_labels(labels: np.ndarray, class_names: Sequence[str]) -> list[Any]:
    """Distinct labels (sorted) ``label_indices`` cannot map: all of them match a class name,
    or all are integers 0..K-1 (class indices), or the ones that match no name are unknown."""
    values = np.unique(np.asarray(labels))
    known = {str(name) for name in class_names}
    by_name = [v for v in values.tolist() if str(v) not in known]
    if not by_name:
        return []
    if values.dtype.kind in "iu" and values[0] >= 0 and values[-1] < len(class_names):
        return []
    return by_name


def label_indices(labels: np.ndarray, class_names: Sequence[str], origin: str) -> np.ndarray:
    """Labels as int64 indices into ``class_names``: by name, or integers as class indices."""
    labels = np.asarray(labels)
    lookup = {name: i for i, name in enumerate(class_names)}
    values, inverse = np.unique(labels, return_inverse=True)
    names = [str(v) for v in values.tolist()]
    if all(name in lookup for name in names):
        indices = np.array([lookup[name] for name in names], dtype=np.int64)
        return indices[inverse.reshape(-1)]
    if values.dtype.kind in "iu" and len(values) and values[0] >= 0 and values[-1] < len(lookup):
        return labels.astype(np.int64)
    raise DataError(
        unknown_labels_message(origin, unknown_labels(labels, class_names), class_names)
    )


def unknown_labels_message(origin: str, unknown: Sequence[Any], class_names: Sequence[str]) -> str:
    """One line naming (a few of) the labels that are not classes, and the classes."""
    from conv1d_cli.data.prepare import some

    these = f"label {unknown[0]!r} is" if len(unknown) == 1 else f"labels {some(unknown)} are"
    among = "one of" if len(unknown) == 1 else "among"
    names = [str(name) for name in class_names]
    classes = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
    return f"{origin}: {these} not {among} the network's classes ({classes})"


def load_model(target: str | Path, which: str = "best") -> LoadedModel:
    """A run directory (its ``best`` checkpoint) or a checkpoint file -> a LoadedModel.

    The file is checked before anything is built (``build/checkpoint_check.py``): its config
    against its tensors' shapes, then the memory for loading it.
    """
    from conv1d_cli.build.checkpoint_check import check_checkpoint
    from conv1d_cli.build.objects import build_model
    from conv1d_cli.rundir.checkpoints import load_checkpoint, load_weights, resolve_checkpoint

    path = resolve_checkpoint(Path(target), which)
    checked = check_checkpoint(path)
    checkpoint = load_checkpoint(path, checked.header)
    cfg, shape, names = checked.config, checked.sample_shape, checked.class_names
    rng = np.random.default_rng(cfg.seed)
    model = build_model(cfg.model, shape, checked.n_outputs, rng, cfg.train.dtype)
    load_weights(model, checkpoint)
    return LoadedModel(
        model,
        cfg,
        names,
        shape,
        checked.normalization,
        path,
        checkpoint.meta.get("epoch"),
        checkpoint.meta,
        checked.task,
        checked.target_names,
        checked.target_scaling,
    )
