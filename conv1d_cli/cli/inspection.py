"""``conv1d outsize`` and ``conv1d summary``: a convolution's output-length arithmetic and a
network's per-layer table. Registered on the app in cli.py."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from conv1d_cli.cli.common import JsonOption, SetOption, fail, stdout, user_errors


# ---------------------------------------------------------------------------------- outsize
def outsize_command(
    ctx: typer.Context,
    n: Annotated[int, typer.Option("--n", help="Input length N_in.", show_default=False)],
    f: Annotated[int, typer.Option("--f", help="Kernel size F.", show_default=False)],
    s: Annotated[int, typer.Option("--s", help="Stride S.")] = 1,
    p: Annotated[
        str, typer.Option("--p", help="Padding P per side: an int, same, valid or causal.")
    ] = "0",
    d: Annotated[int, typer.Option("--d", help="Dilation D.")] = 1,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show the formula with the numbers put in.")
    ] = False,
) -> None:
    """Output length of a 1D convolution: floor((N + 2P - D(F-1) - 1)/S) + 1."""
    from conv1d_cli.nn import output_size

    with user_errors(ctx):
        padding: int | str = p.strip().lower()
        if padding not in ("same", "valid", "causal"):
            try:
                padding = int(padding)
            except ValueError:
                fail(f"--p {p!r}: padding must be a non-negative integer, same, valid or causal")
        try:
            result = output_size(n, f, s, padding, d)
        except ValueError as exc:
            fail(str(exc))
    if explain:
        typer.echo(_explain(n, f, s, padding, d, result))
    typer.echo(str(result))


def _explain(n: int, f: int, s: int, p: int | str, d: int, result: int) -> str:
    if p == "same":
        total = max(0, (result - 1) * s + d * (f - 1) + 1 - n)
        return (
            f"'same': N_out = ceil(N_in / S) = ceil({n} / {s}) = {result}; padding "
            f"{total} in all ({total // 2} left, {total - total // 2} right)"
        )
    if p == "causal":
        left = d * (f - 1)
        return (
            f"'causal': padding D(F-1) = {d}*({f}-1) = {left} on the left only; "
            f"N_out = floor((N_in - 1) / S) + 1 = floor({n - 1} / {s}) + 1 = {result}"
        )
    pad = 0 if p == "valid" else int(p)
    numerator = n + 2 * pad - d * (f - 1) - 1
    return (
        "N_out = floor((N_in + 2P - D(F-1) - 1) / S) + 1 "
        f"= floor(({n} + 2*{pad} - {d}*({f}-1) - 1) / {s}) + 1 "
        f"= floor({numerator} / {s}) + 1 = {math.floor(numerator / s)} + 1 = {result}"
    )


# ---------------------------------------------------------------------------------- summary
def summary_command(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="The YAML config.", show_default=False)],
    set_: SetOption = None,
    json_output: JsonOption = False,
) -> None:
    """Per-layer table: output shape, parameters and multiply-accumulates per sample.

    Layers inside residual and parallel blocks follow their block, indented, named by path.
    """
    from conv1d_cli.build.summary import summarize_model
    from conv1d_cli.training.progress import summary_table

    with user_errors(ctx):
        result = summarize_model(config, set_ or [])
    if json_output:
        payload = {
            "input_shape": list(result.input_shape),
            "task": result.task,
            "outputs": result.n_outputs,  # classes, or regression targets
            "layers": [
                {
                    "index": row.index,
                    "path": row.path,  # "3.layers.1" inside blocks (the parameter-name prefix)
                    "depth": row.depth,
                    "name": str(row.name),
                    "output_shape": list(row.output_shape),
                    "params": row.n_params,
                    "macs": row.macs,
                }
                for row in result.rows
            ],
            "total_params": result.total_params,
            "total_macs": result.total_macs,
            "note": result.note,  # set when the rows come from the shape-only pass
        }
        typer.echo(json.dumps(payload))
        return
    out = stdout()
    out.print(f"data: {result.data}", markup=False)
    out.print(summary_table(result, title=f"model summary ({config})"))
    out.print(
        f"total parameters: {result.total_params:,}   "
        f"multiply-accumulates per sample: {result.total_macs:,}"
    )
    if result.note:
        out.print(result.note, markup=False)
