"""The experiment config: schema, loading, validation, YAML, and the layer kinds.

- ``schema``: the pydantic models every YAML file is checked against (``Config`` and its parts).
- ``loader``: YAML file or mapping -> ``--set`` overrides -> one validation -> frozen ``Config``.
- ``slots``: what the schema allows at a key path (a ``Slot``), for messages and ``--set``.
- ``validation``: pydantic's errors in our words; ``validate`` (raw mapping -> model) for
  configs and sweep files alike.
- ``yamlio``: a YAML loader without YAML 1.1's surprises, and the dumper that matches it.
- ``layers/``: one spec per layer kind (``LAYER_SPECS``): its keys and the engine class it builds.

Other packages import the names below from ``conv1d_cli.config``.
"""

from conv1d_cli.config.loader import (
    apply_name_default,
    config_diff,
    config_to_yaml,
    load_config,
    load_config_dict,
    parse_override,
    resolve_config,
)
from conv1d_cli.config.schema import (
    DATA_KINDS_BY_SUFFIX,
    AdaGradConfig,
    AdamConfig,
    AdamWConfig,
    Config,
    ConstantSchedule,
    CosineSchedule,
    DataConfig,
    EarlyStoppingConfig,
    LossConfig,
    ModelConfig,
    MomentumConfig,
    OneCycleSchedule,
    OutputConfig,
    RMSPropConfig,
    SGDConfig,
    StepSchedule,
    TrainConfig,
)

__all__ = [
    "DATA_KINDS_BY_SUFFIX",
    "AdaGradConfig",
    "AdamConfig",
    "AdamWConfig",
    "Config",
    "ConstantSchedule",
    "CosineSchedule",
    "DataConfig",
    "EarlyStoppingConfig",
    "LossConfig",
    "ModelConfig",
    "MomentumConfig",
    "OneCycleSchedule",
    "OutputConfig",
    "RMSPropConfig",
    "SGDConfig",
    "StepSchedule",
    "TrainConfig",
    "apply_name_default",
    "config_diff",
    "config_to_yaml",
    "load_config",
    "load_config_dict",
    "parse_override",
    "resolve_config",
]
