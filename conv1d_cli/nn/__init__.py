"""The NumPy engine. One input layout throughout: (batch, channels, length); Dense takes
(batch, features). Layers compute exact gradients summed over the batch; the loss averages.
Activations may be stored channel-major (see functional.py); layers accept any strides.

- ``layers``: the ``Layer`` interface, Dense, the activations, Flatten, Dropout.
- ``conv``: Conv1d, the course's SimpleConv1d, max/average/global-average pooling.
- ``batchnorm``: BatchNorm1d; ``blocks``: Residual and Parallel (layer lists; they nest).
- ``model``: ``Sequential`` and its qualified parameter names; ``losses``: softmax
  cross-entropy and the regression losses (mean squared, mean absolute, Huber).
- ``functional``: strided windows and the convolution's arithmetic; ``padding``: output sizes
  and every padding rule; ``blas``: ``out += a @ b`` through NumPy's own OpenBLAS (ctypes).
- ``init``: weight initializers.

The engine runs in one process and one thread of its own (BLAS may use more); it starts no
processes or threads and shares no memory. Data-parallel training (``conv1d_cli/parallel/``)
drives it through these extension points only:

- ``BatchNorm1d.allreduce``: None (the default: this process has the whole batch), or a function
  (k,) float64 totals of this process -> the same totals summed over every process. A training
  mode batchnorm calls it exactly once per ``forward`` (k = 3 * channels + 1: per channel
  n * mean, centred sum of squares, n * mean**2, then the sample count n) and once per
  ``backward`` of such a forward (k = 2 * channels: dgamma, dbeta); never in eval mode. Layers
  run in order, so every process calls it in the same order, and the statistics, running
  statistics and input gradient are the whole batch's; ``grads`` keep this process's share.
  parallel/ sets it on every batchnorm (inside blocks too): a worker once for its life, rank 0
  around each step's forward and backward while workers take part (None again after).
- ``Dropout.draw_keep``: None (the default: the mask is drawn from ``layer.rng``), or a function
  x's shape -> a bool keep mask of that shape, called once per training-mode ``forward`` with
  rate > 0 (never in eval mode or at rate 0). parallel/'s rank 0 sets it around each training
  forward: it draws the whole batch's mask from ``layer.rng`` (as one process would: same
  generator, same order) and keeps its slice; a worker's returns the slice rank 0 sent it.
- parameters and gradients in place: every layer's ``params``, ``grads`` and ``buffers`` are
  dicts of arrays whose keys, shapes and dtypes are fixed at construction. Layers read
  ``params[name]`` afresh on every forward/backward (no copies kept) and ``backward`` overwrites
  ``grads[name]`` in place (``[...] =`` or ``out=``; never accumulates, never rebinds), so an
  entry may be replaced by a view of the same shape and dtype (parallel/shared.py points every
  process's entries at one shared-memory block) and the layer then reads and writes the view.
  ``Sequential.parameters()``/``gradients()`` return those live arrays by name, in a fixed
  order, entering blocks through ``named_children``; ``load_state_dict`` copies into them. Rank
  0's optimizer updates the shared parameters in place between steps; workers' gradients land
  in their shared blocks during ``backward`` and rank 0 adds them to its own.
"""

from conv1d_cli.nn.batchnorm import BatchNorm1d
from conv1d_cli.nn.blocks import Parallel, Residual
from conv1d_cli.nn.conv import (
    AvgPool1d,
    Conv1d,
    GlobalAvgPool1d,
    MaxPool1d,
    SimpleConv1d,
)
from conv1d_cli.nn.functional import (
    MAX_COLS_BYTES,
    PADDING_MODES,
    calc_conv1d_output_size,
    output_size,
)
from conv1d_cli.nn.init import INITIALIZER_NAMES, Initializer, get_initializer
from conv1d_cli.nn.layers import (
    GELU,
    Dense,
    Dropout,
    Flatten,
    Layer,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
)
from conv1d_cli.nn.losses import (
    HuberLoss,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossEntropy,
)
from conv1d_cli.nn.model import LayerInfo, Sequential

__all__ = [
    "GELU",
    "INITIALIZER_NAMES",
    "MAX_COLS_BYTES",
    "PADDING_MODES",
    "AvgPool1d",
    "BatchNorm1d",
    "Conv1d",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool1d",
    "HuberLoss",
    "Initializer",
    "Layer",
    "LayerInfo",
    "LeakyReLU",
    "Linear",
    "MaxPool1d",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Parallel",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "SimpleConv1d",
    "SoftmaxCrossEntropy",
    "Tanh",
    "calc_conv1d_output_size",
    "get_initializer",
    "output_size",
]
