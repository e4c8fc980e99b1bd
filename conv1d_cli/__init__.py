"""conv1d: train one-dimensional convolutional networks written in plain NumPy.

Python API: ``load_model(run_dir_or_checkpoint)`` for predictions from a trained run, and the
scikit-learn estimators ``Conv1dClassifier`` and ``Conv1dRegressor``; each imports its modules on
first use.

Packages, one role each: ``cli`` (the ``conv1d`` command), ``config`` (the YAML schema and its
loading), ``build`` (config -> objects), ``training``, ``inference``, ``rundir`` (what a run
leaves on disk), ``parallel`` (data-parallel workers), ``nn`` (the NumPy engine), ``data``
(datasets), ``task`` (classification vs regression: what differs between them), ``sweep``
(hyperparameter search) and ``estimator`` (``Conv1dClassifier``, ``Conv1dRegressor``). Modules:
``errors`` (the errors a user can fix), ``version`` (``__version__``, read by modules that
must not import this package) and ``__main__`` (``python -m conv1d_cli``).
"""

from __future__ import annotations

from typing import Any

from conv1d_cli.version import __version__

__all__ = ["Conv1dClassifier", "Conv1dRegressor", "__version__", "load_model"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import conv1d_cli` (and the CLI's start) does not pay for NumPy models or sklearn.
    if name == "load_model":
        from conv1d_cli.inference.load import load_model

        return load_model
    if name == "Conv1dClassifier":
        from conv1d_cli.estimator import Conv1dClassifier

        return Conv1dClassifier
    if name == "Conv1dRegressor":
        from conv1d_cli.estimator import Conv1dRegressor

        return Conv1dRegressor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
