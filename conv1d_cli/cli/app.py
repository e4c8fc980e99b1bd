"""The ``conv1d`` command: thin Typer wrappers that parse, call one function and print.

Results go to stdout (``--json``: one JSON object), progress and messages to stderr. A user's
mistake is one line on stderr and exit code 2; tracebacks only with ``--debug``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from conv1d_cli.cli.common import (
    CheckpointArgument,
    JsonOption,
    SetOption,
    stderr,
    stdout,
    user_errors,
)
from conv1d_cli.cli.explain import explain_command, show_command
from conv1d_cli.cli.inspection import outsize_command, summary_command
from conv1d_cli.cli.predict import export_command, predict_command
from conv1d_cli.cli.runs import runs_command
from conv1d_cli.cli.tuning import lr_find_command
from conv1d_cli.errors import ConfigError
from conv1d_cli.version import __version__

app = typer.Typer(
    name="conv1d",
    help="Train one-dimensional convolutional networks written in plain NumPy, from YAML configs.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # our own one-line errors; never dump locals (whole arrays)
    rich_markup_mode="rich",
)


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
        from conv1d_cli.parallel.alloc import keep_freed_memory

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
        str | None,
        typer.Option(
            "--name",
            help="Run name (default: the config's name, plus the data file's stem when data.path "
            "is a file: resnet1d-GunPoint).",
        ),
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
    from conv1d_cli.build.summary import summarize
    from conv1d_cli.config import config_to_yaml, resolve_config
    from conv1d_cli.training import setup as training
    from conv1d_cli.training.progress import make_reporter

    overrides = set_ or []
    err = stderr()
    with user_errors(ctx):
        if print_config:
            if config is None:
                raise ConfigError("--print-config needs a CONFIG file")
            cfg = resolve_config(config, overrides, name, runs_dir)
            typer.echo(config_to_yaml(cfg), nl=False)
            return
        reporter = make_reporter(err, quiet=quiet or json_output)
        setup = training.setup_training(
            config, overrides, name=name, runs_dir=runs_dir, resume=resume, reporter=reporter
        )
        if isinstance(setup, training.FinishedRun):
            if json_output:
                typer.echo(json.dumps({"run_dir": str(setup.run_dir), "status": "finished"}))
            else:
                err.print(setup.message, markup=False)
            return
        model_table = _write_model_table(summarize(setup.trainer.model, setup.data), setup)
        if not (quiet or json_output):
            err.print(setup.data.description, markup=False, soft_wrap=True)
            err.print(model_table, markup=False, highlight=False, soft_wrap=True)
            err.print(f"run directory: {setup.trainer.run_dir}", markup=False)
        try:
            result = training.run_training(setup)
        finally:
            reporter.close()
        print_training_result(result, json_output)


def _write_model_table(summary: Any, setup: Any) -> Any:
    """Write the per-layer table to the run's model.txt; return what stderr shows of it.

    On a terminal the table itself; in a log (stderr not a terminal) one line: a deep network's
    table wrapped to the log's 80 columns was hundreds of lines (``conv1d summary`` has it all).
    """
    from conv1d_cli.rundir.atomic import atomic_write_text
    from conv1d_cli.training.progress import short_summary, summary_table, table_text

    table = summary_table(summary, title=f"model ({summary.total_params:,} parameters)")
    path = setup.trainer.run_dir / "model.txt"
    atomic_write_text(path, f"data: {setup.data.description}\n{table_text(table)}")
    return table if stderr().is_terminal else short_summary(summary, str(path))


def print_training_result(result: Any, json_output: bool) -> None:
    """The end of ``conv1d train``: run, best epoch and the test result (or one JSON object)."""
    summary = result.summary
    if json_output:
        payload = {"run_dir": str(result.run_dir), **summary}
        typer.echo(json.dumps(payload, default=_json_safe))
        return
    out = stdout()
    out.print(f"run: {result.run_dir} ({summary['status']})", markup=False)
    best = summary["best"]
    if best["value"] is not None:
        out.print(f"best: {best['metric']} {best['value']:.4f} at epoch {best['epoch']}")
    test = summary.get("test")
    if test:
        # A held-out split is not the archive's test set: say so where the result is read.
        held_out = (summary.get("test_split") or {}).get("source") == "held out"
        where = ", held out of the training data" if held_out else ""
        out.print(f"test: {metrics_text(test)}  (n={test['n']}{where})")


def metrics_text(result: dict[str, Any]) -> str:
    """ "accuracy 0.9860  loss 0.0563" or "rmse 0.1445  mae 0.1085  r2 0.9942  loss 0.0050":
    the task's metrics of a test result in its order, then the loss (n is the caller's)."""
    names = [key for key in result if key not in ("loss", "n")]
    # bounded scores: 4 decimals; the rest (rmse, mae, loss) have the targets' units
    exact = ("accuracy", "balanced_accuracy", "macro_f1", "r2")
    return (
        "  ".join(
            f"{key} {result[key]:.4f}" if key in exact else f"{key} {result[key]:.4g}"
            for key in names
        )
        + f"  loss {result['loss']:.4f}"
    )


def _json_safe(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


# ------------------------------------------------------------------------------------- eval
@app.command(name="eval")
def eval_(
    ctx: typer.Context,
    target: CheckpointArgument,
    set_: SetOption = None,
    json_output: JsonOption = False,
) -> None:
    """Rebuild the network from a checkpoint alone and evaluate it on the test split.

    Point it at other data with --set, e.g. --set data.source=idx --set data.path=DIR.
    """
    from conv1d_cli.inference.evaluate import evaluate_checkpoint
    from conv1d_cli.task import get_task

    with user_errors(ctx):
        result = evaluate_checkpoint(target, set_ or [])
    report = result.report
    if json_output:
        typer.echo(json.dumps(report, default=_json_safe))
        return
    out = stdout()
    out.print(f"checkpoint: {result.checkpoint} (epoch {report['epoch']})", markup=False)
    out.print(f"data: {report['data']}", markup=False)
    out.print(get_task(report.get("task")).headline(report), markup=False)
    if "per_output" in report:  # regression
        if len(report["per_output"]) > 1:
            out.print(_per_output_table(report))
    else:
        out.print(_per_class_table(report))
        out.print(_confusion_table(report))
    if result.run_dir is not None:
        stderr().print(
            f"wrote {result.run_dir / 'eval.json'} and {result.picture}",
            markup=False,
            soft_wrap=True,
        )


def _per_output_table(report: dict[str, Any]) -> Table:
    table = Table(title="per output (in each target's units)", title_justify="left")
    for column in ("target", "rmse", "mae", "r2"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for row in report["per_output"]:
        table.add_row(row["target"], f"{row['rmse']:.4g}", f"{row['mae']:.4g}", f"{row['r2']:.4f}")
    return table


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
app.command(name="explain")(explain_command)  # conv1d explain RUN INPUT --out DIR (cli/explain.py)
app.command(name="show")(show_command)  # a conv layer's kernels, feature maps (cli/explain.py)


# ---------------------------------------------------------------------------- outsize, summary
app.command(name="outsize")(outsize_command)  # the output-length arithmetic (cli_inspect.py)
app.command(name="summary")(summary_command)  # per-layer table of a config (cli_inspect.py)
app.command(name="lr-find")(lr_find_command)  # the learning-rate finder (cli/tuning.py)


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

    with user_errors(ctx):
        from conv1d_cli.sweep.plan import make_plan

        plan = make_plan(sweep_file)
        if dry_run:
            print_plan(plan, stdout())
            return
        sweep_command(plan, sweep_file, workers, stderr(), stdout())


# ------------------------------------------------------------------------------------- runs
app.command(name="runs")(runs_command)  # conv1d runs [RUNS_DIR] | compare RUN RUN ... (cli/runs.py)


def main() -> None:
    """The console script: a time budget (train.max_minutes) counts from the process start."""
    from conv1d_cli.training import budget

    budget.COMMAND_STARTED = time.perf_counter() - budget.process_seconds()
    app()
