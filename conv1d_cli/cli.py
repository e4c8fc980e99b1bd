"""The ``conv1d`` command: thin Typer wrappers that parse, call one function and print.

Results go to stdout (``--json``: one JSON object), progress and messages to stderr. A user's
mistake is one line on stderr and exit code 2; tracebacks only with ``--debug``.
"""

from __future__ import annotations

import json
import math
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from conv1d_cli import __version__
from conv1d_cli.cli_predict import export_command, predict_command
from conv1d_cli.cli_runs import runs_command
from conv1d_cli.errors import ConfigError, Conv1dError

app = typer.Typer(
    name="conv1d",
    help="Train one-dimensional convolutional networks written in plain NumPy, from YAML configs.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # our own one-line errors; never dump locals (whole arrays)
    rich_markup_mode="rich",
)

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a config key (dotted, e.g. optimizer.lr=0.01); the value is read as YAML. "
        "Repeatable.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")
]


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


@contextmanager
def _user_errors(ctx: typer.Context) -> Iterator[None]:
    """Turn the project's errors into one line and an exit code; hide tracebacks unless --debug."""
    debug = bool(ctx.obj and ctx.obj.get("debug"))
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except Conv1dError as exc:
        if debug:
            traceback.print_exc()
        prefix = "" if exc.exit_code in (130, 143) else "error: "
        _stderr().print(f"{prefix}{exc}", markup=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _stderr().print("interrupted", markup=False)
        raise typer.Exit(130) from None
    except OSError as exc:
        _storage_error(exc, debug)  # disk full & co outside the run-file writers: exit 4
        _unexpected(exc, debug)
    except Exception as exc:
        _unexpected(exc, debug)


def _storage_error(exc: OSError, debug: bool) -> None:
    from conv1d_cli.atomic import STORAGE_ERRORS

    if exc.errno not in STORAGE_ERRORS:
        return
    if debug:
        traceback.print_exc()
    where = f" while writing {exc.filename}" if exc.filename else ""
    _stderr().print(f"error: {STORAGE_ERRORS[exc.errno]}{where}", markup=False, soft_wrap=True)
    raise typer.Exit(4) from None


def _unexpected(exc: Exception, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    first = (str(exc).strip().splitlines() or [""])[0]
    _stderr().print(
        f"error: unexpected {type(exc).__name__}: {first} (rerun with --debug for the traceback)",
        markup=False,
        soft_wrap=True,
    )
    raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"conv1d {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of unexpected errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Train, evaluate and inspect 1D CNNs. Quick start: conv1d train configs/mnist.yaml"""
    ctx.obj = {"debug": debug}
    # The command owns its process, so it may tune malloc: training reuses the same large blocks
    # every step (conv1d_cli/nn/alloc.py). A library import of conv1d_cli.nn changes nothing.
    # `conv1d runs` only reads small files: it skips the engine's import (numpy, scipy) entirely.
    if ctx.invoked_subcommand != "runs":
        from conv1d_cli.nn import keep_freed_memory

        keep_freed_memory()


# ------------------------------------------------------------------------------------ train
@app.command()
def train(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Argument(
            help="The experiment's YAML config. May be left out with --resume.",
            show_default=False,
        ),
    ] = None,
    set_: SetOption = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Run name (default: the config's name).")
    ] = None,
    runs_dir: Annotated[
        str | None, typer.Option("--runs-dir", help="Folder for run directories (default: runs).")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            metavar="RUN_OR_CHECKPOINT",
            help="Continue an interrupted run in its own directory (only train.epochs may change).",
        ),
    ] = None,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the fully resolved config and exit.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Train the network a YAML config describes; write runs/NAME/ (metrics, checkpoints, plots)."""
    from conv1d_cli import commands
    from conv1d_cli.config import config_to_yaml
    from conv1d_cli.progress import make_reporter, summary_table

    overrides = set_ or []
    err = _stderr()
    with _user_errors(ctx):
        if print_config:
            if config is None:
                raise ConfigError("--print-config needs a CONFIG file")
            cfg = commands.resolve_config(config, overrides, name, runs_dir)
            typer.echo(config_to_yaml(cfg), nl=False)
            return
        reporter = make_reporter(err, quiet=quiet or json_output)
        setup = commands.setup_training(
            config, overrides, name=name, runs_dir=runs_dir, resume=resume, reporter=reporter
        )
        if isinstance(setup, commands.FinishedRun):
            if json_output:
                typer.echo(json.dumps({"run_dir": str(setup.run_dir), "status": "finished"}))
            else:
                err.print(setup.message, markup=False)
            return
        if not (quiet or json_output):
            err.print(setup.data.description, markup=False)
            summary = commands.summarize(setup.trainer.model, setup.data)
            err.print(summary_table(summary, title=f"model ({summary.total_params:,} parameters)"))
            err.print(f"run directory: {setup.trainer.run_dir}", markup=False)
        try:
            result = commands.run_training(setup)
        finally:
            reporter.close()
        _print_training_result(result, json_output)


def _print_training_result(result: Any, json_output: bool) -> None:
    summary = result.summary
    if json_output:
        payload = {"run_dir": str(result.run_dir), **summary}
        typer.echo(json.dumps(payload, default=_json_safe))
        return
    out = _stdout()
    out.print(f"run: {result.run_dir} ({summary['status']})", markup=False)
    best = summary["best"]
    if best["value"] is not None:
        out.print(f"best: {best['metric']} {best['value']:.4f} at epoch {best['epoch']}")
    test = summary.get("test")
    if test:
        out.print(
            f"test: accuracy {test['accuracy']:.4f}  loss {test['loss']:.4f}  (n={test['n']})"
        )


def _json_safe(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


# ------------------------------------------------------------------------------------- eval
@app.command(name="eval")
def eval_(
    ctx: typer.Context,
    target: Annotated[
        Path,
        typer.Argument(
            metavar="CHECKPOINT_OR_RUN_DIR",
            help="A .safetensors checkpoint, or a run directory (its best checkpoint).",
            show_default=False,
        ),
    ],
    set_: SetOption = None,
    json_output: JsonOption = False,
) -> None:
    """Rebuild the network from a checkpoint alone and evaluate it on the test split.

    Point it at other data with --set, e.g. --set data.source=idx --set data.path=DIR.
    """
    from conv1d_cli.commands import evaluate_checkpoint

    with _user_errors(ctx):
        result = evaluate_checkpoint(target, set_ or [])
    report = result.report
    if json_output:
        typer.echo(json.dumps(report, default=_json_safe))
        return
    out = _stdout()
    out.print(f"checkpoint: {result.checkpoint} (epoch {report['epoch']})", markup=False)
    out.print(f"data: {report['data']}", markup=False)
    out.print(f"accuracy {report['accuracy']:.4f}  loss {report['loss']:.4f}  (n={report['n']})")
    out.print(_per_class_table(report))
    out.print(_confusion_table(report))
    if result.run_dir is not None:
        _stderr().print(f"wrote {result.run_dir / 'eval.json'} and confusion.png", markup=False)


def _per_class_table(report: dict[str, Any]) -> Table:
    table = Table(title="per class", title_justify="left")
    for column in ("class", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in report["per_class"]:
        table.add_row(
            row["class"],
            f"{row['precision']:.4f}",
            f"{row['recall']:.4f}",
            f"{row['f1']:.4f}",
            str(row["support"]),
        )
    return table


def _confusion_table(report: dict[str, Any]) -> Table:
    table = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
    names = report["class_names"]
    table.add_column("")
    for name in names:
        table.add_column(name, justify="right")
    for name, counts in zip(names, report["confusion"], strict=True):
        table.add_row(name, *(str(c) for c in counts))
    return table


# -------------------------------------------------------------------- predict, export
app.command(name="predict")(predict_command)  # conv1d predict RUN INPUT (cli_predict.py)
app.command(name="export")(export_command)  # conv1d export RUN --format onnx (cli_predict.py)


# ---------------------------------------------------------------------------------- outsize
@app.command()
def outsize(
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

    with _user_errors(ctx):
        padding: int | str = p.strip().lower()
        if padding not in ("same", "valid", "causal"):
            try:
                padding = int(padding)
            except ValueError:
                _fail(f"--p {p!r}: padding must be a non-negative integer, same, valid or causal")
        try:
            result = output_size(n, f, s, padding, d)
        except ValueError as exc:
            _fail(str(exc))
    if explain:
        typer.echo(_explain(n, f, s, padding, d, result))
    typer.echo(str(result))


def _fail(message: str) -> None:
    _stderr().print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(2)


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
@app.command()
def summary(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="The YAML config.", show_default=False)],
    set_: SetOption = None,
    json_output: JsonOption = False,
) -> None:
    """Per-layer table: output shape, parameters and multiply-accumulates per sample.

    Layers inside residual and parallel blocks follow their block, indented, named by path.
    """
    from conv1d_cli.commands import summarize_model
    from conv1d_cli.progress import summary_table

    with _user_errors(ctx):
        result = summarize_model(config, set_ or [])
    if json_output:
        payload = {
            "input_shape": list(result.input_shape),
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
        }
        typer.echo(json.dumps(payload))
        return
    out = _stdout()
    out.print(f"data: {result.data}", markup=False)
    out.print(summary_table(result, title=f"model summary ({config})"))
    out.print(
        f"total parameters: {result.total_params:,}   "
        f"multiply-accumulates per sample: {result.total_macs:,}"
    )


# ------------------------------------------------------------------------------------ sweep
@app.command()
def sweep(
    ctx: typer.Context,
    sweep_file: Annotated[
        Path, typer.Argument(metavar="SWEEP.yaml", help="The sweep file.", show_default=False)
    ],
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Trials at once (default: the sweep file's).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate every trial and print them; run nothing.")
    ] = False,
) -> None:
    """Hyperparameter search: many conv1d train runs from one sweep file (rerun to resume)."""
    from conv1d_cli.sweep.commands import print_plan, sweep_command

    with _user_errors(ctx):
        from conv1d_cli.sweep.plan import make_plan

        plan = make_plan(sweep_file)
        if dry_run:
            print_plan(plan, _stdout())
            return
        sweep_command(plan, sweep_file, workers, _stderr(), _stdout())


# ------------------------------------------------------------------------------------- runs
app.command(name="runs")(runs_command)  # conv1d runs [RUNS_DIR] | compare RUN RUN ... (cli_runs.py)


def main() -> None:
    app()
