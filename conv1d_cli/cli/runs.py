"""What ``conv1d runs`` and ``conv1d runs compare`` print (the logic: rundir/listing.py and
rundir/compare.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from conv1d_cli.cli.common import JsonOption, fail, stderr, user_errors
from conv1d_cli.rundir.compare import compare_runs
from conv1d_cli.rundir.listing import format_seconds, format_started, list_runs, row_json


def runs_command(
    ctx: typer.Context,
    args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[RUNS_DIR] | compare RUN RUN...",
            help="A runs folder (default: runs), or 'compare' and two or more run directories.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="compare: the PNG of the curves (default: runs-compare.png)."),
    ] = None,
) -> None:
    """List runs (status, epochs, best, test accuracy or RMSE and R², time), or compare some.

    [bold]conv1d runs [RUNS_DIR] [--json][/bold]: one row per run
    (a sweep's trials too), oldest first; a run whose process died reads crashed.

    [bold]conv1d runs compare RUN RUN ... [--out FILE][/bold]: their curves
    on one PNG and a side-by-side table. (A runs folder named 'compare': ./compare.)
    """

    args = list(args or [])
    with user_errors(ctx):
        if args and args[0] == "compare":
            compare(args[1:], out or Path("runs-compare.png"), json_output)
            return
        if out is not None:
            fail("--out belongs to 'conv1d runs compare RUN RUN ...'")
        if len(args) > 1:
            fail(f"runs takes one RUNS_DIR, got {len(args)}: {' '.join(args)}")
        show(Path(args[0] if args else "runs"), json_output)


def show(runs_dir: Path, json_output: bool) -> None:
    rows = list_runs(runs_dir)
    if json_output:
        typer.echo(json.dumps({"runs_dir": str(runs_dir), "runs": [row_json(r) for r in rows]}))
        return
    if not rows:
        # soft_wrap: a long path stays on one line (a log or a test reads it whole)
        stderr().print(f"no runs in {runs_dir}", markup=False, soft_wrap=True)
        return
    # The test columns follow the tasks present: accuracy for classification runs, RMSE and
    # R^2 for regression runs; a mixed folder shows both, "-" where a run has not that kind.
    tasks = {row.task for row in rows}
    tested: list[tuple[str, Any]] = []
    if "regression" not in tasks or "classification" in tasks:
        tested.append(("test acc", lambda row: _cell(row.test_accuracy)))
    if "regression" in tasks:
        tested.append(("test rmse", lambda row: _error_cell(row.test_rmse)))
        tested.append(("test r2", lambda row: _cell(row.test_r2)))
    headers = (
        "run",
        "status",
        "data",
        "epochs",
        "monitor",
        "best",
        *(name for name, _ in tested),
        "wall",
        "started",
    )
    cells = [
        (
            row.name,
            row.status,
            _cell(row.data),
            f"{_cell(row.epochs_completed)}/{_cell(row.epochs)}",
            _cell(row.monitor),
            _error_cell(row.best) if _is_error(row.monitor) else _cell(row.best),
            *(cell(row) for _, cell in tested),
            format_seconds(row.wall_seconds),
            format_started(row.started),
        )
        for row in rows
    ]
    # Plain aligned columns, not a rich Table: rich lays out 1,000 rows in seconds.
    typer.echo(f"{len(rows)} runs in {runs_dir}")
    typer.echo(_columns(headers, cells, left={0, 1, 2, 4}))


def _columns(headers: tuple[str, ...], rows: list[tuple[str, ...]], left: set[int]) -> str:
    """Rows of cells as aligned text; the columns in ``left`` flush left, the rest right."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _error_cell(value: Any) -> str:
    """An error in the targets' units (RMSE, MAE): four significant digits, whatever the unit
    (a target of order 1e-4 would read 0.0001 with four decimals)."""
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _is_error(monitor: str | None) -> bool:
    return bool(monitor) and monitor.endswith(("_rmse", "_mae"))


def compare(targets: list[str], out: Path, json_output: bool) -> None:
    result = compare_runs(targets, out)
    if json_output:
        table = {label: cells for label, cells in result.fields}
        table.update({f"config {key}": values for key, values in result.differences})
        payload = {"out": str(result.out), "runs": [row_json(r) for r in result.runs]}
        typer.echo(json.dumps({**payload, "table": table, "differences": dict(result.differences)}))
        return
    table = Table(title="runs compared", title_justify="left")
    table.add_column("")
    for label in result.labels:
        table.add_column(label, justify="right", overflow="fold")  # wrapped, never cut
    for label, cells in result.fields:
        table.add_row(label, *cells)
    Console(highlight=False, soft_wrap=True).print(table)
    # Config values as plain lines: a rich table cuts a long path ("GunPoint_TR…") to fit.
    if result.differences:
        typer.echo(f"config differences ({' | '.join(result.labels)}):")
        for key, values in result.differences:
            typer.echo(f"  {key}: {' | '.join(values)}")
    else:
        typer.echo("config differences: none (but the run names)")
    stderr().print(f"wrote {result.out}", markup=False, soft_wrap=True)
