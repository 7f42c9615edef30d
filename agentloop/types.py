"""The shared vocabulary: typed, JSON-friendly data that travels between modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

VerdictCode = Literal["ok", "format", "illegal", "wrong"]
CheckerKind = Literal["simulator", "rules", "vote"]
Status = Literal["solved", "failed", "error", "budget"]


class Verdict(BaseModel):
    """A checker's judgement of one proposed answer. Data, not an exception.

    `reason` is safe to show the model (it never contains the right answer); `expected` is for
    the record only.
    """

    model_config = ConfigDict(frozen=True)

    ok: bool
    code: VerdictCode
    reason: str = ""
    expected: Any = None
    observed: Any = None

    @classmethod
    def accept(cls, observed: Any = None) -> Verdict:
        return cls(ok=True, code="ok", observed=observed)

    @classmethod
    def reject(cls, code: VerdictCode, reason: str, *, expected: Any = None, observed: Any = None) -> Verdict:
        return cls(ok=False, code=code, reason=reason, expected=expected, observed=observed)


@dataclass(frozen=True, slots=True)
class Step:
    """One atomic unit of work. `key` locates it inside the instance (e.g. (generation, cell))."""

    index: int
    key: tuple[int, ...]
    label: str


@dataclass(frozen=True, slots=True)
class Completion:
    """What a model returned for one request, with its cost (counted for failures too)."""

    text: str
    tokens_in: int
    tokens_out: int
    latency_s: float = 0.0
    cost: float | None = None
    retries: int = 0


class Limits(BaseModel):
    """Per-episode budgets; the episode stops with status `budget` when one would be exceeded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_calls: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_cost: float | None = Field(default=None, gt=0)


class StepRecord(BaseModel):
    """What happened at one atomic step."""

    index: int
    label: str
    answer: Any = None
    code: VerdictCode
    ok: bool = Field(description="local correctness: answer == simulator(agent's previous committed state)")
    first_ok: bool = Field(description="the first attempt was locally correct (before any feedback)")
    on_track: bool = Field(description="the committed state equals the true state after this step")
    committed: bool
    attempts: int = 1
    samples: int = 1
    calls: int = 0
    prompt_tokens: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0


class EpisodeRecord(BaseModel):
    """One instance run under one condition with one model: the unit of every measurement."""

    scenario: str
    params: dict[str, Any]
    condition: str
    model: str
    model_args: dict[str, Any] = {}
    seed: int
    status: Status
    success: bool
    steps_total: int
    steps_correct: int = Field(description="leading locally-correct steps before the first error")
    first_error_step: int | None
    step_ok: list[bool]
    calls: int
    retries: int = 0
    tokens_in: int
    tokens_out: int
    cost: float | None = None
    wall_s: float
    simulated: bool
    error: str | None = None
    initial: Any = None
    expected: Any = None
    answer: Any = None
    steps: list[StepRecord] = []
    agentloop_version: str = ""
