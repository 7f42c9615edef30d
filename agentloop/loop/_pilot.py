"""The pilot of a `k = "auto"` vote: single calls on the episode's first steps, then the plan
(`agentloop.planning`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentloop.conditions import Condition
from agentloop.planning import PILOT_CALLS, plan_k
from agentloop.types import KPlan, Limits

if TYPE_CHECKING:
    from agentloop.models import Model
    from agentloop.types import EpisodeRecord


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
    from agentloop.loop import run_episode  # the pilot is an episode of its own

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
