"""The `models` and `demo` commands (registered in cli.py). Only typer is imported at the top,
so `agentloop --help` stays fast; the rest loads when a command runs."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Optional

import typer


def models(as_json: Annotated[bool, typer.Option("--json", help="machine-readable list")] = False) -> None:
    """List the models usable now: scripted, local (with whether their weights are installed), keyed providers."""
    from agentloop.models._catalog import list_models

    items = list_models(os.environ)
    if as_json:
        typer.echo(json.dumps([m.model_dump() for m in items], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("model", "kind", "ready", "details")
    for m in items:
        ready = "[green]yes[/green]" if m.available else "[red]no[/red]"
        kind = m.kind + (" (simulated)" if m.simulated else "") + (" · default" if m.default else "")
        table.add_row(m.name, kind, ready, m.detail)
    Console().print(table)


def demo(
    model: Annotated[Optional[str], typer.Option(help="model to run (default: the default local model)")] = None,
    seeds: Annotated[int, typer.Option(min=1, max=50, help="instances per condition")] = 6,
    model_arg: Annotated[Optional[list[str]], typer.Option("--model-arg", "-M", help="model argument key=value")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the per-condition summary as JSON")] = False,
    out: Annotated[Optional[str], typer.Option(help="also store the records in DIR/results.sqlite and write DIR/report.html")] = None,
) -> None:
    """A small comparative experiment: eca rule 110 (8 cells, 3 generations) under oneshot, stepwise, tape, vote and verify."""
    from rich.console import Console

    from agentloop.cli import user_errors
    from agentloop.demo import DemoConfig, compare, summarise
    from agentloop.models import get_model, parse_model_args

    con = Console(stderr=True)
    with user_errors():
        args = parse_model_args(model_arg or [])
        cfg = DemoConfig(seeds=tuple(range(seeds)), model_args=args, **({"model": model} if model else {}))
        m = get_model(cfg.model, **dict(args))  # fail on a bad name before the progress bar
        if hasattr(getattr(m, "inner", None), "load"):
            with con.status(f"checking and loading {cfg.model} …"):
                m.inner.load()
        records = _run_with_progress(cfg, con)
    rows = summarise(records)
    pairs = compare(records)
    if out:
        from agentloop.demo import save_demo

        with user_errors():
            store_path, html_path = save_demo(cfg, records, out)
    simulated = any(r.simulated for r in records)
    if as_json:
        typer.echo(json.dumps({"model": cfg.model, "simulated": simulated, "scenario": cfg.scenario,
                               "params": cfg.params, "conditions": [r.model_dump() for r in rows],
                               "paired": [c.model_dump() for c in pairs]}))
        return
    _print_table(cfg, rows, simulated)
    _print_pairs(pairs)
    if out:
        con.print(f"stored {len(records)} episodes in {store_path}; report: {html_path} (also `agentloop report {out}`)")


def _run_with_progress(cfg, con):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agentloop.demo import run_demo

    total = len(cfg.conditions) * len(cfg.seeds)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=con
    ) as bar:
        task = bar.add_task("episodes", total=total)
        return run_demo(
            cfg,
            on_start=lambda cond, seed: bar.update(task, description=f"{cond:<8} seed {seed}"),
            on_episode=lambda rec: bar.advance(task),
        )


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _ci(ci) -> str:
    return "" if ci is None else f" [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]"


def _print_table(cfg, rows, simulated: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    # Piped or captured output has no terminal width; 120 columns keep the table unwrapped.
    con = Console(width=None if sys.stdout.isatty() else 120)
    params = ", ".join(f"{k}={v}" for k, v in cfg.params.items())
    kind = "[yellow]SIMULATED (scripted model, not a language model)[/yellow]" if simulated else "real model, in-process"
    title = f"{cfg.scenario} ({params}) · model {cfg.model} · {kind}"
    table = Table(title=title)
    for col in ("condition", "solved [95% CI]", "step acc. [95% CI]", "1st-try acc.", "steps done", "calls", "tokens in", "tokens out", "s"):
        table.add_column(col, justify="left" if col == "condition" else "right", no_wrap=col == "condition")
    for r in rows:
        table.add_row(
            r.condition,
            f"{r.solved}/{r.episodes}{_ci(r.success_ci)}",
            _pct(r.step_accuracy) + _ci(r.step_accuracy_ci),
            _pct(r.first_attempt_accuracy),
            f"{r.steps_attempted}/{r.steps_total}",
            f"{r.calls:,}",
            f"{r.tokens_in:,}",
            f"{r.tokens_out:,}",
            f"{r.wall_s:.1f}",
        )
    con.print(table)
    con.print(
        "step acc.: locally correct steps among those attempted (an episode stops at a step it cannot commit); "
        "1st-try acc.: before any verifier feedback (under verify a binary 'wrong' gives the answer away). "
        "Intervals: 95%, Wilson for success, clustered by episode for steps."
    )


def _print_pairs(pairs) -> None:
    """The demo's conclusion, with its uncertainty: each support against the growing conversation,
    on the same instances — in solved episodes, and in how far an episode gets before its first
    error (the share of steps right from the start)."""
    from rich.console import Console

    con = Console(width=None if sys.stdout.isatty() else 120)
    for c in pairs:
        parts = []
        for what, diff, ci in (("solved", c.success_diff, c.success_diff_ci),
                               ("steps before the first error", c.steps_share_diff, c.steps_share_diff_ci)):
            if ci is not None:
                parts.append(f"{what} {100 * diff:+.0f} points [{100 * ci[0]:+.0f}, {100 * ci[1]:+.0f}] ({_direction(ci)})")
        if parts:
            con.print(f"{c.condition} vs {c.baseline} on {c.pairs} paired instances: " + "; ".join(parts), markup=False)


def _direction(ci) -> str:
    if ci[0] > 0:
        return "better"
    if ci[1] < 0:
        return "worse"
    return "no difference shown"
