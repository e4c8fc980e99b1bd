"""conv1d: train one-dimensional convolutional networks written in plain NumPy."""

__version__ = "0.1.0"
