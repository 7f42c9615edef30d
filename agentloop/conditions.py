"""Conditions: named sets of supports (decompose, tape, vote, verify) with their bounds."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentloop.errors import AgentloopError


class Condition(BaseModel):
    """Which supports are on, and the bounds of the loops they add."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    decompose: bool = Field(True, description="one atomic step per call (off: the whole task in one call)")
    tape: bool = Field(True, description="the step prompt is a window of the tape, not a growing conversation")
    vote: bool = Field(False, description="sample until one answer leads by k; red-flag bad answers")
    verify: bool = Field(False, description="check each step; re-ask with the verdict")
    k: int = Field(3, ge=1, le=20, description="votes the winner must lead by")
    max_samples: int = Field(20, ge=1, le=500, description="bound on samples per vote")
    max_retries: int = Field(3, ge=0, le=50, description="re-asks per step under verify")
    format_retries: int = Field(2, ge=0, le=10, description="re-asks of an unreadable reply before the episode stops")


PRESETS: dict[str, Condition] = {
    c.name: c
    for c in (
        Condition(name="oneshot", decompose=False, tape=False),
        Condition(name="stepwise", tape=False),
        Condition(name="tape"),
        Condition(name="vote", vote=True),
        Condition(name="verify", verify=True),
        Condition(name="full", vote=True, verify=True),
    )
}


def get_condition(name: str, **overrides: Any) -> Condition:
    """A preset by name, optionally with bounds changed (e.g. k=5, max_retries=1)."""
    try:
        base = PRESETS[name]
    except KeyError:
        raise AgentloopError(f"unknown condition {name!r}; choose one of: {', '.join(PRESETS)}") from None
    if not overrides:
        return base
    try:
        return Condition.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise AgentloopError(f"condition {name}: {err['loc'][0]}={err.get('input')!r}: {err['msg'].lower()}") from None
