"""The mutable side of one episode, kept outside LangGraph's state.

The graph's state is a few integers (which step, which attempt). Everything that grows with
the episode — the tape, the conversation, the per-step records, the usage counters — lives
here, in the run context, so checkpointing a step never copies the history.
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from agentloop.conditions import Condition
from agentloop.models import Hint, Message, Model, estimate_tokens, request_seed
from agentloop.scenarios import Scenario
from agentloop.tape import Tape
from agentloop.types import Attempt, Completion, Limits, Reply, Status, Step, StepRecord, Verdict


class OutOfBudget(Exception):
    """The next request would exceed the episode's limits."""


@dataclass
class Proposal:
    """The worker's answer to the current step: parsed, or the reason it could not be read,
    with the replies it took (the transcript of this attempt)."""

    answer: Any = None
    text: str = ""
    problem: str | None = None  # set when no answer could be read (a `format` verdict)
    samples: int = 1
    prompt: str | None = None  # hash of the request's messages
    replies: list[Reply] = field(default_factory=list)
    votes: dict[str, int] | None = None
    format_retries: int = 0


@dataclass
class StepTally:
    """Attempts and usage of the current step, across retries and votes."""

    attempts: list[Attempt] = field(default_factory=list)
    samples: int = 0
    format_retries: int = 0
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
    key: str  # the episode's identity: every request's seed derives from it
    hint_key: str  # identifies the instance, so simulated randomness differs between instances
    limits: Limits
    tape: Tape
    true_state: Any
    transcripts: bool = True
    started: float = field(default_factory=time.perf_counter)
    rules: str = field(init=False)
    transcript: list[Message] = field(default_factory=list)  # the turns so far (stepwise)
    observation: str | None = None  # what the environment revealed after the last step (stepwise)
    records: list[StepRecord] = field(default_factory=list)
    prompts: dict[str, list[Message]] = field(default_factory=dict)  # distinct requests, by hash
    oneshot_answers: list[Any] | None = None  # the whole-task reply, parsed (oneshot)
    oneshot_problem: str | None = None
    oneshot_tokens_in: int = 0  # the whole-task prompt: the context every oneshot answer was written in
    proposal: Proposal | None = None
    verdict: Verdict | None = None
    feedback: Verdict | None = None  # the last rejection, shown on the re-ask (verify)
    tally: StepTally = field(default_factory=StepTally)
    on_track: bool = True
    status: Status | None = None
    error: str | None = None
    calls: int = 0
    retries: int = 0
    format_retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)  # concurrent vote samples

    def __post_init__(self) -> None:
        self.rules = self.scenario.rules(self.instance)  # every prompt's system message: render it once

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

    def call_many(
        self, messages: list[Message], hint: Hint | None, samples: range, *, step: int, attempt: int
    ) -> list[Completion]:
        """Samples of one request, sent concurrently; fewer if the budget is short.

        Each sample carries its own seed (episode, step, attempt, sample). The budget is
        reserved before sending: no more samples go out than the calls and the estimated
        tokens left allow. Results come back in sample order and are counted here, in the
        loop's thread — also those that came back when another sample of the round failed —
        so the outcome does not depend on which request finishes first.
        """
        samples = samples[: self._room(messages)]
        if not samples:
            raise OutOfBudget
        outs: list[Completion] = []
        failure: Exception | None = None
        if len(samples) == 1:
            outs.append(self._send(messages, hint, samples[0], step, attempt))
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.condition.k, thread_name_prefix="agentloop-vote")
            for f in [self._pool.submit(self._send, messages, hint, s, step, attempt) for s in samples]:
                try:
                    outs.append(f.result())
                except Exception as exc:  # the first failure ends the round, after the rest is counted
                    failure = failure or exc
        for c in outs:
            self.count(c)
        if failure is not None:
            raise failure
        return outs

    def _send(self, messages: list[Message], hint: Hint | None, sample: int, step: int, attempt: int) -> Completion:
        seed = request_seed(self.key, step, attempt, sample)
        return self.model.complete(messages, hint=hint, sample=sample, seed=seed)

    def _room(self, messages: list[Message]) -> int:
        """How many more requests the limits allow now (each reserving its estimated prompt)."""
        lim = self.limits
        room = 1 << 30
        if lim.max_calls is not None:
            room = min(room, lim.max_calls - self.calls)
        if lim.max_tokens is not None:
            room = min(room, (lim.max_tokens - self.tokens_in - self.tokens_out) // max(1, estimate_tokens(messages)))
        if lim.max_cost is not None and (self.cost or 0.0) >= lim.max_cost:
            room = 0
        return max(0, room)

    def remember(self, messages: list[Message]) -> str | None:
        """The request's hash, its messages kept once per episode (for the transcript)."""
        if not self.transcripts:
            return None
        blob = json.dumps(messages, ensure_ascii=False)
        key = hashlib.sha256(blob.encode()).hexdigest()[:16]
        self.prompts.setdefault(key, [dict(m) for m in messages])
        return key

    def reply(self, sample: int, c: Completion, answer: Any, problem: str | None) -> list[Reply]:
        """The transcript entry of one reply (none when transcripts are off)."""
        if not self.transcripts:
            return []
        shown = None if problem is not None else self.scenario.to_json_answer(answer)
        return [Reply.of(sample, c, shown, problem)]

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
