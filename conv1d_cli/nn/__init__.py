"""The NumPy engine. One input layout throughout: (batch, channels, length); Dense takes
(batch, features). Layers compute exact gradients summed over the batch; the loss averages.
Activations may be stored channel-major (see functional.py); layers accept any strides.
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
from conv1d_cli.nn.losses import SoftmaxCrossEntropy
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
    "Initializer",
    "Layer",
    "LayerInfo",
    "LeakyReLU",
    "Linear",
    "MaxPool1d",
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
