"""conv1d networks as scikit-learn estimators, trained by the same Trainer as ``conv1d train``.

- ``base``: ``Conv1dEstimator``: the parameters, config resolution, fit (data pipeline ->
  Trainer, in memory unless ``runs_dir``), the checks on X; the in-memory Trainer.
- ``classifier``: ``Conv1dClassifier`` (``ClassifierMixin``) and its ``DEFAULT_CONFIG``, the
  fcn template.
- ``regressor``: ``Conv1dRegressor`` (``RegressorMixin``, ``score`` = R^2) and its
  ``DEFAULT_REGRESSOR_CONFIG``.
"""

from conv1d_cli.estimator.base import Conv1dEstimator
from conv1d_cli.estimator.classifier import DEFAULT_CONFIG, Conv1dClassifier
from conv1d_cli.estimator.regressor import DEFAULT_REGRESSOR_CONFIG, Conv1dRegressor

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_REGRESSOR_CONFIG",
    "Conv1dClassifier",
    "Conv1dEstimator",
    "Conv1dRegressor",
]
