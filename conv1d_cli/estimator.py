"""``Conv1dClassifier``: a conv1d network as a scikit-learn estimator.

``fit`` runs the same Trainer as ``conv1d train`` (no second training loop), in memory: no run
directory is written unless ``runs_dir`` is given. Predictions go through the one inference
path (``conv1d_cli.inference.load``), with the normalization statistics of the training data.

    Conv1dClassifier(config="configs/mnist1d.yaml", overrides={"train.epochs": 5}).fit(X, y)

``Conv1dClassifier()`` with no config trains the fcn template's network and recipe
(``DEFAULT_CONFIG``), made for archive-sized problems. X is (n, length) for one channel or
(n, channels, length); y any labels scikit-learn accepts. The config's last dense layer gets as
many units as y has classes, and ``data.view`` follows X (a view of the same size, such as
[28, 28] for 784 values, is kept).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from conv1d_cli.inference.load import LoadedModel
from conv1d_cli.training.inmemory import InMemoryTrainer
from conv1d_cli.training.loop import Trainer
from conv1d_cli.training.progress import SilentReporter

# The fcn template (configs/templates/fcn.yaml: FCN of Wang et al. 2017 at half width) and its
# recipe for archive-sized problems, tens to hundreds of series. The template's last dense has no
# units (the estimator sets them from y); it runs on one process here (see ``n_jobs``).
# tests/test_estimator_defaults.py holds the two equal.
DEFAULT_CONFIG: dict[str, Any] = {
    "name": "fcn",
    "seed": 0,
    "data": {"val_split": 0.0},
    "model": {
        "init": "he",
        "layers": [
            {"type": "conv1d", "channels": 64, "kernel": 8, "padding": "same", "bias": False},
            {"type": "batchnorm1d"},
            {"type": "relu"},
            {"type": "conv1d", "channels": 128, "kernel": 5, "padding": "same", "bias": False},
            {"type": "batchnorm1d"},
            {"type": "relu"},
            {"type": "conv1d", "channels": 64, "kernel": 3, "padding": "same", "bias": False},
            {"type": "batchnorm1d"},
            {"type": "relu"},
            {"type": "globalavgpool1d"},
            {"type": "dense"},
        ],
    },
    "loss": {"type": "cross_entropy"},
    "optimizer": {"type": "adam", "lr": 0.003},
    "schedule": {"type": "cosine"},
    "train": {"epochs": 150, "batch_size": 16, "workers": 1},
    "output": {"monitor": "train_loss", "plots": False},
}


class Conv1dClassifier(ClassifierMixin, BaseEstimator):
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

    def __init__(
        self,
        config: str | Path | Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        random_state: int | None = None,
        verbose: int = 0,
        runs_dir: str | Path | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.config = config
        self.overrides = overrides
        self.random_state = random_state
        self.verbose = verbose
        self.runs_dir = runs_dir
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any) -> Conv1dClassifier:
        """Train on X (n, length) or (n, channels, length) and labels y (n,)."""
        X, y = validate_data(self, X, y, allow_nd=True, dtype=[np.float32, np.float64])
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y has {len(self.classes_)} class; a classifier needs at least 2")
        samples = _as_3d(X)
        cfg = self._resolve_config(samples.shape[1:], len(self.classes_))
        data = self._dataset(samples, y_index, cfg)
        from conv1d_cli.training.lrauto import record_lr_auto, settle_lr
        from conv1d_cli.training.setup import settle_task

        cfg = settle_task(cfg, data.task, len(data.y_val) > 0)
        cfg, lr_sweep = settle_lr(cfg, data)  # optimizer.lr: auto -> the finder's number
        trainer = self._trainer(cfg, data)
        record_lr_auto(trainer, lr_sweep)
        trainer.fit()
        self.model_ = LoadedModel(
            trainer.model, cfg, tuple(map(str, self.classes_)), data.sample_shape,
            data.normalization,
        )  # fmt: skip
        self.history_ = list(trainer.rows)
        self.run_dir_ = None if isinstance(trainer, InMemoryTrainer) else trainer.run_dir
        return self

    def _resolve_config(self, sample_shape: tuple[int, ...], n_classes: int) -> Any:
        from conv1d_cli.config import load_config, load_config_dict

        if self.config is None:
            raw, source = json.loads(json.dumps(DEFAULT_CONFIG)), "Conv1dClassifier default"
        elif isinstance(self.config, str | Path):
            raw, source = load_config(Path(self.config)).model_dump(mode="json"), str(self.config)
        else:
            raw, source = json.loads(json.dumps(dict(self.config))), "Conv1dClassifier(config=)"
        channels, length = sample_shape
        data = dict(raw.get("data") or {})
        view = data.get("view")
        if view is None or int(np.prod(view)) != channels * length:
            data["view"] = [channels, length]
        raw["data"] = data
        layers = (raw.get("model") or {}).get("layers") or []
        if (
            layers
            and isinstance(layers[-1], dict)
            and layers[-1].get("type") in ("dense", "linear")
        ):
            layers[-1] = {**layers[-1], "units": n_classes}
        overrides = [f"{key}={json.dumps(value)}" for key, value in (self.overrides or {}).items()]
        if self.random_state is not None:
            overrides.append(f"seed={int(self.random_state)}")
        if self.n_jobs is not None:
            overrides.append(f"train.workers={_workers(self.n_jobs)}")
        return load_config_dict(raw, source, overrides)

    def _dataset(self, samples: np.ndarray, y_index: np.ndarray, cfg: Any) -> Any:
        from conv1d_cli.data.dataset import RawData
        from conv1d_cli.data.prepare import prepare

        raw = RawData(
            samples, y_index, samples[:0], y_index[:0],  # an empty test split: train on all
            origin="fit(X, y)", class_names=tuple(map(str, self.classes_)),
        )  # fmt: skip
        return prepare(raw, cfg.data, cfg.seed, task="classification")

    def _trainer(self, cfg: Any, data: Any) -> Trainer:
        from conv1d_cli.build.objects import build_loss, build_model, build_optimizer
        from conv1d_cli.training.progress import make_reporter

        rng = np.random.default_rng(cfg.seed)
        model = build_model(cfg.model, data.sample_shape, data.n_classes, rng, cfg.train.dtype)
        reporter = SilentReporter()
        if self.verbose:
            from rich.console import Console

            reporter = make_reporter(Console(stderr=True, highlight=False), quiet=False)
        parts = (cfg, model, build_loss(cfg.loss), build_optimizer(cfg.optimizer), data, rng)
        if self.runs_dir is None:
            return InMemoryTrainer(*parts, Path("(in memory)"), reporter)
        from conv1d_cli.config import config_to_yaml
        from conv1d_cli.rundir.atomic import atomic_write_text
        from conv1d_cli.rundir.layout import create_run_dir

        run_dir = create_run_dir(Path(self.runs_dir), cfg.name or "estimator")
        atomic_write_text(run_dir / "config.yaml", config_to_yaml(cfg))
        return Trainer(*parts, run_dir, reporter)

    # ----------------------------------------------------------------------- predictions
    def _samples(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=[np.float32, np.float64])
        samples = _as_3d(X)
        if samples.shape[1:] != self.model_.input_shape:
            raise ValueError(
                f"X has samples of shape {X.shape[1:]} but the network was fitted on "
                f"{_fitted_shape(self.model_.input_shape, X.ndim)}"
            )
        return samples

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, n_classes) class probabilities, columns in the order of ``classes_``."""
        samples = self._samples(X)
        return self.model_.predict_proba(samples)

    def predict(self, X: Any) -> np.ndarray:
        """(n,) predicted labels, values of ``classes_``."""
        samples = self._samples(X)
        logits = self.model_.logits(samples)
        return self.classes_[np.argmax(logits, axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # (n, channels, length) is accepted too
        tags.non_deterministic = False  # the seed fixes every draw
        return tags


def _workers(n_jobs: int) -> int:
    """joblib's reading of n_jobs: k >= 1 processes, -1 every core, -2 all but one, ..."""
    if n_jobs == 0:
        raise ValueError("n_jobs=0: give a number of processes >= 1, or -1 for every core")
    if n_jobs > 0:
        return int(n_jobs)
    from joblib import cpu_count

    return max(1, cpu_count() + 1 + int(n_jobs))


def _as_3d(X: np.ndarray) -> np.ndarray:
    """(n, length) -> (n, 1, length); (n, channels, length) as it is."""
    if X.ndim == 2:
        return X[:, None, :]
    if X.ndim == 3:
        return X
    raise ValueError(f"X must be (n, length) or (n, channels, length), got shape {X.shape}")


def _fitted_shape(shape: tuple[int, int], ndim: int) -> str:
    return f"({shape[1]},) (n, length)" if shape[0] == 1 and ndim == 2 else f"{shape}"
