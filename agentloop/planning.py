"""MAKER's planning of k: how many votes ahead a step's winner must be, chosen from a pilot.

    plan = plan_k(correct=996, judged=1000, steps=1_048_575)   # a pilot's single calls
    plan.k, plan.expected_calls, plan.projected_success

With single-call accuracy p and first-to-ahead-by-k voting, a step is right with probability
p_k = 1 / (1 + ((1 − p)/p)^k) (MAKER, arXiv 2511.09030; `agentloop.metrics` computes it), and
s steps are all right with p_k^s. `k_min` is the smallest k with p_k^s ≥ the target. It is
taken from the LOWER end of p's 95% interval, so a short pilot that saw few errors plans a
cautious k. A vote then draws, on average, E = k (2 p_k − 1) / (2p − 1) samples per step (the
gambler's-ruin duration of a race to a lead of k between the right answer and one wrong one;
wrong answers that disagree with each other only make it cheaper), so a task of s steps costs
about s · E calls; since k_min grows like ln s, that is Θ(s ln s).

A condition with `k = "auto"` plans its k per episode (`resolve_auto_k`, called by
`run_episode`): a pilot of single calls on the episode's first steps (at most `PILOT_CALLS`),
then the vote with the planned k. The plan, with the pilot's calls and tokens, is kept in the
record (`EpisodeRecord.k_plan`); the pilot's requests pass through the same model (and so the
same budgets) as the episode's, and are not part of its step counts.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from agentloop.conditions import MAX_K, Condition
from agentloop.metrics import TARGET, _k_min, _log_vote_accuracy, _vote_accuracy, _wilson
from agentloop.types import KPlan, Limits

if TYPE_CHECKING:
    from agentloop.models import Model
    from agentloop.types import EpisodeRecord

__all__ = ["PILOT_CALLS", "plan_k", "resolve_auto_k", "vote_calls"]

# The most single calls a pilot makes (fewer when the task has fewer steps).
PILOT_CALLS = 1000


def vote_calls(p: float, k: int) -> float:
    """Expected samples of one first-to-ahead-by-k vote between the right answer (probability p
    per sample) and one wrong answer: k (2 p_k − 1) / (2p − 1), k² at p = 1/2."""
    if k <= 1:
        return 1.0
    if abs(2 * p - 1) < 1e-12:
        return float(k * k)
    return k * (2 * _vote_accuracy(p, k) - 1) / (2 * p - 1)


def plan_k(
    correct: int,
    judged: int,
    steps: int,
    *,
    target: float = TARGET,
    pilot_calls: int = 0,
    pilot_tokens: int = 0,
    pilot_cost: float | None = None,
) -> KPlan:
    """The k for a task of `steps` steps, from a pilot in which `correct` of `judged` single
    calls were right. k is k_min at the lower end of p's Wilson interval, at most `MAX_K`;
    `reaches_target` says whether that k reaches `target` there (it cannot when p ≤ 1/2)."""
    if not 0 <= correct <= judged:
        raise ValueError(f"correct={correct} must be between 0 and judged={judged}")
    p = correct / judged if judged else 0.0
    lo, hi = _wilson(correct, judged) if judged else (0.0, 1.0)
    k_cautious = _k_min(lo, steps, target)
    k = min(k_cautious, MAX_K) if k_cautious is not None else MAX_K
    per_step = vote_calls(p, k)
    cost_per_call = pilot_cost / pilot_calls if pilot_cost is not None and pilot_calls else None
    return KPlan(
        p=p,
        p_ci=(lo, hi),
        pilot_judged=judged,
        pilot_correct=correct,
        pilot_calls=pilot_calls,
        pilot_tokens=pilot_tokens,
        pilot_cost=pilot_cost,
        steps=steps,
        target=target,
        k=k,
        k_point=_k_min(p, steps, target),
        reaches_target=k_cautious is not None and k_cautious <= MAX_K,
        projected_success=math.exp(steps * _log_vote_accuracy(p, k)),
        projected_success_lo=math.exp(steps * _log_vote_accuracy(lo, k)),
        calls_per_step=per_step,
        expected_calls=steps * per_step,
        projected_cost=steps * per_step * cost_per_call if cost_per_call is not None else None,
    )


def resolve_auto_k(
    scenario: Any,
    params: Any,
    condition: Condition,
    model: Model,
    *,
    model_args: dict[str, Any] | None,
    seed: int,
    key: str | None,
    limits: Limits,
    steps: int,
) -> tuple[Condition, KPlan | None, Limits, EpisodeRecord | None]:
    """For `condition.k == "auto"` under a vote: run the pilot, plan k. Returns the condition
    with its k, the plan, the limits left for the episode, and the pilot's record when the
    pilot ended with a provider error (the episode then ends with it). A condition that does
    not vote step by step has no use for k: it is returned as it is, with no pilot."""
    from agentloop.loop import run_episode

    if condition.k != "auto" or not (condition.vote and condition.decompose):
        return condition, None, limits, None
    budget = min(PILOT_CALLS, steps)
    if limits.max_calls is not None:  # a call is left for the episode itself
        budget = min(budget, limits.max_calls - 1)
    if budget < 1:  # no room for a pilot: nothing is known of p, and the plan is the cautious one
        plan = plan_k(0, 0, steps)
        return condition.model_copy(update={"k": plan.k}), plan, limits, None
    pilot_cond = condition.model_copy(update={"vote": False, "verify": False, "k": 1})
    pilot = run_episode(
        scenario,
        params,
        condition=pilot_cond,
        model=model,
        model_args=model_args,
        seed=seed,
        limits=limits.model_copy(update={"max_calls": budget}),
        key=None if key is None else f"{key}/pilot",
        transcripts=False,
        sink=lambda records, requests: None,
    )
    if pilot.status == "error":
        return condition, None, limits, pilot
    tokens = pilot.tokens_in + pilot.tokens_out
    plan = plan_k(
        sum(pilot.step_ok), len(pilot.step_ok), steps,
        pilot_calls=pilot.calls, pilot_tokens=tokens, pilot_cost=pilot.cost,
    )
    left = Limits(
        max_calls=None if limits.max_calls is None else limits.max_calls - pilot.calls,
        max_tokens=None if limits.max_tokens is None else max(1, limits.max_tokens - tokens),
        max_cost=None if limits.max_cost is None else max(1e-12, limits.max_cost - (pilot.cost or 0.0)),
    )
    return condition.model_copy(update={"k": plan.k}), plan, left, None
