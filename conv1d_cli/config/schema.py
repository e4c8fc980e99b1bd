"""The experiment config: pydantic v2 models, the schema every YAML file is checked against.

Config flows one way: model defaults -> YAML file -> dotted ``--set`` overrides -> frozen
``Config``. Unknown keys are errors; every default is explicit here. Reading files and
overrides lives in ``conv1d_cli.config.loader`` (its public functions are importable from
``conv1d_cli.config`` too: ``load_config``, ``load_config_dict``, ``parse_override``,
``config_to_yaml``, ``config_diff``, ``apply_name_default``); error wording in
``conv1d_cli.config.validation``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    model_validator,
)
from pydantic_core import PydanticCustomError

from conv1d_cli.config.layers import *  # noqa: F403 (the layer kinds: Conv1dLayer, ..., LayerConfig)
from conv1d_cli.config.layers import (
    LayerConfig,
    PositiveFloat,
    StrictModel,
    UnitInterval,
    iter_specs,
)


def _key_path(text: str) -> tuple[str | int, ...]:
    """'model.layers[3].branches[0][1]' -> ('model', 'layers', 3, 'branches', 0, 1)."""
    return tuple(int(p) if p.isdecimal() else p for p in re.findall(r"[^.\[\]]+", text))


# --------------------------------------------------------------------------------------- data
DATA_KINDS_BY_SUFFIX = {".npz": "npz", ".csv": "csv", ".ts": "ts", ".tsv": "ucr"}


class DataConfig(StrictModel):
    # Left out with a data.path file (and source auto): the file's suffix decides, see
    # DATA_KINDS_BY_SUFFIX; without a path the default is the embedded MNIST digits.
    dataset: Literal[
        "mnist", "fashion-mnist", "mnist1d", "digits", "npz", "csv", "ts", "ucr", "npy"
    ] = "mnist"
    # auto: mnist -> embedded; fashion-mnist -> data.path, data home, /usr/share/datasets, OpenML.
    source: Literal["auto", "embedded", "openml", "idx", "npz"] = "auto"
    path: str | None = None
    val_split: UnitInterval = 0.1
    # Used only where the data has no official test split (embedded MNIST, digits, npz without
    # x_test, a .ts/.tsv file without its _TEST file).
    test_split: Annotated[float, Field(gt=0, lt=1)] = 0.2
    # (channels, length) of one sample as handed to the network; None keeps the dataset's own.
    view: tuple[PositiveInt, PositiveInt] | None = None
    # auto: scale for data with a known value range (8-bit images), standardize otherwise.
    normalize: Literal["auto", "scale", "standardize", "per_sample", "none"] = "auto"
    # Missing values (NaN, '?' in .ts files): an error, or filled by linear interpolation along
    # the series (ends take the nearest value) or with raw zeros.
    missing: Literal["error", "interpolate", "zero"] = "error"
    limit: PositiveInt | None = None
    # csv: the column holding each row's label or target; several columns ([a, b]) are K
    # regression targets, the outputs named by their columns.
    label_column: str | Annotated[tuple[str, ...], Field(min_length=1)] = "label"
    # Training-time augmentation: random shifts of up to `shift` pixels/samples, Gaussian noise std,
    # each sample's channels multiplied by factors drawn from N(1, amplitude).
    shift: NonNegativeInt = 0
    noise: NonNegativeFloat = 0.0
    amplitude: NonNegativeFloat = 0.0
    # Arguments for mnist1d's generator (num_samples, train_split, final_seq_length, seed, ...).
    mnist1d: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _dataset_from_suffix(cls, data: Any) -> Any:
        """``path: x.ts`` without ``dataset`` reads the file as its suffix says."""
        if not isinstance(data, dict) or "dataset" in data:
            return data
        path, source = data.get("path"), data.get("source", "auto")
        if not isinstance(path, str) or source != "auto":
            return data
        if (Path(path).expanduser() / "x.npy").is_file():  # a folder of .npy arrays
            return {**data, "dataset": "npy"}
        suffix = PurePath(path).suffix.lower()
        if suffix not in DATA_KINDS_BY_SUFFIX:
            allowed = ", ".join(f"{s} ({k})" for s, k in DATA_KINDS_BY_SUFFIX.items())
            raise PydanticCustomError(
                "config_rule",
                "{message}",
                {
                    "loc": ("data", "path"),
                    "message": f"cannot tell the kind of data from the suffix of {path!r}; "
                    f"known suffixes: {allowed}, a folder holding x.npy (npy), or set data.dataset",
                },
            )
        return {**data, "dataset": DATA_KINDS_BY_SUFFIX[suffix]}


# ------------------------------------------------------------------------------------- layers
# Each layer kind (its keys and how it builds) is declared once in conv1d_cli/config/layers/.


class ModelConfig(StrictModel):
    init: Literal["he", "he_uniform", "xavier", "xavier_uniform", "gaussian", "zeros"] = "he"
    init_sigma: PositiveFloat = 0.01  # standard deviation of the `gaussian` initializer
    layers: list[LayerConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _units_only_last(self) -> ModelConfig:
        """A dense layer may leave out units only as the last layer (the number of classes)."""
        last = f"model.layers[{len(self.layers) - 1}]"
        for path, spec in iter_specs(self.layers, "model.layers"):
            if spec.type in ("dense", "linear") and spec.units is None and path != last:
                raise PydanticCustomError(
                    "config_rule",
                    "{message}",
                    {
                        "loc": (*_key_path(path), "units"),
                        "message": "missing, expected an integer > 0 (only the network's last "
                        "layer may leave units out: it becomes the number of classes or "
                        "targets)",
                    },
                )
        return self


# ---------------------------------------------------------------------------- loss, optimizer
class LossConfig(StrictModel):
    # auto: the task's own (cross_entropy for classes, mse for regression); set when the run
    # starts, so the run's config.yaml names the loss it trained with.
    type: Literal["auto", "cross_entropy", "mse", "mae", "huber"] = "auto"
    label_smoothing: UnitInterval = 0.0  # cross_entropy only
    delta: PositiveFloat = 1.0  # huber only: quadratic within delta (standardized units)
    # cross_entropy only: balanced (n_samples / (n_classes * count) of the training split) or
    # {class name: weight}, unnamed classes 1; resolved when the data is known (build/class_weights)
    class_weight: Literal["balanced"] | dict[str | int, Any] | None = None

    @model_validator(mode="after")
    def _weights_positive(self) -> LossConfig:
        """Checked here, not by the type: a union's error would not say which weight is wrong."""
        weights = self.class_weight if isinstance(self.class_weight, dict) else {}
        for key, weight in weights.items():
            number = isinstance(weight, int | float) and not isinstance(weight, bool)
            if not (number and math.isfinite(weight) and weight > 0):
                raise PydanticCustomError(
                    "config_rule",
                    "{message}",
                    {
                        "loc": ("loss", "class_weight", key),
                        "message": f"got {weight!r}, expected a number > 0",
                    },
                )
        return self


class _OptimizerBase(StrictModel):
    # auto: the learning-rate finder's suggestion, set when the run starts (training/lrauto.py)
    lr: PositiveFloat | Literal["auto"] = 0.001
    weight_decay: NonNegativeFloat = 0.0
    clip_grad_norm: PositiveFloat | None = None


class SGDConfig(_OptimizerBase):
    type: Literal["sgd"]


class MomentumConfig(_OptimizerBase):
    type: Literal["momentum"]
    momentum: UnitInterval = 0.9
    nesterov: bool = False


class AdaGradConfig(_OptimizerBase):
    type: Literal["adagrad"]
    eps: PositiveFloat = 1e-10


class RMSPropConfig(_OptimizerBase):
    type: Literal["rmsprop"]
    alpha: UnitInterval = 0.99
    eps: PositiveFloat = 1e-8


class AdamConfig(_OptimizerBase):
    type: Literal["adam"]
    betas: tuple[UnitInterval, UnitInterval] = (0.9, 0.999)
    eps: PositiveFloat = 1e-8


class AdamWConfig(_OptimizerBase):
    type: Literal["adamw"]
    betas: tuple[UnitInterval, UnitInterval] = (0.9, 0.999)
    eps: PositiveFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.01


OptimizerConfig = Annotated[
    SGDConfig | MomentumConfig | AdaGradConfig | RMSPropConfig | AdamConfig | AdamWConfig,
    Field(discriminator="type"),
]


# -------------------------------------------------------------------------------- schedules
class ConstantSchedule(StrictModel):
    type: Literal["constant"]


class StepSchedule(StrictModel):
    type: Literal["step"]
    step_epochs: PositiveInt = 10  # multiply the rate by gamma every step_epochs epochs
    gamma: Annotated[float, Field(gt=0, le=1)] = 0.1


class CosineSchedule(StrictModel):
    type: Literal["cosine"]
    warmup_epochs: NonNegativeFloat = 0.0
    min_lr: NonNegativeFloat = 0.0
    # The epochs the decay spans; None: train.epochs. A run that stops before (train.epochs
    # chosen by cross-validation) trains with the rates the folds had at the same epochs.
    epochs: PositiveInt | None = None


class OneCycleSchedule(StrictModel):
    type: Literal["onecycle"]
    pct_start: Annotated[float, Field(gt=0, lt=1)] = 0.3
    div_factor: PositiveFloat = 25.0
    final_div_factor: PositiveFloat = 1e4
    epochs: PositiveInt | None = None  # the epochs the cycle spans; None: train.epochs


ScheduleConfig = Annotated[
    ConstantSchedule | StepSchedule | CosineSchedule | OneCycleSchedule,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------------------- train, output
class EarlyStoppingConfig(StrictModel):
    patience: PositiveInt = 5
    min_delta: NonNegativeFloat = 0.0


class TrainConfig(StrictModel):
    # 0 trains nothing: the network as initialized (a regression network then predicts the
    # training mean: its head starts at zero); cross-validation may choose 0 (epochs_cv.py).
    epochs: NonNegativeInt = 10
    batch_size: PositiveInt = 64
    eval_batch_size: PositiveInt = 1000
    dtype: Literal["float32", "float64"] = "float32"
    early_stopping: EarlyStoppingConfig | None = None
    # Processes that each train a slice of every batch (conv1d_cli/parallel/dataparallel.py), each
    # with one BLAS thread; 1: this process alone, with all of BLAS's threads.
    workers: int = Field(default=1, ge=1, le=64)
    # Choose the number of epochs (at most train.epochs) by k-fold cross-validation on the
    # training split, then train on all of it (training/epochs_cv.py). auto: 5 folds for a
    # regression run without a validation split, none otherwise; 0: none.
    cv_folds: Literal["auto"] | Annotated[int, Field(ge=0, le=20)] = "auto"
    # A time budget for the whole command: fewer epochs when the measured speed says train.epochs
    # (and the folds) would not fit (training/budget.py). None: no limit.
    max_minutes: PositiveFloat | None = None


class OutputConfig(StrictModel):
    runs_dir: str = "runs"
    # auto: the task's headline metric on the validation split (val_acc, val_rmse), or
    # train_loss when data.val_split is 0; set when the run starts.
    monitor: Literal[
        "auto",
        "val_acc",
        "val_loss",
        "train_acc",
        "train_loss",
        "val_balanced_acc",
        "val_macro_f1",
        "train_balanced_acc",
        "train_macro_f1",
        "val_rmse",
        "val_mae",
        "val_r2",
        "train_rmse",
        "train_mae",
        "train_r2",
    ] = "auto"
    plots: bool = True


class Config(StrictModel):
    name: str | None = None  # None: the config file's stem
    seed: NonNegativeInt = 0
    # auto: regression for .ts files with @targetLabel true and for float targets that are not
    # whole numbers (or several target columns), classification otherwise; set when the run
    # starts (conv1d_cli/task).
    task: Literal["auto", "classification", "regression"] = "auto"
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    loss: LossConfig = Field(default_factory=LossConfig)
    optimizer: OptimizerConfig = Field(default_factory=lambda: AdamConfig(type="adam"))
    schedule: ScheduleConfig = Field(default_factory=lambda: ConstantSchedule(type="constant"))
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="before")
    @classmethod
    def _default_union_types(cls, data: Any) -> Any:
        """``optimizer: {lr: 0.01}`` keeps the default type (adam), like ``--set optimizer.lr``."""
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                section = data.get(name)
                tag_key = field.discriminator
                if (
                    isinstance(tag_key, str)
                    and isinstance(section, dict)
                    and tag_key not in section
                ):
                    default = field.get_default(call_default_factory=True)
                    data = {**data, name: {tag_key: getattr(default, tag_key), **section}}
        return data

    @model_validator(mode="after")
    def _seed_fits_32_bits(self) -> Config:
        """scikit-learn's splits take 32-bit seeds: a larger one would fail after loading data."""
        if self.seed >= 2**32:
            raise PydanticCustomError(
                "config_rule",
                "{message}",
                {"loc": ("seed",), "message": f"got {self.seed}, expected an integer < 2**32"},
            )
        return self

    @model_validator(mode="after")
    def _cv_folds_are_folds(self) -> Config:
        if self.train.cv_folds == 1:
            raise PydanticCustomError(
                "config_rule",
                "{message}",
                {
                    "loc": ("train", "cv_folds"),
                    "message": "got 1: one fold is no cross-validation; allowed: auto, 0 (none) "
                    "or 2 to 20 folds",
                },
            )
        return self

    @model_validator(mode="after")
    def _monitor_needs_validation(self) -> Config:
        if self.output.monitor.startswith("val_") and self.data.val_split == 0:
            raise PydanticCustomError(
                "config_rule",
                "{message}",
                {
                    "loc": ("output", "monitor"),
                    "message": f"{self.output.monitor} needs a validation split but "
                    "data.val_split is 0, allowed without one: auto, train_loss, train_acc, "
                    "train_balanced_acc, train_macro_f1 (classes), train_rmse, train_mae, "
                    "train_r2 (regression)",
                },
            )
        return self
