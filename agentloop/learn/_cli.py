"""The `agentloop learn` command (registered by agentloop/cli.py). Cheap to import: only typer."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer


def _ints(text: str | None, flag: str) -> tuple[int, ...] | None:
    """"32,64,96" → (32, 64, 96); AgentloopError on anything else."""
    from agentloop.errors import AgentloopError

    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise AgentloopError(f"{flag} {text!r}: expected whole numbers separated by commas, e.g. 32,64,96") from None
    return values


def learn(
    scenario: Annotated[str, typer.Argument(help="eca or life")],
    rule: Annotated[int, typer.Option(help="Wolfram rule (eca)")] = 110,
    models: Annotated[
        Optional[str],
        typer.Option(help="comma list: local, decoder, whole, whole+sinusoidal, whole+conv, whole+tokens, whole+gru, whole+xy (life)"),
    ] = None,
    train_size: Annotated[Optional[int], typer.Option(help="trained width (eca, default 32) or board side (life, 8)")] = None,
    sizes: Annotated[Optional[str], typer.Option(help="evaluated sizes, e.g. 32,64,96 (life: 8,16)")] = None,
    rollouts: Annotated[Optional[str], typer.Option(help="generations rolled out, e.g. 1,4,16")] = None,
    seeds: Annotated[Optional[int], typer.Option(help="training seeds 0..N-1 (the interval is over them)")] = None,
    whole_steps: Annotated[Optional[int], typer.Option(help="optimiser steps of the whole-state models and the decoder")] = None,
    local_steps: Annotated[Optional[int], typer.Option(help="optimiser steps of the local model")] = None,
    eval_cases: Annotated[Optional[int], typer.Option(help="test rows (boards) per size and seed")] = None,
    d_model: Annotated[Optional[int], typer.Option(help="transformer width")] = None,
    layers: Annotated[Optional[int], typer.Option(help="transformer layers")] = None,
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads (default 1)")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="whole and local, rollouts 1 and 4, fewer steps: minutes")] = False,
    out: Annotated[Optional[str], typer.Option(help="also write learn.json, learn.png and learn.html here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON object")] = False,
) -> None:
    """Train small networks on eca/life: whole-state models (transformer, +gru, decoder) vs a local model over a tape."""
    from agentloop.cli import user_errors
    from agentloop.errors import AgentloopError
    from agentloop.learn._config import make_config, quick_config
    from agentloop.learn._report import print_table, write_outputs
    from agentloop.learn._study import run_study

    with user_errors():
        if seeds is not None and not 1 <= seeds <= 20:
            raise AgentloopError(f"--seeds {seeds}: choose 1..20")
        given = {
            "rule": rule,
            "models": None if models is None else models.split(","),
            "train_size": train_size,
            "sizes": _ints(sizes, "--sizes"),
            "rollouts": _ints(rollouts, "--rollouts"),
            "seeds": None if seeds is None else tuple(range(seeds)),
            "whole_steps": whole_steps,
            "local_steps": local_steps,
            "eval_cases": eval_cases,
            "d_model": d_model,
            "layers": layers,
            "threads": threads,
        }
        values = {k: v for k, v in given.items() if v is not None}
        if scenario not in ("eca", "life"):
            raise AgentloopError(f"agentloop learn: unknown scenario {scenario!r}; choose one of: eca, life")
        cfg = quick_config(scenario, **values) if quick else make_config(scenario=scenario, **values)  # type: ignore[arg-type]
        result = run_study(cfg, progress=lambda line: typer.echo(line, err=True))
        paths = write_outputs(result, out) if out else []
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json")))
    else:
        print_table(result)
    for p in paths:
        typer.echo(f"wrote {p}", err=True)
