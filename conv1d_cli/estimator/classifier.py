"""``Conv1dClassifier``: a conv1d network as a scikit-learn classifier.

    Conv1dClassifier(config="configs/mnist1d.yaml", overrides={"train.epochs": 5}).fit(X, y)

``Conv1dClassifier()`` with no config trains the fcn template's network and recipe
(``DEFAULT_CONFIG``), made for archive-sized problems. X is (n, length) for one channel or
(n, channels, length); y any labels scikit-learn accepts. The config's last dense layer gets as
many units as y has classes, and ``data.view`` follows X (a view of the same size, such as
[28, 28] for 784 values, is kept). What fit does is ``base.Conv1dEstimator``'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from conv1d_cli.estimator.base import DEFAULT_CONFIG, Conv1dEstimator


class Conv1dClassifier(ClassifierMixin, Conv1dEstimator):
    """A 1-D CNN classifier trained by conv1d's NumPy engine.

    With no arguments it is the fcn template (``DEFAULT_CONFIG``: three convolutions of 64/128/64
    channels with batchnorm, global average pooling, a dense layer; Adam 0.003 with a cosine
    decay over 150 epochs, batches of 16, no validation split, the weights of the lowest train
    loss), made for archive-sized problems (tens to hundreds of series): 1.00 on GunPoint's test
    set. For quick experiments lower ``train.epochs`` in ``overrides``.

    Parameters
    ----------
    config : path to a YAML config, a config mapping, or None for ``DEFAULT_CONFIG``.
    overrides : dotted keys as for ``--set``, e.g. ``{"train.epochs": 5, "optimizer.lr": 0.01}``.
    random_state : int seed (weights, shuffling, dropout); None uses the config's ``seed``, so
        repeated fits give the same network.
    verbose : 0 silent, 1 one line per epoch on stderr.
    runs_dir : None trains in memory; a folder writes a normal run directory there.
    n_jobs : processes that train each batch together (``train.workers``). None keeps the
        config's value, which for the default is 1: one process, NumPy's BLAS threads using the
        cores. That is scikit-learn's convention (no processes unless asked) and what a joblib
        pool needs: ``GridSearchCV(n_jobs=2)`` or ``cross_val_score(n_jobs=2)`` already run one
        fit per core, and processes started inside them would compete for the same cores (in a
        daemonic ``multiprocessing.Pool`` they cannot start at all). Outside such a pool,
        ``n_jobs=2`` on 2 cores fits faster: 1.2-1.4x on an idle machine, several times on a busy
        one, where one process's two OpenBLAS threads wait for each other (GunPoint: 34 s against
        177 s). The processes start with ``spawn``: a script needs the
        ``if __name__ == "__main__":`` guard. -1 means every core, -2 all but one, as in joblib.
        Given, it overrides the config's ``train.workers``.
    """

    task = "classification"
    default_config = DEFAULT_CONFIG

    def _validate(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, allow_nd=True, dtype=[np.float32, np.float64])
        check_classification_targets(y)
        return X, y

    def _encode_targets(self, y: np.ndarray) -> tuple[np.ndarray, tuple[str, ...], int]:
        """Labels y (n,) -> class indices (n,) into ``classes_`` (sorted, as np.unique)."""
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y has {len(self.classes_)} class; a classifier needs at least 2")
        return y_index, tuple(map(str, self.classes_)), len(self.classes_)

    # ----------------------------------------------------------------------- predictions
    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, n_classes) class probabilities, columns in the order of ``classes_``."""
        samples = self._samples(X)
        return self.model_.predict_proba(samples)

    def predict(self, X: Any) -> np.ndarray:
        """(n,) predicted labels, values of ``classes_``."""
        outputs = self._outputs(X)  # first: it raises NotFittedError before classes_ exists
        return self.classes_[np.argmax(outputs, axis=1)]
