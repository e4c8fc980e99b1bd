"""``Conv1dRegressor``: a conv1d network as a scikit-learn regressor.

    Conv1dRegressor(overrides={"train.epochs": 50}).fit(X, y).predict(X_new)

X is (n, length) for one channel or (n, channels, length); y is (n,) numbers, or (n, K) for K
outputs. The network learns y standardized with the training data's mean and std (the data
pipeline's ``task: regression``, as ``conv1d train`` does), so one learning rate suits targets
of any unit; ``predict`` answers in y's units and shape. ``score`` is R^2 (scikit-learn's
``RegressorMixin``, averaged over the outputs). What fit does is ``base.Conv1dEstimator``'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import validate_data

from conv1d_cli.estimator.base import DEFAULT_CONFIG, Conv1dEstimator
from conv1d_cli.task.regression import destandardize


class Conv1dRegressor(RegressorMixin, Conv1dEstimator):
    """A 1-D CNN regressor trained by conv1d's NumPy engine.

    With no arguments it is ``DEFAULT_CONFIG``, the fcn template, as for ``Conv1dClassifier``
    (three convolutions of 64/128/64 channels with batchnorm, global average pooling, a dense
    layer with one unit per output; Adam 0.003 with a cosine decay over 150 epochs, batches of
    16, no validation split, the weights of the lowest train loss), here trained on the mean
    squared error of the standardized targets: test R^2 0.995 for a noisy sine's frequency
    (300 series of length 128, 1-8 cycles, amplitude 0.5-2, noise 0.3; 300 others to test).
    For quick experiments lower ``train.epochs`` in ``overrides``.

    Parameters are ``Conv1dClassifier``'s: ``config`` (YAML path, mapping or None),
    ``overrides`` (dotted keys as for ``--set``; ``{"loss.type": "huber"}`` for a robust
    loss), ``random_state``, ``verbose``, ``runs_dir`` and ``n_jobs``.

    Fitted attributes: ``model_`` (the ``LoadedModel``), ``n_outputs_`` (K), ``history_`` (one
    row per epoch: train_loss, train_rmse, train_mae, train_r2, ...), ``run_dir_``.
    """

    task = "regression"
    default_config = DEFAULT_CONFIG  # loss.type auto: mse for regression

    def _validate(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        return validate_data(
            self, X, y, allow_nd=True, multi_output=True, y_numeric=True,
            dtype=[np.float32, np.float64],
        )  # fmt: skip

    def _encode_targets(self, y: np.ndarray) -> tuple[np.ndarray, None, int]:
        """Targets y (n,) or (n, K) -> float64 as given (the data pipeline standardizes them)."""
        y = np.asarray(y, dtype=np.float64)
        self._y_1d = y.ndim == 1  # predict answers (n,) for (n,) targets
        self.n_outputs_ = 1 if y.ndim == 1 else int(y.shape[1])
        return y, None, self.n_outputs_

    def predict(self, X: Any) -> np.ndarray:
        """(n,) predictions for (n,) targets, (n, K) for (n, K), in the targets' units."""
        values = destandardize(self._outputs(X), self.model_.target_scaling)
        return values[:, 0] if self._y_1d else values

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y (n, K): one network, K outputs
        return tags
