"""What the two estimators share: parameters, config resolution, the in-memory Trainer, fit's
pipeline and the checks on X. A subclass says which task it is and how its targets are encoded.

``fit`` runs the same Trainer as ``conv1d train`` (no second training loop), in memory: no run
directory is written unless ``runs_dir`` is given. Predictions go through the one inference
path (``conv1d_cli.inference.load``), with the normalization statistics of the training data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from conv1d_cli.inference.load import LoadedModel
from conv1d_cli.training.inmemory import InMemoryTrainer
from conv1d_cli.training.loop import Trainer
from conv1d_cli.training.progress import SilentReporter

# The fcn template (configs/templates/fcn.yaml: FCN of Wang et al. 2017 at half width) and its
# recipe for archive-sized problems, tens to hundreds of series. The template's last dense has no
# units (the estimator sets them from y); it runs on one process here (see ``n_jobs``).
# tests/test_estimator_defaults.py holds the two equal. Both estimators' default.
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
    "loss": {"type": "auto"},  # cross_entropy for the classifier, mse for the regressor
    "optimizer": {"type": "adam", "lr": 0.003},
    "schedule": {"type": "cosine"},
    "train": {"epochs": 150, "batch_size": 16, "workers": 1},
    "output": {"monitor": "train_loss", "plots": False},
}


class Conv1dEstimator(BaseEstimator):
    """The parameters and the fit of ``Conv1dClassifier`` and ``Conv1dRegressor``.

    Subclasses set ``task`` (a key of ``conv1d_cli.task.TASKS``) and ``default_config`` (the
    config when ``config`` is None), and implement ``_validate`` (scikit-learn's checks of X
    and y) and ``_encode_targets`` (y -> what the data pipeline reads).
    """

    task: str
    default_config: Mapping[str, Any]

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
    def _encode_targets(self, y: np.ndarray) -> tuple[np.ndarray, tuple[str, ...] | None, int]:
        """Validated y -> (targets for ``RawData``, its fixed class names or None, outputs K);
        also sets the fitted attributes that describe y (``classes_``, ``n_outputs_``)."""
        raise NotImplementedError

    def _validate(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """sklearn's checks of X and y: (X, y) as arrays, or a ValueError."""
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> Conv1dEstimator:
        """Train on X (n, length) or (n, channels, length) and targets y."""
        X, y = self._validate(X, y)
        targets, class_names, n_outputs = self._encode_targets(y)
        samples = as_3d(X)
        cfg = self._resolve_config(samples.shape[1:], n_outputs)
        from conv1d_cli.data.dataset import RawData
        from conv1d_cli.data.prepare import prepare
        from conv1d_cli.training.setup import settle_start, settle_task

        raw = RawData(
            samples, targets, samples[:0], targets[:0],  # an empty test split: train on all
            origin="fit(X, y)", class_names=class_names,
        )  # fmt: skip
        data = prepare(raw, cfg.data, cfg.seed, task=self.task)
        cfg = settle_task(cfg, data.task, len(data.y_val) > 0)
        # As conv1d train: lr auto, train.max_minutes, then train.cv_folds (auto: a regressor
        # without a validation split chooses its epochs by 5-fold cross-validation).
        cfg, settled = settle_start(cfg, data, time.perf_counter())
        trainer = self._trainer(cfg, data)
        settled.apply(trainer)
        trainer.fit()
        if not isinstance(trainer, InMemoryTrainer):
            _load_best(trainer)
        self.model_ = LoadedModel(
            trainer.model, cfg, data.class_names, data.sample_shape, data.normalization,
            task=data.task, target_names=data.target_names, target_scaling=data.target_scaling,
        )  # fmt: skip
        self.history_ = list(trainer.rows)
        self.run_dir_ = None if isinstance(trainer, InMemoryTrainer) else trainer.run_dir
        return self

    def _resolve_config(self, sample_shape: tuple[int, ...], n_outputs: int) -> Any:
        """The config (``default_config`` when None) for samples of (channels, length) and a
        network of ``n_outputs`` outputs, with ``overrides``, ``random_state`` and ``n_jobs``."""
        from conv1d_cli.config import load_config, load_config_dict

        name = type(self).__name__
        if self.config is None:
            raw, source = json.loads(json.dumps(dict(self.default_config))), f"{name} default"
        elif isinstance(self.config, str | Path):
            raw, source = load_config(Path(self.config)).model_dump(mode="json"), str(self.config)
        else:
            raw, source = json.loads(json.dumps(dict(self.config))), f"{name}(config=)"
        raw["task"] = self.task  # the estimator is the task, whatever the config says
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
            layers[-1] = {**layers[-1], "units": n_outputs}
        overrides = [f"{key}={json.dumps(value)}" for key, value in (self.overrides or {}).items()]
        if self.random_state is not None:
            overrides.append(f"seed={int(self.random_state)}")
        if self.n_jobs is not None:
            overrides.append(f"train.workers={workers(self.n_jobs)}")
        return load_config_dict(raw, source, overrides)

    def _trainer(self, cfg: Any, data: Any) -> Trainer:
        from conv1d_cli.build.class_weights import run_loss
        from conv1d_cli.build.objects import build_network, build_optimizer
        from conv1d_cli.training.progress import make_reporter

        rng = np.random.default_rng(cfg.seed)
        model = build_network(cfg, data, rng)
        reporter = SilentReporter()
        if self.verbose:
            from rich.console import Console

            reporter = make_reporter(Console(stderr=True, highlight=False), quiet=False)
        parts = (cfg, model, run_loss(cfg, data), build_optimizer(cfg.optimizer), data, rng)
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
        """X checked against the fit: (n, channels, length) raw samples, or a ValueError."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=[np.float32, np.float64])
        samples = as_3d(X)
        if samples.shape[1:] != self.model_.input_shape:
            raise ValueError(
                f"X has samples of shape {X.shape[1:]} but the network was fitted on "
                f"{_fitted_shape(self.model_.input_shape, X.ndim)}"
            )
        return samples

    def _outputs(self, X: Any) -> np.ndarray:
        """(n, K) network outputs for X: logits, or standardized regression values."""
        samples = self._samples(X)
        return np.concatenate([part for _, part in self.model_.iter_logits(samples)])

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # (n, channels, length) is accepted too
        tags.non_deterministic = False  # the seed fixes every draw
        return tags


def workers(n_jobs: int) -> int:
    """joblib's reading of n_jobs: k >= 1 processes, -1 every core, -2 all but one, ..."""
    if n_jobs == 0:
        raise ValueError("n_jobs=0: give a number of processes >= 1, or -1 for every core")
    if n_jobs > 0:
        return int(n_jobs)
    from joblib import cpu_count

    return max(1, cpu_count() + 1 + int(n_jobs))


def as_3d(X: np.ndarray) -> np.ndarray:
    """(n, length) -> (n, 1, length); (n, channels, length) as it is."""
    if X.ndim == 2:
        return X[:, None, :]
    if X.ndim == 3:
        return X
    raise ValueError(f"X must be (n, length) or (n, channels, length), got shape {X.shape}")


def _fitted_shape(shape: tuple[int, int], ndim: int) -> str:
    return f"({shape[1]},) (n, length)" if shape[0] == 1 and ndim == 2 else f"{shape}"


def _load_best(trainer: Trainer) -> None:
    """A run directory's trainer ends on its last weights (its test split, which would load
    the best, is empty here): load ``best`` so the estimator predicts what ``load_model`` does."""
    best = trainer.checkpoints / "best.safetensors"
    if best.exists():
        from conv1d_cli.rundir.checkpoints import load_checkpoint

        trainer.model.load_state_dict(load_checkpoint(best).model_state)
