"""The command line: a thin shell over the library (parse, call, print).

Every user error is one line on stderr and exit code 2. Only this module configures logging.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from typing import Annotated, Optional

import typer

from agentloop.errors import AgentloopError

app = typer.Typer(
    help="Reliable LLM agents on long step-by-step tasks, and the instrument that measures goal drift.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@contextmanager
def user_errors():
    """Turn AgentloopError into one line on stderr and exit code 2."""
    try:
        yield
    except AgentloopError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="diagnostic logs on stderr")] = False) -> None:
    if verbose:
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, format="%(message)s")


@app.command()
def scenarios(as_json: Annotated[bool, typer.Option("--json", help="machine-readable list")] = False) -> None:
    """List the scenarios and their parameters."""
    from agentloop.scenarios import allowed_values, describe_params, get_scenario, list_scenarios

    items = []
    for name in list_scenarios():
        sc = get_scenario(name)
        items.append({"name": name, "summary": sc.summary, "checker": sc.checker, "params": describe_params(sc)})
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("scenario", "parameters (default, range)", "summary")
    for it in items:
        params = ", ".join(f"{p['name']}={p['default']} ({allowed_values(p)})" for p in it["params"])
        table.add_row(it["name"], params, it["summary"])
    Console().print(table)


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="scenario name (see `agentloop scenarios`)")],
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="scenario parameter key=value")] = None,
    condition: Annotated[str, typer.Option(help="oneshot, stepwise, tape, vote, verify or full")] = "tape",
    model: Annotated[str, typer.Option(help="provider/model, e.g. scripted/noisy, openai/gpt-4o-mini")] = "scripted/oracle",
    model_arg: Annotated[Optional[list[str]], typer.Option("--model-arg", "-M", help="model argument key=value")] = None,
    seed: Annotated[int, typer.Option(help="instance seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the EpisodeRecord as JSON")] = False,
) -> None:
    """Run one episode and print its record."""
    from agentloop._kv import parse_pairs
    from agentloop.conditions import get_condition
    from agentloop.loop import run_episode
    from agentloop.models import get_model, parse_model_args
    from agentloop.scenarios import get_scenario, parse_params

    with user_errors():
        sc = get_scenario(scenario)
        params = parse_params(sc, parse_pairs(param, "-p"))
        cond = get_condition(condition)
        args = parse_model_args(model_arg or [])
        m = get_model(model, **args)
        record = run_episode(sc, params, condition=cond, model=m, model_args=args, seed=seed)
    if as_json:
        typer.echo(record.model_dump_json())
        return
    _print_record(record)


def _print_record(r) -> None:
    from rich.console import Console

    con = Console()
    params = " ".join(f"{k}={v}" for k, v in r.params.items())
    sim = " [yellow](simulated)[/yellow]" if r.simulated else ""
    con.print(f"[bold]{r.scenario}[/bold] {params} · condition {r.condition} · model {r.model}{sim} · seed {r.seed}")
    verdict = "[green]solved[/green]" if r.success else f"[red]{r.status}[/red]"
    first = "none" if r.first_error_step is None else str(r.first_error_step)
    con.print(
        f"{verdict} · {sum(r.step_ok)}/{r.steps_total} steps locally correct · first error at step {first} · "
        f"{r.calls} calls · {r.tokens_in:,} tokens in / {r.tokens_out:,} out · {r.wall_s:.2f} s"
    )
    if r.error:
        con.print(f"[red]error:[/red] {r.error}", markup=False)


@app.command()
def experiment(
    file: Annotated[str, typer.Argument(help="experiment TOML file (examples in scenarios/)")],
    out: Annotated[str, typer.Option("--out", "-o", help="results directory; results go to DIR/results.sqlite")],
    model: Annotated[Optional[list[str]], typer.Option(help="run on this model instead of the file's")] = None,
    model_arg: Annotated[Optional[list[str]], typer.Option("--model-arg", "-M", help="key=value for --model")] = None,
    max_connections: Annotated[Optional[int], typer.Option(min=1, help="requests in flight per --model")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the run summary as JSON")] = False,
) -> None:
    """Run an experiment grid; re-running it finishes only the episodes not yet stored."""
    from agentloop.experiment import load_experiment, run_experiment, with_models
    from agentloop.models import parse_model_args

    with user_errors():
        spec = load_experiment(file)
        if model:
            spec = with_models(spec, model, parse_model_args(model_arg or []), max_connections)
        elif model_arg:
            raise AgentloopError("-M/--model-arg needs --model (the file's models carry their own args)")
        try:
            summary = run_experiment(spec, out, progress=False if quiet else None)
        except KeyboardInterrupt:
            typer.echo("interrupted: finished episodes are stored; run the same command again to finish", err=True)
            raise typer.Exit(130) from None
    if as_json:
        typer.echo(summary.model_dump_json())
        return
    sim = " (simulated)" if summary.simulated else ""
    typer.echo(
        f"{summary.planned} episodes planned, {summary.already_done} already stored; ran {summary.ran}{sim} "
        f"({summary.stored} stored, {summary.aborted} cut short) in {summary.wall_s:.1f} s "
        f"({summary.episodes_per_s:.1f} episodes/s) → {summary.store}"
    )
    if summary.budget_exhausted:
        typer.echo("warning: the experiment budget is spent; episodes not run are missing", err=True)
    if summary.provider_errors:
        typer.echo(
            f"warning: {summary.provider_errors} episodes ended with a provider error (not stored; run again to "
            f"retry); first: {summary.first_error}",
            err=True,
        )


@app.command()
def report(
    out_dir: Annotated[str, typer.Argument(help="experiment directory (holding results.sqlite)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as JSON")] = False,
    html: Annotated[Optional[str], typer.Option("--html", help="also write a self-contained HTML report here")] = None,
    cells: Annotated[bool, typer.Option("--cells", help="also a table per scenario, size and model")] = False,
    baseline: Annotated[Optional[str], typer.Option(help="condition the others are paired against")] = None,
) -> None:
    """Goal-drift metrics of an experiment, per condition, with 95% intervals."""
    from agentloop.report import load_report, print_report, report_json, write_html_report

    with user_errors():
        data = load_report(out_dir, baseline=baseline)
        if html:
            path = write_html_report(out_dir, html, data=data)
    if as_json:
        typer.echo(json.dumps(report_json(data)))
    else:
        print_report(data, cells=cells)
    if html:
        typer.echo(f"wrote {path}", err=True)


@app.command()
def show(
    out_dir: Annotated[str, typer.Argument(help="experiment directory (holding results.sqlite)")],
    episode: Annotated[str, typer.Argument(help="episode key (a unique prefix will do; see `report --json`)")],
    step: Annotated[Optional[int], typer.Option(help="only this step")] = None,
    prompts: Annotated[bool, typer.Option("--prompts", help="also print each attempt's request")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the EpisodeRecord as JSON")] = False,
) -> None:
    """One episode's transcript: every attempt's replies, verdicts and vote tallies."""
    from pathlib import Path

    from agentloop.store import ResultsStore
    from agentloop.transcript import render_transcript

    with user_errors():
        with ResultsStore(Path(out_dir) / "results.sqlite", create=False) as store:
            rec = store.episode(episode, prompts=prompts or as_json)
        if rec is None:
            raise AgentloopError(f"no single episode with key {episode!r} in {out_dir} (give more of the key)")
    if as_json:
        typer.echo(rec.model_dump_json())
        return
    typer.echo(render_transcript(rec, step=step, prompts=prompts))


# `agentloop learn` lives in its own module; it imports only typer here, torch when a study runs.
from agentloop.learn._cli import learn as _learn  # noqa: E402

app.command("learn")(_learn)

# `agentloop models` and `agentloop demo` live in their own module too (typer only at import).
from agentloop._local_cli import demo as _demo, models as _models  # noqa: E402

app.command("models")(_models)
app.command("demo")(_demo)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
