"""``conv1d predict`` and ``conv1d export``: thin wrappers around predicting.py and export/.

Registered on the app in cli.py; the shared error handling (one line, exit 2) is cli_common's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from conv1d_cli.cli.common import CheckpointArgument, JsonOption, stderr, stdout, user_errors


def predict_command(
    ctx: typer.Context,
    target: CheckpointArgument,
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="Samples to label: .npy (memory-mapped), .npz (x, optional y), .csv (label "
            "or target column optional), .ts, .tsv, an IDX images file or a folder of IDX files.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write the rows to FILE (default: stdout).", metavar="FILE"
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
    top: Annotated[
        int | None,
        typer.Option(
            "--top",
            metavar="K",
            help="Only the K most probable classes per sample (classification).",
        ),
    ] = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="JSON lines (one object per sample) instead of CSV.")
    ] = False,
    ignore_labels: Annotated[
        bool,
        typer.Option(
            "--ignore-labels",
            help="Predict even when the input's labels are not the network's classes; "
            "nothing is scored.",
        ),
    ] = False,
) -> None:
    """Label new samples: one row per sample, index, predicted label, class probabilities.

    A regression network writes index,prediction (one column per target), the input's target
    beside it when it has one, and RMSE, MAE and R^2 on stderr. The checkpoint alone decides
    normalization, input shape and class names. When the input has labels, the accuracy goes
    to stderr. An input of another length, or with labels that
    are not the network's classes, is refused (exit 2); shorter series are padded only for a
    run trained on padded unequal-length series.
    """
    import os
    import sys

    from conv1d_cli.inference.predict import open_output, predict_file

    err = stderr()
    with user_errors(ctx):
        if out is None and not json_lines and sys.stdout.isatty():
            err.print(
                "hint: rows are CSV; use --out FILE, or pipe the output (e.g. | head)",
                markup=False,
            )
        try:
            with open_output(out, force) as handle, _progress_bar(err) as progress:
                result = predict_file(
                    target,
                    input_path,
                    handle,
                    json_lines=json_lines,
                    top=top,
                    progress=progress,
                    ignore_labels=ignore_labels,
                )
        except BrokenPipeError:  # `conv1d predict ... | head`: the reader has all it wants
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
    if result.note is not None:
        err.print(result.note, markup=False, soft_wrap=True)
    where = f" to {out}" if out is not None else ""
    message = f"predicted {result.n} samples of {result.origin}{where}"
    err.print(message, markup=False, soft_wrap=True)
    if result.accuracy is not None:
        err.print(
            f"accuracy {result.accuracy:.4f} (n={result.n}, the input's labels)", markup=False
        )
    if result.metrics is not None:
        err.print(metrics_line(result.metrics, result.n, "the input's targets"), markup=False)
        per_output = result.metrics["per_output"]
        if len(per_output) > 1:
            for name, scores in per_output.items():
                err.print(metrics_line(scores, result.n, name), markup=False)


def metrics_line(scores: dict[str, Any], n: int, what: str) -> str:
    """A regression prediction's scores: "rmse 0.1532  mae 0.1156  r2 0.9934 (n=120, WHAT)"."""
    return (
        f"rmse {scores['rmse']:.4g}  mae {scores['mae']:.4g}  r2 {scores['r2']:.4f} (n={n}, {what})"
    )


@contextmanager
def _progress_bar(err: Console) -> Iterator[Any]:
    """A rich progress bar on a terminal; no output at all otherwise."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "predicting", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err,
        transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("predict", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def export_command(
    ctx: typer.Context,
    target: CheckpointArgument,
    format_: Annotated[
        str, typer.Option("--format", "-f", help="Export format (onnx).", metavar="FORMAT")
    ] = "onnx",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="FILE", help="Output file (default: RUN/model.onnx)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Export the network as ONNX, normalization built in: raw samples in, predictions out.

    Input float32 (batch, channels, length), dynamic batch; outputs probabilities and logits
    for a classifier, prediction (batch, K) in the targets' units for a regression run; class
    or target names and config in the model's metadata.
    """
    from conv1d_cli.errors import ConfigError
    from conv1d_cli.inference.export import FORMATS, export_onnx

    with user_errors(ctx):
        if format_.lower() not in FORMATS:
            raise ConfigError(f"--format {format_}: allowed formats: {', '.join(FORMATS)}")
        result = export_onnx(target, out, force)
    if json_output:
        typer.echo(json.dumps(result.as_json()))
        return
    stdout().print(
        f"wrote {result.path} (ONNX opset {result.opset}): {result.describe_io()}",
        markup=False,
        soft_wrap=True,
    )
    stderr().print(result.check_line(), markup=False, soft_wrap=True)
