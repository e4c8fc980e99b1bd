"""Writers of UEA/UCR archive files for tests: the ``.ts`` and ``.tsv`` layouts, by hand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def ts_text(
    series: Sequence[np.ndarray],
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    name: str = "Test",
    equal_length: bool | None = None,
) -> str:
    """A ``.ts`` file holding ``series`` (each (C, L_i)) with ``labels``; repr() keeps floats."""
    dims = series[0].shape[0]
    lengths = {x.shape[1] for x in series}
    equal = len(lengths) == 1 if equal_length is None else equal_length
    header = [
        "# written by tests/ts_files.py",
        f"@problemName {name}",
        "@timeStamps false",
        "@missing false",
        f"@univariate {'true' if dims == 1 else 'false'}",
    ]
    if dims > 1:
        header.append(f"@dimensions {dims}")
    header.append(f"@equalLength {'true' if equal else 'false'}")
    if equal:
        header.append(f"@seriesLength {max(lengths)}")
    header += [f"@classLabel true {' '.join(classes)}", "@data"]
    rows = [
        ":".join(",".join(repr(float(v)) for v in channel) for channel in x) + f":{label}"
        for x, label in zip(series, labels, strict=True)
    ]
    return "\n".join(header + rows) + "\n"


def write_ts_pair(
    folder: Path,
    name: str,
    train: tuple[Sequence[np.ndarray], Sequence[str]],
    test: tuple[Sequence[np.ndarray], Sequence[str]] | None,
    classes: Sequence[str],
) -> Path:
    """``NAME_TRAIN.ts`` (and ``NAME_TEST.ts``) in ``folder``; returns the train file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}_TRAIN.ts"
    path.write_text(ts_text(*train, classes, name=name))
    if test is not None:
        (folder / f"{name}_TEST.ts").write_text(ts_text(*test, classes, name=name))
    return path


def tsv_text(series: Sequence[np.ndarray], labels: Sequence[str], length: int) -> str:
    """UCR 2018 layout: label, then tab-separated values; short series end in NaN padding."""
    rows = []
    for x, label in zip(series, labels, strict=True):
        values = [repr(float(v)) for v in np.ravel(x)] + ["NaN"] * (length - np.size(x))
        rows.append("\t".join([str(label), *values]))
    return "\n".join(rows) + "\n"
