"""``conv1d lr-find``: sweep the learning rate on a config's own data and network, suggest one.

Registered on the app in cli/app.py. Nothing is written unless ``--out`` names a picture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from conv1d_cli.cli.common import JsonOption, SetOption, stderr, stdout, user_errors
from conv1d_cli.training.lrfind import BATCHES, END_LR, START_LR


def lr_find_command(
    ctx: typer.Context,
    config: Annotated[
        Path, typer.Argument(help="The experiment's YAML config.", show_default=False)
    ],
    set_: SetOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE.png",
            help="Write the loss-vs-rate picture there.",
            show_default=False,
        ),
    ] = None,
    batches: Annotated[
        int, typer.Option("--batches", min=2, help="Training batches in the sweep.")
    ] = BATCHES,
    start_lr: Annotated[
        float, typer.Option("--start-lr", help="The sweep's first rate.")
    ] = START_LR,
    end_lr: Annotated[float, typer.Option("--end-lr", help="The sweep's last rate.")] = END_LR,
    json_output: JsonOption = False,
) -> None:
    """Sweep the learning rate over ~100 training batches (growing exponentially, stopping when
    the loss diverges) and suggest one: where the smoothed loss falls fastest."""
    from conv1d_cli.config import resolve_config
    from conv1d_cli.data import load_dataset
    from conv1d_cli.training.lrfind import find_lr, plot_sweep
    from conv1d_cli.training.setup import preflight_training, settle_task

    with user_errors(ctx):
        cfg = resolve_config(config, set_ or [])
        data = load_dataset(cfg.data, cfg.seed, task=cfg.task)
        cfg = settle_task(cfg, data.task, len(data.y_val) > 0)
        preflight_training(cfg, data)
        sweep = find_lr(cfg, data, start_lr=start_lr, end_lr=end_lr, batches=batches)
        if out is not None:
            plot_sweep(sweep, out, title=f"lr-find: {cfg.name} ({sweep.batches} batches)")
    if json_output:
        typer.echo(json.dumps({"suggested_lr": sweep.suggested_lr}))
        return
    ending = "the loss diverged" if sweep.diverged else "the sweep's end"
    stdout().print(
        f"suggested lr: {sweep.suggested_lr:.3g} (steepest descent of the smoothed loss; "
        f"{sweep.batches} batches from {sweep.lrs[0]:.3g} to {sweep.lrs[-1]:.3g}, {ending})",
        markup=False,
    )
    if out is not None:
        stderr().print(f"wrote {out}", markup=False, soft_wrap=True)
