"""The package version, in a module of its own so any module can read it without importing
``conv1d_cli/__init__`` (whose lazy ``load_model`` imports most of the package)."""

__version__ = "0.1.0"
