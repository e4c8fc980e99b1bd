"""What every ``conv1d`` command shares: the --set/--json options, the two consoles, and the
mapping of errors to one line and an exit code (2 bad input, 4 storage, 1 unexpected).

Results go to stdout, progress and messages to stderr; tracebacks only with ``--debug``.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from conv1d_cli.errors import Conv1dError

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
# What eval, predict and export read: a checkpoint file or a run directory (its best checkpoint).
CheckpointArgument = Annotated[
    Path,
    typer.Argument(
        metavar="CHECKPOINT_OR_RUN",
        help="A .safetensors checkpoint, or a run directory (its best checkpoint).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as one JSON object on stdout.")
]


def stderr() -> Console:
    """Progress, messages and errors (never mixed into a command's results)."""
    return Console(stderr=True, highlight=False)


def stdout() -> Console:
    """A command's results (tables, ``--json``), not wrapped, so they stay parseable."""
    return Console(highlight=False, soft_wrap=True)


@contextmanager
def user_errors(ctx: typer.Context) -> Iterator[None]:
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
        stderr().print(f"{prefix}{exc}", markup=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        stderr().print("interrupted", markup=False)
        raise typer.Exit(130) from None
    except OSError as exc:
        storage_error(exc, debug)  # disk full & co outside the run-file writers: exit 4
        unexpected(exc, debug)
    except Exception as exc:
        unexpected(exc, debug)


def storage_error(exc: OSError, debug: bool) -> None:
    """A storage OSError (full disk, read-only folder, ...): one line, exit 4; others return."""
    from conv1d_cli.rundir.atomic import STORAGE_ERRORS

    if exc.errno not in STORAGE_ERRORS:
        return
    if debug:
        traceback.print_exc()
    where = f" while writing {exc.filename}" if exc.filename else ""
    stderr().print(f"error: {STORAGE_ERRORS[exc.errno]}{where}", markup=False, soft_wrap=True)
    raise typer.Exit(4) from None


def unexpected(exc: Exception, debug: bool) -> None:
    """A bug, not the user's mistake: one line with the exception's type and exit 1."""
    if debug:
        traceback.print_exc()
    first = (str(exc).strip().splitlines() or [""])[0]
    stderr().print(
        f"error: unexpected {type(exc).__name__}: {first} (rerun with --debug for the traceback)",
        markup=False,
        soft_wrap=True,
    )
    raise typer.Exit(1) from None


def fail(message: str) -> None:
    """A bad command-line argument: one line on stderr, exit 2."""
    stderr().print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(2)
