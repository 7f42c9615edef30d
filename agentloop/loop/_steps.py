"""One atomic step, as plain functions: plan → work → check (→ re-ask) → commit.

No LangGraph here: the graph (`_graph.py`) calls `run_step` as often as fits in a time quantum.
The re-ask under `verify` is `agentloop.supports.verify`, and the worker's vote is
`agentloop.supports.vote`: the same building blocks a library user gets.
"""

from __future__ import annotations

from agentloop.errors import ModelError
from agentloop.loop._episode import Episode, OutOfBudget, Proposal, StepTally
from agentloop.loop._planner import PlanOutcome, plan_next
from agentloop.loop._worker import ask_step, stepwise_question
from agentloop.supports import verify
from agentloop.types import Attempt, Step, StepRecord, Verdict


def run_step(ep: Episode) -> bool:
    """Advance the episode by one step; False when it is over (`ep.status` says why)."""
    i = len(ep.step_ok)
    if i >= len(ep.steps) or (ep.planner is not None and ep.planner.finished(ep.tape.state)):  # no step left
        ep.status = "solved" if ep.scenario.is_goal(ep.instance, ep.tape.state) else "failed"
        return False
    if ep.over_budget():
        ep.status = "budget"
        return False
    step = ep.steps[i]
    ep.tally = StepTally()
    retries = ep.condition.max_retries if ep.condition.verify else 0
    plan = None
    try:
        if ep.planner is not None:  # planner=llm: the model chooses the step first
            plan = plan_next(ep, i)
            if plan.leaf is None:
                return plan_failed(ep, step, plan)
            step, ep.plan_intent = plan.leaf.step, plan.leaf.intent
        result = verify(lambda feedback, attempt: ask_step(ep, step, attempt, feedback),
                        lambda p: check(ep, step, p), max_retries=retries)
    except OutOfBudget:
        ep.status = "budget"
        return False
    except ModelError as exc:
        ep.error, ep.status = str(exc), "error"
        return False
    return commit(ep, step, result.attempts, plan)


def check(ep: Episode, step: Step, p: Proposal) -> Verdict:
    """The checker: judges every answer (for the record); only `verify` acts on the verdict."""
    if p.problem is not None:
        return Verdict.reject("format", f"could not read an answer ({p.problem})", observed=p.text[:200] or None)
    truth = ep.scenario.check(ep.instance, ep.tape.state, step, p.answer)
    if ep.checker is None:
        return truth
    return ep.checker.judge(ep, step, p, truth)  # rules, critic or program acts; the truth is kept beside it


def plan_failed(ep: Episode, step: Step, plan: PlanOutcome) -> bool:
    """The planner's proposal was unreadable, impossible, or rejected to the end: the step is
    recorded with code `plan` (or `format`) and its proposals, and the episode ends."""
    t = ep.tally
    ep.on_track = False
    ep.step_ok.append(False)
    ep.records.append(
        StepRecord(
            index=step.index, label=f"plan for step {step.index + 1}", code=plan.code or "plan", ok=False,
            first_ok=False, on_track=False, committed=False, samples=0, calls=t.calls,
            prompt_tokens=t.prompt_tokens, tokens_out=t.tokens_out, latency_s=t.latency_s,
            plans=plan.plans, plan_ok=False,
        )
    )
    ep.status = "format" if plan.code == "format" else "failed"
    return False


def commit(ep: Episode, step: Step, attempts: list[tuple[Proposal, Verdict]], plan: PlanOutcome | None = None) -> bool:
    """Write the last answer to the tape, or end the episode when it cannot (or may not) be.

    Without `verify` a legal but wrong answer is committed: the agent cannot know. With it, only
    an accepted answer is. Unreadable and illegal answers are never committed.
    """
    sc, inst = ep.scenario, ep.instance
    p, v = attempts[-1]
    truth = p.truth or v  # what the answer really was (the verdict itself, when the simulator judged)
    committed = v.ok or (v.code == "wrong" and not ep.condition.verify)
    if committed:
        ep.tape.commit(step, p.answer, v.code)
        if ep.oracle:
            ep.true_state = sc.apply(inst, ep.true_state, step, sc.solve(inst, ep.true_state, step))
            ep.on_track = ep.on_track and sc.on_track(inst, ep.tape.state, ep.true_state)
        else:  # no oracle to follow: on track while every committed answer was accepted
            ep.on_track = ep.on_track and truth.ok
        if ep.condition.decompose and not ep.condition.tape:
            ep.transcript.append({"role": "user", "content": stepwise_question(ep, step)})
            ep.transcript.append({"role": "assistant", "content": p.text or sc.format_answer(p.answer)})
            # What the environment reports back (Wordle's colours) opens the next question; with a
            # tape it is in the window instead.
            ep.observation = sc.observation(inst, ep.tape.state, step)
    else:
        ep.on_track = False
    red_flags = sum(q.red_flags for q, _ in attempts)
    ep.format_retries += red_flags
    ep.step_ok.append(truth.ok)
    plan_ok = None
    if plan is not None and plan.leaf is not None:
        plan_ok = plan.leaf.plan_ok
        ep.planned_right += plan_ok
        ep.planned_right_ok += plan_ok and truth.ok
    if ep.keeps_records:
        ep.records.append(_record(ep, step, attempts, truth, committed, red_flags, plan, plan_ok))
    if not committed:
        # An answer that could not be read even after its format retries is not drift.
        ep.status = "format" if v.code == "format" else "failed"
    return committed


def _record(ep: Episode, step: Step, attempts: list[tuple[Proposal, Verdict]], truth: Verdict, committed: bool,
            red_flags: int, plan: PlanOutcome | None, plan_ok: bool | None) -> StepRecord:
    """The step's record, from values already validated (so none is validated again)."""
    p, t = attempts[-1][0], ep.tally
    return StepRecord.model_construct(
        index=step.index,
        label=step.label,
        answer=None if p.problem is not None else ep.scenario.to_json_answer(p.answer),
        code=truth.code,
        ok=truth.ok,
        first_ok=(attempts[0][0].truth or attempts[0][1]).ok,
        on_track=ep.on_track,
        committed=committed,
        attempts=[
            Attempt.model_construct(prompt=q.prompt, replies=q.replies, verdict=w, votes=q.votes, truth=q.truth,
                                    review=q.review)
            for q, w in attempts
        ],
        format_retries=red_flags,
        votes=p.votes,
        samples=sum(q.samples for q, _ in attempts),
        calls=t.calls,
        prompt_tokens=t.prompt_tokens,
        tokens_out=t.tokens_out,
        latency_s=t.latency_s,
        plans=plan.plans if plan is not None else [],
        plan_ok=plan_ok,
    )
