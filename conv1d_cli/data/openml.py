"""The full MNIST and Fashion-MNIST from OpenML, for users who are online; cached in the data home.

OpenML's arrays keep the official order: the first 60,000 rows are the training split and the
last 10,000 the test split.
"""

from __future__ import annotations

import warnings
from http.client import HTTPException

import numpy as np

from conv1d_cli.data.cache import data_home, load_cached, save_npz
from conv1d_cli.data.dataset import RawData
from conv1d_cli.errors import DataError

N_TRAIN = 60_000


def read_openml(openml_name: str, title: str, class_names: tuple[str, ...], hint: str) -> RawData:
    """``openml_name`` (``mnist_784`` or ``Fashion-MNIST``) as 60,000 train / 10,000 test rows.

    ``hint`` names the offline alternatives, for the one-line error when the download fails.
    """
    cache = data_home() / f"openml-{openml_name}-v1.npz"
    arrays = load_cached(cache, ("x", "y"))
    if arrays is None:
        arrays = _download(openml_name, title, hint)
        save_npz(cache, arrays)
    x, y = arrays["x"], arrays["y"]
    return RawData(
        x_train=x[:N_TRAIN],
        y_train=y[:N_TRAIN],
        x_test=x[N_TRAIN:],
        y_test=y[N_TRAIN:],
        origin=f"{title} (OpenML {openml_name})",
        class_names=class_names,
        image_shape=(28, 28),
        value_range=255.0,
    )


def _download(openml_name: str, title: str, hint: str) -> dict[str, np.ndarray]:
    from sklearn.datasets import fetch_openml

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns on every retry; we report once
            bunch = fetch_openml(
                openml_name,
                version=1,
                as_frame=False,
                parser="liac-arff",
                data_home=str(data_home() / "openml"),
                n_retries=1,
                delay=0.5,
            )
    except (OSError, HTTPException, ValueError) as exc:  # URLError and timeouts are OSErrors
        reason = getattr(exc, "reason", None) or exc
        raise DataError(
            f"cannot download {title} from OpenML ({reason}); offline, use {hint}"
        ) from None
    x = np.asarray(bunch.data, dtype=np.uint8)
    y = np.asarray(bunch.target).astype(np.int64)
    return {"x": x, "y": y}
