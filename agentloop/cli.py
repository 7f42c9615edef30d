"""The command line: a thin shell over the library (parse, call, print).

Exit codes: 0 all done, 1 some episodes errored or are missing (a provider error, a spent
budget), 2 bad input (one `error:` line on stderr, never a traceback), 130 interrupted. Results
go to stdout, and only results: everything else (logs, warnings, progress) goes to stderr, so
`--json` output is pure JSON. Only this module configures logging.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager, redirect_stdout
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from agentloop.errors import AgentloopError

try:  # typer >= 0.20 carries its own click, whose errors derive from TyperException
    from typer import TyperException as _UsageError
except ImportError:
    from click import ClickException as _UsageError


class _OneLineErrors(TyperGroup):
    """Usage errors (a flag's bad value, an unknown option or command) are one `error:` line and
    exit code 2 like every other bad input, not click's framed box."""

    def main(
        self, args: Any = None, prog_name: Any = None, complete_var: Any = None, standalone_mode: bool = True, **extra: Any
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _UsageError as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError":  # plain `agentloop`: the help, not an error
                typer.echo(ctx.get_help())
                sys.exit(0)
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            typer.echo(f"error: {' '.join(exc.format_message().split())}{where}", err=True)
            sys.exit(2)
        except typer.Abort:
            typer.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    help="Reliable LLM agents on long step-by-step tasks, and the instrument that measures goal drift.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@contextmanager
def user_errors():
    """Turn AgentloopError into one line on stderr and exit code 2. While the work runs, stdout
    is stderr: a library that prints (litellm's debug log) never mixes into the results, which
    the commands print afterwards."""
    try:
        with redirect_stdout(sys.stderr):
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
    with user_errors():  # a plugin that fails to load is one error line, not a traceback
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


# How big a run may be (see agentloop.experiment.Sizes for the defaults and why).
_MaxSteps = Annotated[Optional[int], typer.Option(min=1, help="refuse episodes of more steps [default: 100000]")]
_MaxPromptTokens = Annotated[
    Optional[int],
    typer.Option(min=1, help="refuse episodes whose largest request is estimated larger [default: 1000000]"),
]


def _sizes(**given: Optional[int]):
    from agentloop.experiment import Sizes

    return Sizes(**{k: v for k, v in given.items() if v is not None})


# `run` keeps every step's record (and transcript) for episodes up to this many steps.
STEPS_KEPT = 10_000


@app.command()
def run(
    scenario: Annotated[str, typer.Argument(help="scenario name (see `agentloop scenarios`)")],
    param: Annotated[Optional[list[str]], typer.Option("--param", "-p", help="scenario parameter key=value")] = None,
    condition: Annotated[str, typer.Option(help="oneshot, stepwise, tape, vote, verify or full")] = "tape",
    condition_field: Annotated[
        Optional[list[str]],
        typer.Option("--condition-field", "-C", help="change a field of the condition, key=value (e.g. vote=true, "
                     "planner=llm, checker=critic, cot=true, inject_step=5; see docs/conditions.md)"),
    ] = None,
    model: Annotated[str, typer.Option(help="provider/model, e.g. scripted/noisy, openai/gpt-4o-mini")] = "scripted/oracle",
    model_arg: Annotated[Optional[list[str]], typer.Option("--model-arg", "-M", help="model argument key=value")] = None,
    seed: Annotated[int, typer.Option(help="instance seed (0 to 2^63 - 1)")] = 0,
    max_steps: _MaxSteps = None,
    max_prompt_tokens: _MaxPromptTokens = None,
    steps: Annotated[
        Optional[bool],
        typer.Option("--steps/--no-steps", help=f"keep every step's record and transcript in the output (default: "
                     f"when the episode has at most {STEPS_KEPT:,} steps; beyond, the record without its per-step "
                     "arrays, in bounded memory)"),
    ] = None,
    transcripts: Annotated[
        Optional[bool],
        typer.Option("--transcripts/--no-transcripts", help="keep reply texts and requests with the step records "
                     "(default: when the step records are kept or stored)"),
    ] = None,
    out: Annotated[
        Optional[str],
        typer.Option("--out", "-o", help="results directory: the episode streams into DIR/results.sqlite with "
                     "checkpoints, and the same command resumes it after a kill (or prints it once stored)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the EpisodeRecord as JSON")] = False,
) -> None:
    """Run one episode and print its record (exit code 1 if a provider error ended it)."""
    from agentloop._kv import parse_pairs
    from agentloop.conditions import get_condition, parse_condition_overrides
    from agentloop.experiment import MAX_SEED, check_episode_size
    from agentloop.models import get_model, parse_model_args
    from agentloop.scenarios import get_scenario, parse_params

    with user_errors():
        if not 0 <= seed <= MAX_SEED:
            raise AgentloopError(f"--seed {seed}: seeds are 0 to {MAX_SEED} (2^63 - 1)")
        sc = get_scenario(scenario)
        params = parse_params(sc, parse_pairs(param, "-p"))
        cond = get_condition(condition, **parse_condition_overrides(parse_pairs(condition_field, "-C")))
        check_episode_size(sc, params, [cond], seed, _sizes(max_steps=max_steps, max_prompt_tokens=max_prompt_tokens))
        args = parse_model_args(model_arg or [])
        m = get_model(model, **args)
        if steps is None:
            steps = len(sc.steps(sc.generate(params, seed))) <= STEPS_KEPT
        if out is not None:
            record = _run_stored(out, sc, params, cond, m, args, seed, transcripts=transcripts is not False, steps=steps)
        else:
            from agentloop.loop import run_episode
            from agentloop.loop._episode import discard

            # Without the step records the loop builds none (the `discard` sink), nor any per-step
            # answer list: a million-step episode holds only its totals in memory.
            drop = None if steps else discard
            keep = steps if transcripts is None else transcripts
            record = run_episode(sc, params, condition=cond, model=m, model_args=args, seed=seed, sink=drop,
                                 transcripts=keep, answers=steps)
    if as_json:
        if steps:
            typer.echo(record.model_dump_json())
        else:  # no million-element arrays: the totals, and which fields were left out
            head = record.model_dump(mode="json", exclude=set(_PER_STEP))
            head["omitted"] = list(_PER_STEP)
            typer.echo(json.dumps(head))
    else:
        _print_record(record)
    if record.status == "error":
        raise typer.Exit(1)


# What `run --json` leaves out of the record when the steps are not kept: one entry per step.
_PER_STEP = ("steps", "step_ok", "answer", "expected", "prompts")


def _run_stored(out, sc, params, cond, model, args, seed: int, *, transcripts: bool, steps: bool):
    """`run --out DIR`: the episode under its experiment key in DIR's store — printed from
    there when it is stored, else run (resumed from its checkpoint, if a run was killed) and
    stored; a provider error is not stored, so the same command resumes it."""
    from pathlib import Path

    from agentloop.experiment import _lock_dir, _make_dir, episode_key, provenance
    from agentloop.loop import run_episode
    from agentloop.store import ResultsStore

    key = episode_key(sc.name, params.model_dump(), cond, model.name, args, seed)
    where = _make_dir(Path(out))
    with _lock_dir(where), ResultsStore(where / "results.sqlite") as store:
        if key not in store.episode_keys():
            spec = {"command": "run", "scenario": sc.name, "params": params.model_dump(mode="json"),
                    "condition": cond.identity(), "model": model.name, "seed": seed, "transcripts": transcripts}
            run_id = store.begin_run(spec, provenance())
            with store.journal(key) as journal:
                record = run_episode(sc, params, condition=cond, model=model, model_args=args, seed=seed, key=key,
                                     transcripts=transcripts, journal=journal)
            stored = record.status != "error" and store.add_episode(key, record, run_id)
            store.end_run(run_id, {"episode": key, "status": record.status, "stored": stored})
            if not (steps and stored):
                return record
        found = store.episode(key, prompts=steps) if steps else store.episode_head(key)
    if found is None:
        raise AgentloopError(f"{out}: episode {key} is not in the store")
    return found


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
    append: Annotated[bool, typer.Option("--append", help="add this experiment to a DIR that holds another")] = False,
    max_episodes: Annotated[
        Optional[int], typer.Option(min=1, help="refuse a grid of more episodes [default: 100000]")
    ] = None,
    max_steps: _MaxSteps = None,
    max_prompt_tokens: _MaxPromptTokens = None,
    executor: Annotated[
        Optional[str],
        typer.Option(help="where episodes run: local (threads) or ray (RAY_ADDRESS, or a local Ray started for the "
                     "run; the [ray] extra) [default: the file's executor, else local]"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the run summary as JSON")] = False,
) -> None:
    """Run an experiment grid; re-running it finishes only the episodes not yet stored.
    Exit code 1 when episodes are left errored or missing (the warnings say why)."""
    from agentloop.experiment import load_experiment, run_experiment, with_models
    from agentloop.models import parse_model_args

    with user_errors():
        sizes = _sizes(max_episodes=max_episodes, max_steps=max_steps, max_prompt_tokens=max_prompt_tokens)
        spec = load_experiment(file, sizes=sizes)
        if model:
            spec = with_models(spec, model, parse_model_args(model_arg or []), max_connections, sizes=sizes)
        elif model_arg:
            raise AgentloopError("-M/--model-arg needs --model (the file's models carry their own args)")
        try:
            summary = run_experiment(
                spec, out, progress=False if quiet else None, append=append, sizes=sizes, executor=executor
            )
        except KeyboardInterrupt:
            typer.echo("interrupted: finished episodes are stored; run the same command again to finish", err=True)
            raise typer.Exit(130) from None
    if as_json:
        typer.echo(summary.model_dump_json())
    else:
        sim = " (simulated)" if summary.simulated else ""
        typer.echo(
            f"{summary.planned} episodes planned, {summary.already_done} already stored; ran {summary.ran}{sim} "
            f"({summary.stored} stored, {summary.aborted} cut short) in {summary.wall_s:.1f} s "
            f"({summary.episodes_per_s:.1f} episodes/s) → {summary.store}"
        )
    for line in summary.warnings:
        typer.echo(f"warning: {line}", err=True)
    if summary.missing:
        raise typer.Exit(1)


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
        conditions = [g.condition for g in data.metrics.by_condition]
        if baseline is not None and baseline not in conditions:
            raise AgentloopError(f"unknown --baseline {baseline!r}; conditions: {', '.join(conditions)}")
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


@app.command()
def export(
    out_dir: Annotated[str, typer.Argument(help="experiment directory (holding results.sqlite)")],
    fmt: Annotated[str, typer.Option("--format", help="inspect: one inspect_ai log per cell (the [inspect] extra)")] = "inspect",
    dest: Annotated[Optional[str], typer.Option("--dest", help="directory to write to [default: DIR/inspect]")] = None,
) -> None:
    """Write an experiment's stored episodes in another tool's format; prints the files written."""
    from agentloop.interop._export import export_episodes

    with user_errors():
        paths = export_episodes(out_dir, format=fmt, dest=dest)
    for path in paths:
        typer.echo(str(path))


# `agentloop learn` lives in its own module; it imports only typer here, torch when a study runs.
from agentloop.learn._cli import learn as _learn  # noqa: E402

app.command("learn")(_learn)

# `agentloop models` and `agentloop demo` live in their own module too (typer only at import).
from agentloop._local_cli import demo as _demo, models as _models  # noqa: E402

app.command("models")(_models)
app.command("demo")(_demo)


def main() -> None:
    try:
        app()
    finally:
        # The results are out; what a library logs while the process exits (litellm's atexit
        # worker under -v) is not one of them.
        sys.stdout.flush()
        sys.stdout = sys.stderr


if __name__ == "__main__":
    main()
