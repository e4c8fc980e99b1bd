"""What ``conv1d sweep`` prints: the trials of a dry run, and the result of a sweep."""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.console import Console
from rich.table import Table

from conv1d_cli.sweep.driver import SweepResult, run_sweep
from conv1d_cli.sweep.plan import Plan
from conv1d_cli.sweep.report import describe


def _show(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def print_plan(plan: Plan, out: Console) -> None:
    """The trials a sweep would run (grid, random), or its search space (bayes)."""
    spec = plan.sweep.spec
    out.print(
        f"sweep {plan.name}: method {spec.method}, metric {spec.metric.name} "
        f"({'maximize' if spec.metric.maximize else 'minimize'}), base config "
        f"{plan.sweep.base_path}, runs in {plan.sweep_dir}",
        markup=False,
    )
    keys = list(spec.parameters)
    if plan.trials and not out.is_terminal:  # piped: one greppable line per trial
        out.print(f"{len(plan.trials)} trials, every config valid", markup=False)
        for index, params in enumerate(plan.trials):
            cells = " ".join(f"{k}={_show(params[k])}" for k in keys)
            out.print(f"trial-{index:03d} {cells}", markup=False, soft_wrap=True)
        return
    if plan.trials:
        table = Table(title=f"{len(plan.trials)} trials, every config valid", title_justify="left")
        table.add_column("trial")
        for key in keys:
            table.add_column(key, justify="right")
        for index, params in enumerate(plan.trials):
            table.add_row(f"trial-{index:03d}", *(_show(params[k]) for k in keys))
        out.print(table)
        return
    table = Table(
        title=f"up to {spec.run_cap} trials chosen one by one by TPE", title_justify="left"
    )
    table.add_column("parameter")
    table.add_column("space")
    for key, p in spec.parameters.items():
        if p.values is not None:
            space = "one of " + ", ".join(_show(v) for v in p.values)
        elif p.distribution is not None:
            space = f"{p.distribution} in [{_show(p.min)}, {_show(p.max)}]"
        else:
            space = f"fixed {_show(p.value)}"
        table.add_row(key, space)
    out.print(table)


def sweep_command(
    plan: Plan, sweep_file: Path, workers: int | None, err: Console, out: Console
) -> SweepResult:
    """Run the sweep; print where its results are and the best trial."""
    command = ["conv1d", "sweep", str(sweep_file)]
    if workers:
        command += ["--workers", str(workers)]
    result = run_sweep(plan, workers=workers, console=err, resume_command=shlex.join(command))
    counts: dict[str, int] = {}
    for record in result.records:
        counts[record.status] = counts.get(record.status, 0) + 1
    tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    out.print(f"sweep: {result.sweep_dir} ({tally})", markup=False)
    unfinished = [r for r in result.records if not r.finished]
    if unfinished:
        err.print(
            f"{len(unfinished)} trials unfinished; resume with: {shlex.join(command)}",
            markup=False,
            soft_wrap=True,
        )
    if result.best is not None:
        out.print(f"best: {describe(result.best, plan.sweep.spec.metric.name)}", markup=False)
        out.print(f"train it: conv1d train {result.sweep_dir / 'best.yaml'}", markup=False)
    return result
