"""Time-series archive files: UEA/UCR ``.ts`` (sktime/aeon) and the UCR archive's ``.tsv``.

``.ts``: comment lines (``#``, ``%``), header tags (``@problemName``, ``@timeStamps false``,
``@missing``, ``@univariate``, ``@dimensions``, ``@equalLength``, ``@seriesLength``,
``@classLabel true a b ...``; case-insensitive), then ``@data`` and one series a line: dimensions
separated by ``:``, values by ``,``, the class label last. Dimensions become channels. A
regression problem says ``@targetLabel true`` instead: the value after the last ``:`` is then a
number, the series' target.

``.tsv`` (UCR 2018): one series a line, the label first, then tab-separated values, no header.
The archive pads shorter series with trailing NaNs: those mark the series' end, not gaps.

A ``*_TRAIN`` file finds its ``*_TEST`` file beside it: the official test split. Series of
unequal length are padded at the end to the longest of both files, each channel repeating its
last value (said in the data description). Missing values (``?``, ``NaN``) are an error naming
the file and line unless ``data.missing`` fills them (before padding). Every malformed line is
one ``DataError`` ``FILE:LINE: what is wrong``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from conv1d_cli.data.dataset import RawData, TestSource
from conv1d_cli.data.missing import FILL_HINT, fill_missing
from conv1d_cli.errors import DataError

BOOLEAN_TAGS = ("timestamps", "missing", "univariate", "equallength")
TAGS = (
    "problemname",
    *BOOLEAN_TAGS,
    "dimension",
    "dimensions",
    "serieslength",
    "classlabel",
    "targetlabel",
    "data",
)


@dataclass
class Series:
    """One file's series: each (C, L_i) float64, with its label and the line it came from."""

    path: Path
    x: list[np.ndarray] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    class_names: tuple[str, ...] | None = None
    regression: bool = False  # @targetLabel true: labels are numeric targets
    label_line: int = 0  # the line of the @classLabel / @targetLabel tag (0: none)


def _fail(path: Path, line: int, problem: str) -> DataError:
    return DataError(f"{path}:{line}: {problem}")


def _numbers(fields: list[str], path: Path, line: int, what: str) -> np.ndarray:
    """The comma- or tab-split numbers of one dimension as float64; '?' and NaN become NaN."""
    values = [v.strip() for v in fields]
    try:
        x = np.array(["nan" if v == "?" else v for v in values], dtype=np.float64)
    except ValueError:
        bad = next(i for i, v in enumerate(values) if not _is_number(v) and v != "?")
        raise _fail(path, line, f"{what} value {bad + 1} {values[bad]!r} is not a number") from None
    if np.isinf(x).any():
        raise _fail(path, line, f"{what} holds an infinite value")
    return x


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"data.path: file not found: {path}")
    try:
        return path.read_bytes().decode("utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file: {exc.strerror or exc}") from None


def _checked_missing(x: np.ndarray, path: Path, line: int, missing: str) -> np.ndarray:
    """x (C, L) unchanged, or with its NaNs filled as ``missing`` says, or one error line."""
    gaps = np.isnan(x)
    if not gaps.any():
        return x
    if missing == "error":
        dim, at = (int(i) + 1 for i in np.argwhere(gaps)[0])
        place = f"dimension {dim}, position {at}" if x.shape[0] > 1 else f"position {at}"
        raise _fail(path, line, f"missing value ('?' or NaN) at {place}; {FILL_HINT}")
    return fill_missing(x, missing)


def parse_ts(path: Path, missing: str = "error") -> Series:
    """Read one ``.ts`` file: header checks, then every series as (C, L_i) float64."""
    text = _lines(path)
    header: dict[str, str] = {}
    series = Series(path)
    data_at = 0
    for number, raw in enumerate(text, start=1):
        line = raw.strip()
        if not line or line[0] in "#%":
            continue
        if not data_at:
            if not line.startswith("@"):
                raise _fail(path, number, "a series before @data (the header ends with @data)")
            tag, _, value = line[1:].partition(" ")
            tag, value = tag.lower(), value.strip()
            if tag not in TAGS:
                raise _fail(path, number, f"unknown header tag @{tag}; known: @{', @'.join(TAGS)}")
            if tag in BOOLEAN_TAGS and value.lower() not in ("true", "false"):
                raise _fail(path, number, f"@{tag} must be true or false, not {value!r}")
            if tag == "timestamps" and value.lower() == "true":
                raise _fail(path, number, "timestamps (@timeStamps true) are not supported")
            if tag == "targetlabel" and value.lower().split()[:1] == ["true"]:
                series.regression = True
                series.label_line = number
            if tag == "classlabel":
                words = value.split()
                if not words or words[0].lower() != "true" or len(words) < 2:
                    raise _fail(
                        path,
                        number,
                        "@classLabel must be 'true' and the class labels; "
                        "conv1d needs labelled series",
                    )
                series.class_names = tuple(words[1:])
                series.label_line = number
            if tag in ("dimension", "dimensions", "serieslength") and not value.isdigit():
                raise _fail(path, number, f"@{tag} must be a whole number, not {value!r}")
            header["dimensions" if tag == "dimension" else tag] = value.lower()
            if tag == "data":
                if series.class_names is not None and series.regression:
                    raise _fail(
                        path, number, "both @classLabel and @targetLabel are true; keep one"
                    )
                if series.class_names is None and not series.regression:
                    raise _fail(
                        path, number, "no @classLabel (or @targetLabel true) tag before @data"
                    )
                data_at = number
            continue
        _parse_series(line, number, header, series, missing)
    if not data_at:
        raise _fail(path, max(len(text), 1), "no @data line: the header never ends")
    if not series.x:
        raise _fail(path, data_at, "no series after @data")
    return series


def _parse_series(
    line: str, number: int, header: dict[str, str], series: Series, missing: str
) -> None:
    path = series.path
    if "(" in line:
        raise _fail(path, number, "timestamps '(time,value)' are not supported")
    *dims, label = line.split(":")
    label = label.strip()
    if not dims:
        what = "target" if series.regression else "class label"
        raise _fail(path, number, f"no {what}: a series ends with ':' and its {what}")
    if series.regression:
        if not _is_number(label) or not np.isfinite(float(label)):
            raise _fail(path, number, f"target {label!r} is not a finite number (@targetLabel)")
    elif label not in (series.class_names or ()):
        names = ", ".join(series.class_names or ())
        raise _fail(path, number, f"label {label!r} is not one of @classLabel ({names})")
    expected = 1 if header.get("univariate") == "true" else None
    expected = int(header["dimensions"]) if "dimensions" in header else expected
    if expected is None and series.x:
        expected = series.x[0].shape[0]
    if expected is not None and len(dims) != expected:
        raise _fail(path, number, f"{len(dims)} dimensions, expected {expected}")
    rows = []
    for d, text in enumerate(dims, start=1):
        if not text.strip():
            raise _fail(path, number, f"dimension {d} is empty")
        rows.append(_numbers(text.split(","), path, number, f"dimension {d}"))
    lengths = {len(r) for r in rows}
    if header.get("equallength") == "true":
        want = int(header.get("serieslength", 0)) or (series.x[0].shape[1] if series.x else 0)
        if want and lengths != {want}:
            raise _fail(path, number, f"length {max(lengths)}, expected {want} (@equalLength true)")
        if len(lengths) > 1:
            raise _fail(path, number, "dimensions of unequal length (@equalLength true)")
    x = _padded_rows(rows)
    series.x.append(_checked_missing(x, path, number, missing))
    series.labels.append(label)
    series.lines.append(number)


def _padded_rows(rows: list[np.ndarray]) -> np.ndarray:
    """(C, max length) from C rows; a shorter dimension repeats its last value (NaN stays NaN)."""
    out = np.empty((len(rows), max(len(r) for r in rows)))
    for c, r in enumerate(rows):
        out[c, : len(r)] = r
        out[c, len(r) :] = r[-1]
    return out


def parse_tsv(path: Path, missing: str = "error") -> Series:
    """Read one UCR ``.tsv`` file: label, then tab-separated values; trailing NaNs end a series."""
    series = Series(path)
    for number, raw in enumerate(_lines(path), start=1):
        if not raw.strip():
            continue
        fields = raw.rstrip("\r\n").split("\t")
        if len(fields) < 2:
            hint = " (commas found: this is not a tab-separated file)" if "," in raw else ""
            raise _fail(path, number, f"a label and tab-separated values expected{hint}")
        label = fields[0].strip()
        if not label or label.lower() in ("nan", "?"):
            raise _fail(path, number, "the label (first field) is empty or missing")
        x = _numbers(fields[1:], path, number, "the series")
        known = np.flatnonzero(~np.isnan(x))
        if not len(known):
            raise _fail(path, number, "the series has no values")
        x = x[: known[-1] + 1]  # the archive pads short series with NaN at the end
        series.x.append(_checked_missing(x[None, :], path, number, missing))
        series.labels.append(_label_text(label))
        series.lines.append(number)
    if not series.x:
        raise DataError(f"{path}: the data set is empty (no series)")
    dims = {x.shape[0] for x in series.x}
    if len(dims) > 1:  # cannot happen for .tsv (one dimension), kept for symmetry with .ts
        raise DataError(f"{path}: series with different numbers of dimensions")
    return series


def _label_text(label: str) -> str:
    """UCR labels are numbers, sometimes written as '1.0000000e+00': the integer's text then."""
    try:
        value = float(label)
    except ValueError:
        return label
    return str(int(value)) if value.is_integer() else label


def test_file_name(path: Path) -> Path | None:
    """``FOO_TRAIN.ts`` -> ``FOO_TEST.ts`` (same for .tsv, ``_train``), whether it exists or not;
    None when ``path`` is not named like a training file."""
    stem = path.stem
    for train, test in (("_TRAIN", "_TEST"), ("_train", "_test")):
        if stem.endswith(train):
            return path.with_name(stem[: -len(train)] + test + path.suffix)
    return None


def find_test_file(path: Path) -> Path | None:
    """``FOO_TRAIN.ts`` -> ``FOO_TEST.ts`` when that file exists (same for .tsv), else None."""
    candidate = test_file_name(path)
    return candidate if candidate is not None and candidate.is_file() else None


def _test_source(path: Path, test_path: Path | None) -> TestSource:
    """Where the test split comes from: the ``_TEST`` file, or why there is none."""
    if test_path is not None:
        return TestSource("file", f"test split from {test_path.name}", str(test_path))
    twin = test_file_name(path)
    reason = (
        f"no {twin.name} beside {path.name}"
        if twin is not None
        else f"{path.name} is not named *_TRAIN{path.suffix}, so no _TEST file is looked for"
    )
    return TestSource("held out", reason, pool="the training file", unit="series")


def read_archive(path: Path, missing: str = "error", *, tsv: bool = False) -> RawData:
    """A ``.ts`` (or with ``tsv`` a UCR ``.tsv``) file and its ``_TEST`` file as RawData.

    x arrays are (N, C, L) float64, labels (N,) strings, classes in the header's order (.ts) or
    sorted, numbers as numbers (.tsv); a regression file's (``@targetLabel true``) targets are
    (N,) float64.
    """
    parse = parse_tsv if tsv else parse_ts
    train = parse(path, missing)
    test_path = find_test_file(path)
    test = parse(test_path, missing) if test_path is not None else None
    if test is not None and test.regression != train.regression:
        kinds = ("@targetLabel true", "@classLabel")
        says, other = kinds if test.regression else kinds[::-1]
        raise DataError(
            f"{test_path}:{test.label_line}: {says}, but {path.name} says {other}; the _TRAIN "
            "and _TEST files must be the same problem"
        )
    parts = [train] + ([test] if test is not None else [])
    channels = {x.shape[0] for part in parts for x in part.x}
    if len(channels) > 1:
        raise DataError(
            f"{test_path}: series have {max(channels)} dimensions but {path} has "
            f"{train.x[0].shape[0]}"
        )
    lengths = [x.shape[1] for part in parts for x in part.x]
    longest = max(lengths)
    notes = []
    if min(lengths) != longest:
        notes.append(
            f"lengths {min(lengths)}..{longest} padded at the end to {longest} "
            "(each series repeats its last value)"
        )
    arrays = [pad_series(part.x, longest) for part in parts]
    kind = np.float64 if train.regression else None
    labels = [np.array(part.labels, dtype=kind) for part in parts]
    names = train.class_names
    if names is None and not train.regression:  # .tsv: numeric labels sort as numbers
        names = tuple(sorted(set(train.labels), key=_label_order))
    return RawData(
        arrays[0],
        labels[0],
        arrays[1] if test is not None else None,
        labels[1] if test is not None else None,
        origin=str(path),
        class_names=names,
        notes=tuple(notes),
        test_source=_test_source(path, test_path),
        padded_from=(min(lengths), longest) if min(lengths) != longest else None,
        task_hint="regression" if train.regression else None,
        train_lines=(str(path), np.array(train.lines, dtype=np.int64)),
        test_lines=None if test is None else (str(test_path), np.array(test.lines, np.int64)),
    )


def _label_order(label: str) -> tuple[int, float, str]:
    return (0, float(label), label) if _is_number(label) else (1, 0.0, label)


def pad_series(series: list[np.ndarray], length: int) -> np.ndarray:
    """(N, C, length) float64 from (C, L_i) series with L_i <= length, padded at the end.

    Each channel repeats its last value: zeros would add a step wherever a signal does not end
    near 0 (a DC offset), and the network would learn the series' length instead of its shape.
    """
    out = np.empty((len(series), series[0].shape[0], length))
    for n, x in enumerate(series):
        out[n, :, : x.shape[1]] = x
        out[n, :, x.shape[1] :] = x[:, -1:]
    return out
