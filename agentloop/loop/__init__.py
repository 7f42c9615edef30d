"""The loop: run one episode (an instance, a condition, a model) through the agent graph."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from agentloop.conditions import Condition, get_condition
from agentloop.models import Model, get_model, redact_args
from agentloop.scenarios import Params, Scenario, get_scenario, parse_params
from agentloop.tape import Tape
from agentloop.types import EpisodeRecord, Limits

if TYPE_CHECKING:
    from agentloop.loop._durable import Journal
    from agentloop.loop._episode import Sink

__all__ = ["arun_episode", "episode_graph", "run_episode"]


def episode_graph():
    """The loop as a compiled LangGraph subgraph (state: task → tape, verdicts, record); see `_subgraph`."""
    from agentloop.loop._subgraph import episode_graph as build

    return build()


def run_episode(
    scenario: str | Scenario,
    params: dict[str, Any] | Params | None = None,
    *,
    condition: str | Condition = "tape",
    model: str | Model = "scripted/oracle",
    model_args: dict[str, Any] | None = None,
    seed: int = 0,
    limits: Limits | None = None,
    key: str | None = None,
    transcripts: bool = True,
    sink: Sink | None = None,
    journal: Journal | None = None,
    answers: bool = True,
) -> EpisodeRecord:
    """Generate the instance for (scenario, params, seed), run it, and return its record.

    Names are resolved through the registries; a model given as an object is used as is (its
    `model_args` are then only recorded). Provider failures end the episode with status
    `error` and a message; they are never raised.

    `key` names the episode (an experiment passes its episode key); every request's seed is
    derived from it with the step, attempt and sample, so samples are independent and a re-run
    replays exactly. `transcripts=False` keeps verdicts and counts but drops reply texts and
    prompts (for huge runs). `sink(records, requests)`, when given, receives the step records
    in batches as the episode runs (a store, or nothing for a run that only needs the totals),
    and the returned record's `steps` is then empty: memory stays bounded however long it runs.

    `journal` (`ResultsStore.journal(key)`) makes the episode resumable: the step records go to
    the store in batches, each with a checkpoint of the episode's state, and a later call with
    the same journal continues from the last checkpoint (losing at most one time quantum of
    work) to the same record an uninterrupted run gives (its `wall_s` adds up the runs' times).
    `answers=False` leaves out the record's `answer` and `expected`, and the tape keeps no
    answers: a scenario whose result lists every step's answer (hanoi) then holds none in memory.
    """
    from agentloop import __version__
    from agentloop._log import get_logger
    from agentloop.loop._episode import Episode
    from agentloop.loop._graph import build_graph, recursion_limit
    from agentloop.loop._planner import planner_for

    sc = get_scenario(scenario) if isinstance(scenario, str) else scenario
    p = params if isinstance(params, Params) else parse_params(sc, params or {})
    cond = get_condition(condition) if isinstance(condition, str) else condition
    args = dict(model_args or {})
    m = get_model(model, **args) if isinstance(model, str) else model
    inst = sc.generate(p, seed)
    hint_key = f"{sc.name}:{p.model_dump_json()}:{seed}"
    steps = sc.steps(inst)  # a Sequence; a long plan may build its steps on demand (hanoi)
    plan, run_cond, limits = None, cond, limits or Limits()
    if cond.k == "auto":  # MAKER's planning: a pilot of single calls, then the vote with the k it plans
        from agentloop.loop._pilot import resolve_auto_k

        run_cond, plan, limits, failed = resolve_auto_k(
            sc, p, cond, m, model_args=args, seed=seed, key=key, limits=limits, steps=len(steps)
        )
        if failed is not None:  # a provider error ended the pilot: the episode ends with it
            return failed
    ep = Episode(
        scenario=sc,
        instance=inst,
        steps=steps,
        condition=run_cond,
        model=m,
        # Simulated randomness is keyed by the instance (scenario, params, seed), not by the
        # condition, so conditions compared on one instance see the same draws.
        key=key or f"{hint_key}:{cond.identity_json()}:{m.name}",
        hint_key=hint_key,
        limits=limits,
        transcripts=transcripts,
        sink=sink,
        journal=journal,
        tape=Tape(sc, inst, entries=False, answers=answers),
        true_state=sc.initial_state(inst),
        planner=planner_for(sc, inst) if cond.planner == "llm" else None,
    )
    if journal is not None:
        from agentloop.loop._durable import restore

        cp = journal.load()
        if cp is not None and not restore(ep, cp, journal):
            journal.discard()  # not this episode's, or unreadable: it starts over
    try:
        build_graph().invoke({"step": 0}, context=ep, config={"recursion_limit": recursion_limit(ep)})
    finally:
        ep.close()

    get_logger("agentloop.loop").debug(
        "episode.done", scenario=sc.name, condition=cond.name, model=m.name, seed=seed, status=ep.status, calls=ep.calls
    )
    step_ok = [bool(ok) for ok in ep.step_ok]
    first_error = ep.step_ok.find(0) if 0 in ep.step_ok else None
    return EpisodeRecord(
        scenario=sc.name,
        params=p.model_dump(),
        condition=cond.name,
        model=m.name,
        model_args=redact_args(args or dict(m.args)),
        seed=seed,
        status=ep.status or "failed",
        success=ep.status == "solved",
        steps_total=len(ep.steps) if ep.planner is None else ep.planner.steps_total(
            ep.tape.state, len(ep.step_ok), len(ep.steps)
        ),
        steps_correct=len(step_ok) if first_error is None else first_error,
        first_error_step=first_error,
        step_ok=step_ok,
        calls=ep.calls,
        retries=ep.retries,
        format_retries=ep.format_retries,
        tokens_in=ep.tokens_in,
        tokens_out=ep.tokens_out,
        cost=ep.cost,
        wall_s=ep.earlier_s + time.perf_counter() - ep.started,
        simulated=m.simulated,
        error=ep.error,
        initial=sc.initial_json(inst),
        expected=sc.expected_json(inst) if answers else None,
        answer=sc.result_json(inst, ep.tape.state, ep.tape.answers) if answers else None,
        steps=ep.records,
        prompts=ep.prompts,
        agentloop_version=__version__,
        checks=ep.checker.tally if ep.checker is not None else None,
        k_plan=plan,
        plans=ep.plans,
        plan_errors=ep.plan_errors,
        planned_right=ep.planned_right,
        planned_right_ok=ep.planned_right_ok,
        inject_step=cond.inject_step,
    )


async def arun_episode(*args: Any, **kwargs: Any) -> EpisodeRecord:
    """`run_episode` for asyncio applications: the loop runs in a worker thread, so the event
    loop stays free while the model is asked (the same arguments and record)."""
    import asyncio

    return await asyncio.to_thread(run_episode, *args, **kwargs)
