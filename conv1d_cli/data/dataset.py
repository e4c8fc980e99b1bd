"""What every loader hands the trainer: split float32 arrays and training-time augmentation.

Layout: samples are (N, channels, length) float32; targets are (N,) int64 class indices for
classification and (N, K) float32 standardized values for regression (``target_scaling`` holds
the training split's mean and std that undo it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conv1d_cli.data.prefetch import Prefetched


@dataclass(frozen=True)
class TestSource:
    """Where a reader's test split comes from (or why it has none), for the data line and
    ``summary.json``'s ``test_split``.

    ``source``: "file" (an archive's ``_TEST`` file, IDX t10k files), "arrays" (``x_test`` in
    the same file), "official" (a built-in data set's own split) or "held out" (none: prepare
    holds ``data.test_split`` of ``pool`` out). ``text``: "test split from X_TEST.ts", or for
    "held out" the reason, e.g. "no X_TEST.ts beside X_TRAIN.ts".
    """

    source: str
    text: str
    path: str | None = None
    pool: str = "the data"  # what a held-out split is taken from: "the training file"
    unit: str = "samples"  # "series" for archive files


@dataclass
class RawData:
    """One source's samples before labels, view, splits and normalization are applied.

    ``x_*`` are (N, ...) numeric arrays (8-bit images come flattened to (N, H*W)), ``y_*`` (N,)
    labels (integers or strings). ``x_test`` is None when the data has no official test split.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    origin: str  # where the data came from, for messages: a file, a folder or a package
    class_names: tuple[str, ...] | None = None  # fixed classes (label i is class i); None: free
    image_shape: tuple[int, int] | None = None  # (H, W) for images: shifts are then 2-D
    value_range: float | None = None  # the largest possible raw value (255 for 8-bit images)
    notes: tuple[str, ...] = ()  # what the reader did, for the data line (padding)
    test_source: TestSource | None = None  # None: "official" if x_test is given, else "held out"
    padded_from: tuple[int, int] | None = None  # (shortest, longest) when series were padded
    # "regression" when the file itself says so (.ts @targetLabel true); None: from the targets
    task_hint: str | None = None
    target_names: tuple[str, ...] | None = None  # regression: one name per target column
    # (file, line of each sample) for the training / test labels, so an error about one label
    # names its line; None where the reader does not say.
    train_lines: tuple[str, np.ndarray] | None = None
    test_lines: tuple[str, np.ndarray] | None = None

    def place(self, row: int, test: bool = False) -> str:
        """``FILE:LINE`` of sample ``row``'s label (training or test), else the origin."""
        lines = self.test_lines if test else self.train_lines
        if lines is None or not 0 <= row < len(lines[1]):
            return self.origin
        return f"{lines[0]}:{int(lines[1][row])}"

    def test_origin(self) -> TestSource:
        """``test_source``, or the generic one for a reader that does not say."""
        if self.test_source is not None:
            return self.test_source
        if self.x_test is not None:
            return TestSource("official", f"the official test split of {self.origin}")
        return TestSource("held out", f"{self.origin} has no test split")

    @property
    def sample_shape(self) -> tuple[int, int]:
        """(channels, length) a sample has before any ``view``: (N, L) data is one channel."""
        x = self.x_train if len(self.x_train) or self.x_test is None else self.x_test
        if x.ndim == 3:
            return int(x.shape[1]), int(x.shape[2])
        return 1, int(np.prod(x.shape[1:], dtype=np.int64))


@dataclass
class Dataset:
    """Train/val/test splits ready for the network, plus what eval needs to repeat the recipe."""

    x_train: np.ndarray  # (N_train, C, L) float32
    y_train: np.ndarray  # (N_train,) int64 classes, or (N_train, K) float32 standardized targets
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    normalization: dict[str, Any]  # {"method", "shift": [C], "scale": [C]}: x' = (x - shift)/scale
    description: str
    image_shape: tuple[int, int] | None = None
    shift: int = 0  # augmentation: random shifts of up to this many pixels / samples
    noise: float = 0.0  # augmentation: Gaussian noise standard deviation
    amplitude: float = 0.0  # augmentation: each sample and channel times a factor ~ N(1, amplitude)
    fill: np.ndarray = field(default_factory=lambda: np.zeros(1, np.float32))  # (C,) pad value
    # Where the test split came from: {"source": "file", "path", "n"} or {"source": "held out",
    # "fraction", "n", "reason"} (see TestSource); saved in summary.json and the checkpoint.
    test_split: dict[str, Any] = field(default_factory=dict)
    padded: bool = False  # the series had unequal lengths and were padded (predict may pad)
    task: str = "classification"  # a key of conv1d_cli.task.TASKS
    # Regression: {"mean": [K], "std": [K]} of the training targets; y = value * std + mean.
    target_scaling: dict[str, Any] | None = None
    target_names: tuple[str, ...] = ()  # regression: one name per output ("target" for one)

    @property
    def sample_shape(self) -> tuple[int, int]:
        """(channels, length) of one sample."""
        return int(self.x_train.shape[1]), int(self.x_train.shape[2])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_outputs(self) -> int:
        """The network's output width: one per class, or one per regression target."""
        return len(self.target_names) if self.task == "regression" else len(self.class_names)

    def prefetching(self, order: np.ndarray, batch_size: int) -> Any:
        """x_train as the epoch loop indexes it (``order``'s batches): the array itself in
        memory; a memory-mapped split reads each next batch in a background thread."""
        if isinstance(self.x_train, np.ndarray):
            return self.x_train
        return Prefetched(self.x_train, order, batch_size)

    def augment(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A randomly shifted, scaled and noised copy of a training batch x (B, C, L); x is kept.

        Draws from ``rng`` only when augmentation is on, so runs without it stay reproducible.
        """
        if self.shift > 0:
            if self.image_shape is not None and x.shape[1] * x.shape[2] == np.prod(
                self.image_shape
            ):
                x = shift_images(x, self.image_shape, self.shift, self.fill, rng)
            else:
                x = shift_sequences(x, self.shift, self.fill, rng)
        if self.amplitude > 0:
            # Scaling about the normalized zero: a louder or quieter version of the same shape.
            factors = rng.normal(1.0, self.amplitude, size=(x.shape[0], x.shape[1], 1))
            x = x * factors.astype(x.dtype, copy=False)
        if self.noise > 0:
            x = x + rng.normal(0.0, self.noise, size=x.shape).astype(x.dtype, copy=False)
        return x


def shift_sequences(
    x: np.ndarray, max_shift: int, fill: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Each sample of x (B, C, L) moved by its own random offset in [-max_shift, max_shift].

    Positions shifted in from outside get ``fill`` (C,), the normalized value of a raw zero.
    """
    B, C, L = x.shape
    padded = np.empty((B, C, L + 2 * max_shift), dtype=x.dtype)
    padded[...] = fill.astype(x.dtype)[None, :, None]
    padded[:, :, max_shift : max_shift + L] = x
    offsets = rng.integers(-max_shift, max_shift + 1, size=B)
    # Sample b reads the window starting at max_shift - offset[b]: one gather, no batch loop.
    columns = (max_shift - offsets)[:, None] + np.arange(L)[None, :]  # (B, L)
    return np.take_along_axis(padded, columns[:, None, :], axis=2)


def shift_images(
    x: np.ndarray,
    image_shape: tuple[int, int],
    max_shift: int,
    fill: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Each image of x (B, C, L) with C*L = H*W moved by its own random 2-D offset (dy, dx).

    The shift happens on the (H, W) picture, whatever ``view`` the network reads it through, so a
    digit moves as a whole instead of wrapping from one row into the next.
    """
    B, C, L = x.shape
    H, W = image_shape
    # NaN marks the pixels shifted in from outside; each then gets the normalized zero of the
    # channel it lands in (rows-as-channels views may normalize every row differently).
    padded = np.full((B, H + 2 * max_shift, W + 2 * max_shift), np.nan, dtype=x.dtype)
    padded[:, max_shift : max_shift + H, max_shift : max_shift + W] = x.reshape(B, H, W)
    dy = rng.integers(-max_shift, max_shift + 1, size=B)
    dx = rng.integers(-max_shift, max_shift + 1, size=B)
    rows = (max_shift - dy)[:, None, None] + np.arange(H)[None, :, None]  # (B, H, 1)
    cols = (max_shift - dx)[:, None, None] + np.arange(W)[None, None, :]  # (B, 1, W)
    shifted = padded[np.arange(B)[:, None, None], rows, cols].reshape(B, C, L)
    fill_map = np.broadcast_to(fill.astype(x.dtype)[None, :, None], shifted.shape)
    np.copyto(shifted, fill_map, where=np.isnan(shifted))
    return shifted
