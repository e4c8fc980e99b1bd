"""MNIST-1D (Greydanus, 2020): 40-sample sequences generated offline by the ``mnist1d`` package.

The generator seeds and draws from the global ``np.random`` and ``random`` states; we save and
restore both around it so loading data never changes anyone else's random stream.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import numpy as np

from conv1d_cli.data.cache import data_home, load_cached, save_npz
from conv1d_cli.data.dataset import RawData
from conv1d_cli.errors import ConfigError

IGNORED_ARGS = ("url",)  # the generator's download address: we never download


def mnist1d_defaults() -> dict[str, Any]:
    from mnist1d.data import get_dataset_args

    defaults = get_dataset_args(as_dict=True)
    return {k: v for k, v in defaults.items() if k not in IGNORED_ARGS}


def read_mnist1d(overrides: dict[str, Any]) -> RawData:
    """The generated data set for the generator arguments ``overrides`` (data.mnist1d)."""
    args = mnist1d_defaults()
    unknown = sorted(set(overrides) - set(args))
    if unknown:
        raise ConfigError(
            f"data.mnist1d.{unknown[0]}: not an argument of the MNIST-1D generator; "
            f"allowed: {', '.join(sorted(args))}"
        )
    args.update(overrides)
    digest = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:16]
    cache = data_home() / f"mnist1d-{digest}.npz"
    arrays = load_cached(cache, ("x", "y", "x_test", "y_test"))
    if arrays is None:
        arrays = _generate(args)
        save_npz(cache, arrays)
    return RawData(
        x_train=arrays["x"],
        y_train=arrays["y"],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        origin=f"MNIST-1D (generated, {args['num_samples']} samples, seed {args['seed']})",
        class_names=tuple(str(i) for i in range(10)),
    )


def _generate(args: dict[str, Any]) -> dict[str, np.ndarray]:
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        generated = make_dataset(ObjectView(dict(args)))
    except (TypeError, ValueError, IndexError, ZeroDivisionError) as exc:
        raise ConfigError(f"data.mnist1d: the generator rejected {args}: {exc}") from None
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {
        "x": generated["x"].astype(np.float32),
        "y": generated["y"].astype(np.int64),
        "x_test": generated["x_test"].astype(np.float32),
        "y_test": generated["y_test"].astype(np.int64),
    }
