"""conv1d networks as scikit-learn estimators, trained by the same Trainer as ``conv1d train``.

- ``base``: ``Conv1dEstimator``: the parameters, config resolution, fit (data pipeline ->
  Trainer, in memory unless ``runs_dir``), the checks on X; the in-memory Trainer;
  ``DEFAULT_CONFIG``, the fcn template, both estimators' default.
- ``classifier``: ``Conv1dClassifier`` (``ClassifierMixin``).
- ``regressor``: ``Conv1dRegressor`` (``RegressorMixin``, ``score`` = R^2; by default the same
  fcn template, trained on the mean squared error).
"""

from conv1d_cli.estimator.base import DEFAULT_CONFIG, Conv1dEstimator
from conv1d_cli.estimator.classifier import Conv1dClassifier
from conv1d_cli.estimator.regressor import Conv1dRegressor

__all__ = [
    "DEFAULT_CONFIG",
    "Conv1dClassifier",
    "Conv1dEstimator",
    "Conv1dRegressor",
]
