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

A condition with `k = "auto"` plans its k per episode (`agentloop.loop._pilot`, called by
`run_episode`): a pilot of single calls on the episode's first steps (at most `PILOT_CALLS`),
then the vote with the planned k. The plan, with the pilot's calls and tokens, is kept in the
record (`EpisodeRecord.k_plan`); the pilot's requests pass through the same model (and so the
same budgets) as the episode's, and are not part of its step counts.
"""

from __future__ import annotations

import math

from agentloop.conditions import MAX_K
from agentloop.metrics import TARGET, _k_min, _log_vote_accuracy, _vote_accuracy, _wilson
from agentloop.types import KPlan

__all__ = ["PILOT_CALLS", "plan_k", "vote_calls"]

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
