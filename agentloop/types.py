"""The shared vocabulary: typed, JSON-friendly data that travels between modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# `plan`: the planner agent's proposal was wrong or could not be followed (planner=llm).
VerdictCode = Literal["ok", "format", "illegal", "wrong", "plan"]
CheckerKind = Literal["simulator", "rules", "vote"]
# `format`: a step's reply stayed unreadable after its format retries (not a wrong answer).
Status = Literal["solved", "failed", "format", "error", "budget"]


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


# Reply texts longer than this are cut in transcripts (a runaway reply must not bloat the store).
MAX_REPLY_CHARS = 4000


class Reply(BaseModel):
    """One model reply of a step: its text, what was read from it, what it cost."""

    sample: int
    text: str
    answer: Any = None
    problem: str | None = Field(None, description="why no answer could be read (a `format` reply)")
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0

    @classmethod
    def of(cls, sample: int, c: Completion, answer: Any = None, problem: str | None = None) -> Reply:
        text = c.text if len(c.text) <= MAX_REPLY_CHARS else f"{c.text[:MAX_REPLY_CHARS]}…[{len(c.text)} characters]"
        return cls(
            sample=sample, text=text, answer=answer, problem=problem,
            tokens_in=c.tokens_in, tokens_out=c.tokens_out, latency_s=c.latency_s,
        )


class Review(BaseModel):
    """How a checker a deployment can have (rules, critic, program) judged one attempt."""

    checker: str
    verdict: Verdict = Field(description="the checker's own verdict (the attempt's may be the environment refusing an illegal answer)")
    judged: bool = Field(True, description="False: the checker could not judge (unreadable critic, failed program) and let the answer pass")
    problem: str | None = Field(None, description="why it could not judge")
    replies: list[Reply] = Field(default_factory=list, description="the checker's own model calls (the critic's replies, the program's writing)")
    program_answer: Any = Field(None, description="what the program computed for this step (JSON), when it ran")


class Attempt(BaseModel):
    """One attempt at a step: the replies it took (one, a format re-ask, or a vote's samples),
    the checker's verdict on the answer it settled on, and a vote's tally.

    Under a checker other than the simulator (`rules`, `critic`, `program`), `verdict` is the one
    the loop acted on, `review` says how that checker reached it, and `truth` is the simulator's
    verdict on the same answer, against which the checker is scored.
    """

    prompt: str | None = Field(None, description="hash of the request's messages (the store keeps each once)")
    replies: list[Reply] = []
    verdict: Verdict | None = None
    votes: dict[str, int] | None = None
    truth: Verdict | None = None
    review: Review | None = None


class CheckTally(BaseModel):
    """A checker's verdicts in one episode, each compared with the simulator's (the ground truth).

    "right" and "wrong" are the truth about the answer judged; "accepted" and "rejected" are the
    checker's own verdict. False accepts are `accepted_wrong`, false rejects `rejected_right`.
    """

    checker: str
    accepted_right: int = 0
    accepted_wrong: int = 0
    rejected_right: int = 0
    rejected_wrong: int = 0
    unjudged: int = Field(0, description="answers the checker could not judge and let pass (counted as accepted too)")
    overruled: int = Field(0, description="illegal answers it accepted, which the environment refused anyway")
    program_runs: int = Field(0, description="steps the program ran on and returned a readable answer")
    program_ok: int = Field(0, description="of those, answers the simulator accepts: the program alone would have been right")
    calls: int = Field(0, description="the checker's own model calls (also in the episode's calls)")
    tokens: int = Field(0, description="their tokens, in and out (also in the episode's tokens)")

    def add(self, accepted: bool, right: bool) -> None:
        if accepted:
            if right:
                self.accepted_right += 1
            else:
                self.accepted_wrong += 1
        elif right:
            self.rejected_right += 1
        else:
            self.rejected_wrong += 1


class PlanAttempt(BaseModel):
    """One proposal of the planner agent (planner=llm): what it was asked, its replies, what was
    read, and the simulator's verdict on it (code `plan` when wrong or impossible to follow)."""

    goal: str = Field(description="what the planner was asked to decide (a subgoal to break down, the next cell)")
    proposal: Any = Field(None, description="the proposal read from the reply (JSON); None when unreadable")
    prompt: str | None = Field(None, description="hash of the request's messages")
    replies: list[Reply] = []
    verdict: Verdict
    followed: bool = Field(description="the loop acted on this proposal")


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
    attempts: list[Attempt] = Field(default_factory=list, description="the transcript: every attempt's replies and verdict")
    format_retries: int = Field(0, description="re-asks because a reply could not be read")
    votes: dict[str, int] | None = Field(None, description="the vote tally of the last attempt (vote conditions)")
    samples: int = 1
    calls: int = 0
    prompt_tokens: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    plans: list[PlanAttempt] = Field(default_factory=list, description="the planner's proposals made for this step (planner=llm)")
    plan_ok: bool | None = Field(None, description="the plan that chose this step was right (None: the scenario's fixed plan)")

    @field_validator("attempts", mode="before")
    @classmethod
    def _count_only(cls, v: Any) -> Any:
        # Stores written before transcripts kept only the number of attempts.
        return [] if isinstance(v, int) else v


class KPlan(BaseModel):
    """The k a `k = "auto"` vote planned from its pilot (`agentloop.planning`)."""

    p: float = Field(description="the pilot's single-call accuracy")
    p_ci: tuple[float, float] = Field(description="its 95% Wilson interval")
    pilot_judged: int = Field(description="steps the pilot's single calls were judged on")
    pilot_correct: int
    pilot_calls: int = Field(0, description="requests the pilot sent (not in the episode's own counts)")
    pilot_tokens: int = 0
    pilot_cost: float | None = None
    steps: int = Field(description="the task's steps s")
    target: float = Field(description="the success p_k^s aimed at")
    k: int = Field(description="k_min at the low end of p's interval (at most 20): the k used")
    k_point: int | None = Field(description="k_min at the point estimate p (None: p <= 1/2)")
    reaches_target: bool = Field(description="k reaches the target at the low end of p")
    projected_success: float = Field(description="p_k^s at p with the chosen k")
    projected_success_lo: float = Field(description="p_k^s at the low end of p")
    calls_per_step: float = Field(description="expected samples per step at p: k (2 p_k - 1) / (2p - 1)")
    expected_calls: float = Field(description="steps × calls_per_step")
    projected_cost: float | None = Field(None, description="expected_calls at the pilot's cost per call")


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
    format_retries: int = Field(0, description="re-asks of unreadable replies, all steps")
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
    prompts: dict[str, list[dict[str, str]]] = Field(
        default_factory=dict, description="the distinct requests of the transcript, by the hash its attempts name"
    )
    checks: CheckTally | None = Field(None, description="the checker's verdicts scored against the simulator (rules, critic, program)")
    agentloop_version: str = ""
    plans: int = Field(0, description="the planner agent's readable proposals (planner=llm)")
    plan_errors: int = Field(0, description="of those, proposals the simulator rejected (code plan)")
    planned_right: int = Field(0, description="steps chosen by a right plan (planner=llm)")
    planned_right_ok: int = Field(0, description="of those, steps the worker answered correctly")
    inject_step: int | None = Field(None, description="the step from which an injection or padding was in the context")
    k_plan: KPlan | None = Field(None, description='the planned k of a k = "auto" vote, with its pilot')
