"""The mutable side of one episode, kept outside LangGraph's state.

The graph's state is a few integers (which step, which attempt). Everything that grows with
the episode — the tape, the conversation, the per-step records, the usage counters — lives
here, in the run context, so checkpointing a step never copies the history.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from agentloop.conditions import Condition
from agentloop.models import Hint, Message, Model
from agentloop.scenarios import Scenario
from agentloop.tape import Tape
from agentloop.types import Completion, Limits, Status, Step, StepRecord, Verdict


class OutOfBudget(Exception):
    """The next request would exceed the episode's limits."""


@dataclass
class Proposal:
    """The worker's answer to the current step: parsed, or the reason it could not be read."""

    answer: Any = None
    text: str = ""
    problem: str | None = None  # set when no answer could be read (a `format` verdict)
    samples: int = 1


@dataclass
class StepTally:
    """Attempts and usage of the current step, across retries and votes."""

    attempts: int = 0
    samples: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    first_ok: bool | None = None


@dataclass
class Episode:
    scenario: Scenario
    instance: Any
    steps: list[Step]
    condition: Condition
    model: Model
    seed: int
    hint_key: str  # identifies the instance, so simulated randomness differs between instances
    limits: Limits
    tape: Tape
    true_state: Any
    started: float = field(default_factory=time.perf_counter)
    rules: str = field(init=False)
    transcript: list[Message] = field(default_factory=list)  # the turns so far (stepwise)
    observation: str | None = None  # what the environment revealed after the last step (stepwise)
    records: list[StepRecord] = field(default_factory=list)
    oneshot_answers: list[Any] | None = None  # the whole-task reply, parsed (oneshot)
    oneshot_problem: str | None = None
    proposal: Proposal | None = None
    verdict: Verdict | None = None
    feedback: Verdict | None = None  # the last rejection, shown on the re-ask (verify)
    tally: StepTally = field(default_factory=StepTally)
    on_track: bool = True
    status: Status | None = None
    error: str | None = None
    calls: int = 0
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)  # concurrent vote samples

    def count(self, c: Completion) -> None:
        """Add one request's usage to the step and the episode (successes and failures alike)."""
        self.calls += 1
        self.retries += c.retries
        self.tokens_in += c.tokens_in
        self.tokens_out += c.tokens_out
        if c.cost is not None:
            self.cost = (self.cost or 0.0) + c.cost
        t = self.tally
        t.calls += 1
        t.prompt_tokens = max(t.prompt_tokens, c.tokens_in)
        t.tokens_out += c.tokens_out
        t.latency_s += c.latency_s

    def __post_init__(self) -> None:
        self.rules = self.scenario.rules(self.instance)  # every prompt's system message: render it once

    def call(self, messages: list[Message], hint: Hint | None) -> Completion:
        """One request to the model, within the limits, its usage counted."""
        return self.call_many(messages, hint, range(1))[0]

    def call_many(self, messages: list[Message], hint: Hint | None, samples: range) -> list[Completion]:
        """Samples of one request, sent concurrently; fewer if the call budget is short.

        Results come back in sample order and are counted here, in the loop's thread, so the
        outcome does not depend on which request finishes first.
        """
        if self.over_budget():
            raise OutOfBudget
        if self.limits.max_calls is not None:
            samples = samples[: self.limits.max_calls - self.calls]
        if len(samples) == 1:
            outs = [self.model.complete(messages, hint=hint, sample=samples[0])]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.condition.k, thread_name_prefix="agentloop-vote")
            outs = list(self._pool.map(lambda s: self.model.complete(messages, hint=hint, sample=s), samples))
        for c in outs:
            self.count(c)
        return outs

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def over_budget(self) -> bool:
        lim = self.limits
        return (
            (lim.max_calls is not None and self.calls >= lim.max_calls)
            or (lim.max_tokens is not None and self.tokens_in + self.tokens_out >= lim.max_tokens)
            or (lim.max_cost is not None and (self.cost or 0.0) >= lim.max_cost)
        )
