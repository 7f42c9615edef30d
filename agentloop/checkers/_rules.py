"""The `rules` checker: legality without the answer key."""

from __future__ import annotations

from typing import Any

from agentloop.scenarios import Scenario
from agentloop.types import Step, Verdict


def has_rules(scenario: Scenario) -> bool:
    """Whether the scenario states legality rules (defines `illegal`); without them `rules`
    would accept everything, so it is refused."""
    return type(scenario).illegal is not Scenario.illegal


def rules_verdict(scenario: Scenario, inst: Any, state: Any, step: Step, answer: Any) -> Verdict:
    """Reject an answer that breaks the rules; accept any legal one (right or wrong)."""
    why = scenario.illegal(inst, state, step, answer)
    observed = scenario.to_json_answer(answer)
    if why is not None:
        return Verdict.reject("illegal", why, observed=observed)
    return Verdict.accept(observed)
