"""``conv1d explain`` and ``conv1d show``: thin wrappers around inference/explain_io.py.

Registered on the app in cli/app.py; the shared error handling (one line, exit 2) is common's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conv1d_cli.cli.common import CheckpointArgument, JsonOption, stdout, user_errors

InputArgument = Annotated[
    Path,
    typer.Argument(
        metavar="INPUT",
        help="Samples, read as conv1d predict reads them: .npy, .npz (x, optional y), .csv, "
        ".ts, .tsv, IDX. Labels, when present, name the true class in the pictures.",
        show_default=False,
    ),
]
OutOption = Annotated[
    Path,
    typer.Option(
        "--out", "-o", metavar="DIR", help="Folder for the results (made if missing).",
        show_default=False,
    ),
]  # fmt: skip
ForceOption = Annotated[
    bool, typer.Option("--force", help="Write into an --out folder that is not empty.")
]
LayerOption = Annotated[
    str | None,
    typer.Option(
        "--layer", metavar="PATH", help='A layer named like its parameters: "3", "0.layers.2", '
        '"2.branches.1.0" (conv1d summary lists them).',
    ),
]  # fmt: skip


def explain_command(
    ctx: typer.Context,
    target: CheckpointArgument,
    input_path: InputArgument,
    out: OutOption,
    index: Annotated[
        list[int] | None,
        typer.Option(
            "--index",
            "-i",
            metavar="I",
            help="A sample to explain (repeatable; "
            "default: every sample, pictures of the first 16).",
        ),
    ] = None,
    target_class: Annotated[
        str | None,
        typer.Option(
            "--target",
            metavar="CLASS",
            help="Explain this class (default: each sample's predicted class).",
        ),
    ] = None,
    method: Annotated[
        str, typer.Option("--method", "-m", help="gradcam or input-x-gradient.")
    ] = "gradcam",
    layer: LayerOption = None,
    force: ForceOption = False,
    json_output: JsonOption = False,
) -> None:
    """Which part of each input decided: attributions.npy (N, channels, length) and pictures.

    Grad-CAM at the last convolution (or --layer), resampled to the input's length, or input x
    gradient; positive values are evidence for the class, negative against. Writes
    attributions.npy, explain.json, sample-I.png per sample and classes.png (mean per
    predicted class) into --out.
    """
    from conv1d_cli.inference.explain_io import explain_file

    with user_errors(ctx):
        written = explain_file(
            target, input_path, out, indices=index, target_class=target_class,
            method=method, layer=layer, force=force,
        )  # fmt: skip
    _report(written, json_output)


def show_command(
    ctx: typer.Context,
    target: CheckpointArgument,
    out: OutOption,
    layer: LayerOption = None,
    input_path: Annotated[
        Path | None,
        typer.Option("--input", metavar="FILE", help="Draw one sample's feature maps too."),
    ] = None,
    index: Annotated[
        int | None, typer.Option("--index", "-i", metavar="I", help="That sample (default 0).")
    ] = None,
    force: ForceOption = False,
    json_output: JsonOption = False,
) -> None:
    """A conv layer's learned kernels (default: the first conv), and one sample's feature maps.

    Writes kernels.png and, with --input, feature-maps.png (the layer's output for that
    sample) into --out.
    """
    from conv1d_cli.inference.explain_io import show_run

    with user_errors(ctx):
        written = show_run(
            target, out, layer=layer, input_path=input_path, index=index, force=force
        )
    _report(written, json_output)


def _report(written: object, json_output: bool) -> None:
    from conv1d_cli.inference.explain_io import describe, dump

    if json_output:
        typer.echo(dump(written))
    else:
        stdout().print(describe(written), markup=False)
