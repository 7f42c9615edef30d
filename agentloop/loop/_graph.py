"""The agent loop as a LangGraph StateGraph: plan → work → check → commit → plan …

Nodes are plain functions of (state, runtime). The state holds only which step and which
attempt; the episode's growing data lives in the run context (`Episode`). Routing is by
`Command(goto=...)`, so each node names where control goes next. This module imports
langgraph; nothing imports it until an episode runs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from agentloop.errors import ModelError
from agentloop.loop._episode import Episode, OutOfBudget, StepTally
from agentloop.loop._worker import ask_oneshot, ask_once, ask_vote, stepwise_question
from agentloop.types import Attempt, StepRecord, Verdict


class LoopState(TypedDict):
    step: int
    attempt: int


def recursion_limit(ep: Episode) -> int:
    """Super-steps the graph may take: per step, plan + commit + (work + check) per attempt.
    (Format re-asks happen inside `work` and take no super-step.)"""
    attempts = ep.condition.max_retries + 1 if ep.condition.verify else 1
    return len(ep.steps) * (2 + 2 * attempts) + 8


def _end(ep: Episode, status):
    ep.status = status
    return Command(goto=END)


def plan(state: LoopState, runtime: Runtime[Episode]) -> Command[Literal["work", "__end__"]]:
    """The planner: the decomposer's next step, or the end (done, or out of budget)."""
    ep: Episode = runtime.context
    i = state["step"]
    if i >= len(ep.steps):
        return _end(ep, "solved" if ep.scenario.is_goal(ep.instance, ep.tape.state) else "failed")
    if ep.over_budget():
        return _end(ep, "budget")
    ep.tally, ep.feedback = StepTally(), None
    return Command(goto="work", update={"attempt": 0})


def work(state: LoopState, runtime: Runtime[Episode]) -> Command[Literal["check", "__end__"]]:
    """The worker: one answer for the current step (one call, a vote, or the whole-task reply)."""
    ep: Episode = runtime.context
    step = ep.steps[state["step"]]
    try:
        if not ep.condition.decompose:
            proposal = ask_oneshot(ep, step)
        elif ep.condition.vote:
            proposal = ask_vote(ep, step, state["attempt"])
        else:
            proposal = ask_once(ep, step, state["attempt"])
    except OutOfBudget:
        return _end(ep, "budget")
    except ModelError as exc:
        ep.error = str(exc)
        return _end(ep, "error")
    ep.tally.samples += proposal.samples
    ep.tally.format_retries += proposal.format_retries
    ep.format_retries += proposal.format_retries
    ep.proposal = proposal
    return Command(goto="check")


def check(state: LoopState, runtime: Runtime[Episode]) -> Command[Literal["work", "commit"]]:
    """The checker: always judges (for the record); under `verify` a rejection is re-asked."""
    ep: Episode = runtime.context
    step, p = ep.steps[state["step"]], ep.proposal
    if p.problem is not None:
        verdict = Verdict.reject("format", f"could not read an answer ({p.problem})", observed=p.text[:200] or None)
    else:
        verdict = ep.scenario.check(ep.instance, ep.tape.state, step, p.answer)
    if ep.tally.first_ok is None:
        ep.tally.first_ok = verdict.ok
    ep.verdict = verdict
    ep.tally.attempts.append(Attempt(prompt=p.prompt, replies=p.replies, verdict=verdict, votes=p.votes))
    if ep.condition.verify and not verdict.ok and state["attempt"] < ep.condition.max_retries:
        ep.feedback = verdict
        return Command(goto="work", update={"attempt": state["attempt"] + 1})
    return Command(goto="commit")


def commit(state: LoopState, runtime: Runtime[Episode]) -> Command[Literal["plan", "__end__"]]:
    """Write the answer to the tape, or fail the episode when it cannot (or may not) be written.

    Without `verify` a legal but wrong answer is committed: the agent cannot know. With it, only
    an accepted answer is. Unreadable and illegal answers are never committed.
    """
    ep: Episode = runtime.context
    i = state["step"]
    sc, inst, step, v, p = ep.scenario, ep.instance, ep.steps[i], ep.verdict, ep.proposal
    committed = v.ok or (v.code == "wrong" and not ep.condition.verify)
    if committed:
        ep.tape.commit(step, p.answer, v.code)
        truth = sc.solve(inst, ep.true_state, step)
        ep.true_state = sc.apply(inst, ep.true_state, step, truth)
        ep.on_track = ep.on_track and sc.on_track(inst, ep.tape.state, ep.true_state)
        if ep.condition.decompose and not ep.condition.tape:
            ep.transcript.append({"role": "user", "content": stepwise_question(ep, step)})
            ep.transcript.append({"role": "assistant", "content": p.text or sc.format_answer(p.answer)})
            # What the environment reports back (Wordle's colours) opens the next question; with a
            # tape it is in the window instead.
            ep.observation = sc.observation(inst, ep.tape.state, step)
    else:
        ep.on_track = False
    t = ep.tally
    ep.records.append(
        StepRecord(
            index=step.index,
            label=step.label,
            answer=None if p.problem is not None else sc.to_json_answer(p.answer),
            code=v.code,
            ok=v.ok,
            first_ok=bool(t.first_ok),
            on_track=ep.on_track,
            committed=committed,
            attempts=t.attempts,
            format_retries=t.format_retries,
            votes=p.votes,
            samples=t.samples,
            calls=t.calls,
            prompt_tokens=t.prompt_tokens,
            tokens_out=t.tokens_out,
            latency_s=t.latency_s,
        )
    )
    if not committed:
        # An answer that could not be read even after its format retries is not drift.
        return _end(ep, "format" if v.code == "format" else "failed")
    return Command(goto="plan", update={"step": i + 1})


@lru_cache(maxsize=1)
def build_graph():
    """The compiled graph (the same for every episode; the episode comes in the run context)."""
    g = StateGraph(LoopState, context_schema=Episode)
    g.add_node("plan", plan)
    g.add_node("work", work)
    g.add_node("check", check)
    g.add_node("commit", commit)
    g.add_edge(START, "plan")
    return g.compile()
