"""The mutable side of one episode, kept outside LangGraph's state.

The graph's state is a few integers. Everything that grows with the episode — the tape, the
conversation, the per-step records, the usage counters — lives here, in the run context, so a
super-step never copies the history; records leave in batches through `sink` when one is given.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentloop.conditions import Condition
from agentloop.models import Hint, Message, Model, estimate_tokens, request_seed
from agentloop.scenarios import Scenario
from agentloop.tape import Tape
from agentloop.types import Completion, Limits, Reply, Review, Status, Step, StepRecord, Verdict

from agentloop.loop._durable import capture, innermost

if TYPE_CHECKING:
    from agentloop.loop._durable import Journal

# What a sink receives each quantum: the new step records and the requests they name.
Sink = Callable[[list[StepRecord], dict[str, list[Message]]], None]


def discard(records: list[StepRecord], prompts: dict[str, list[Message]]) -> None:
    """The sink of a run that needs only the totals: the loop then builds no step records at all."""


class _Inline(Executor):
    """An executor that runs each call at once, in the caller's thread, in order."""

    def map(self, fn, *iterables, timeout=None, chunksize=1):  # noqa: ARG002 (Executor's signature)
        return list(map(fn, *iterables))


_INLINE = _Inline()


def _instant(model: Model) -> bool:
    """Whether the model (under its wrappers) says it answers without waiting (`instant`)."""
    return bool(getattr(innermost(model), "instant", False))


class OutOfBudget(Exception):
    """The next request would exceed the episode's limits."""


@dataclass
class Proposal:
    """The worker's answer to one attempt at a step: parsed, or the reason none could be read,
    with the replies it took (the transcript of this attempt)."""

    answer: Any = None
    text: str = ""
    problem: str | None = None  # set when no answer could be read (a `format` verdict)
    samples: int = 1
    red_flags: int = 0  # replies that could not be used (re-asked, never counted)
    prompt: str | None = None  # hash of the request's messages
    replies: list[Reply] = field(default_factory=list)
    votes: dict[str, int] | None = None
    truth: Verdict | None = None  # the simulator's verdict, when another checker acted (`_checking`)
    review: Review | None = None  # how that checker judged


@dataclass
class StepTally:
    """Usage of the current step, across retries and votes (samples may count concurrently)."""

    calls: int = 0
    prompt_tokens: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0


@dataclass
class Episode:
    scenario: Scenario
    instance: Any
    steps: list[Step]
    condition: Condition
    model: Model
    hint_key: str  # identifies the instance, so simulated randomness differs between instances
    limits: Limits
    tape: Tape
    true_state: Any
    key: str = ""  # the episode's identity: every request's seed derives from it (default: hint_key)
    transcripts: bool = True
    sink: Sink | None = None  # takes the step records each quantum; None: keep them in `records`
    journal: Journal | None = None  # takes the records and a checkpoint each quantum (a resumable run)
    started: float = field(default_factory=time.perf_counter)
    earlier_s: float = 0.0  # wall time spent on this episode by the runs it resumes
    rules: str = field(init=False)
    checker: Any = field(init=False)  # a `_checking.StepChecker` when a deployable checker judges; None: the simulator
    oracle: bool = field(init=False)  # the scenario can solve a step (a task may only check)
    transcript: list[Message] = field(default_factory=list)  # the turns so far (stepwise)
    observation: str | None = None  # what the environment revealed after the last step (stepwise)
    step_ok: bytearray = field(default_factory=bytearray)  # 1 per locally correct recorded step (one byte a step)
    records: list[StepRecord] = field(default_factory=list)  # not yet handed to the sink
    prompts: dict[str, list[Message]] = field(default_factory=dict)  # distinct requests, by hash
    oneshot_answers: list[Any] | None = None  # the whole-task reply, parsed (oneshot)
    oneshot_problem: str | None = None
    oneshot_tokens_in: int = 0  # the whole-task prompt: the context every oneshot answer was written in
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
    planner: Any = None  # the planner agent's state (planner=llm; see `_planner`), else None
    plan_intent: Any = None  # the answer the plan implies for the current step (scripted workers follow it)
    plan_decisions: int = 0  # questions put to the planner
    plans: int = 0  # readable proposals
    plan_errors: int = 0  # proposals the simulator rejected
    planned_right: int = 0  # steps a right plan chose
    planned_right_ok: int = 0  # of those, steps answered correctly
    _held: int = 0  # requests sent and not yet counted
    _held_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _pool: Executor | None = field(default=None, repr=False)  # concurrent vote samples
    # (the request last estimated, its estimate): one tuple, so a thread never sees one without the other
    _estimated: tuple[list[Message], int] | None = field(default=None, repr=False)
    durable: bool = True  # its state can be checkpointed (False once a state would not write)
    _checked: bool = field(default=False, repr=False)  # a checkpoint of its state was read back once

    @property
    def keeps_records(self) -> bool:
        """Whether step records are wanted (not with the `discard` sink)."""
        return self.sink is not discard

    def __post_init__(self) -> None:
        self.rules = self.scenario.rules(self.instance)  # every prompt's system message: render it once
        self.key = self.key or self.hint_key
        self.oracle = type(self.scenario).can_solve()
        self.checker = None
        if self.condition.checker != "oracle":  # rules, critic or program judges in the simulator's place
            from agentloop.loop._checking import StepChecker

            self.checker = StepChecker(self)

    # --- requests ------------------------------------------------------------------------
    def call(
        self, messages: list[Message], hint: Hint | None, sample: int, *, step: int, attempt: int, model: Model | None = None
    ) -> Completion:
        """One request within the limits, its usage counted (safe from several threads).

        The request is reserved before it is sent — one call and its estimated prompt tokens —
        so concurrent samples can never pass the limits together; its seed names it (episode,
        step, attempt, sample), so samples are independent and a re-run replays them. `model`
        is another model that answers for this episode (a critic); default the worker's.
        """
        model = model or self.model
        memo = self._estimated
        if memo is not None and memo[0] is messages:  # a vote's samples share one request: estimate it once
            est = memo[1]
        else:
            est = estimate_tokens(messages)
            self._estimated = (messages, est)
        with self._lock:
            if not self._room(est):
                raise OutOfBudget
            self._held += 1
            self._held_tokens += est
        c = None
        try:
            c = model.complete(messages, hint=hint if model.simulated else None, sample=sample,
                               seed=request_seed(self.key, step, attempt, sample))
            return c
        finally:
            with self._lock:
                self._held -= 1
                self._held_tokens -= est
                if c is not None:
                    self._count(c)

    def _room(self, est: int) -> bool:
        lim = self.limits
        if lim.max_calls is not None and self.calls + self._held + 1 > lim.max_calls:
            return False
        if lim.max_tokens is not None and self.tokens_in + self.tokens_out + self._held_tokens + est > lim.max_tokens:
            return False
        return not (lim.max_cost is not None and (self.cost or 0.0) >= lim.max_cost)

    def _count(self, c: Completion) -> None:
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

    def over_budget(self) -> bool:
        """No request at all fits any more."""
        return not self._room(1)

    # --- transcripts ---------------------------------------------------------------------
    def remember(self, messages: list[Message]) -> str | None:
        """The request's hash, its messages kept once (for the transcript)."""
        if not self.transcripts:
            return None
        h = hashlib.blake2b(digest_size=8)
        for m in messages:
            h.update(f"{m['role']}\x00{m['content']}\x01".encode())
        key = h.hexdigest()
        if key not in self.prompts:
            self.prompts[key] = [dict(m) for m in messages]
        return key

    def reply(self, sample: int, c: Completion, answer_json: Any, problem: str | None) -> Reply | None:
        """The transcript entry of one reply (None when transcripts are off)."""
        return Reply.of(sample, c, answer_json, problem) if self.transcripts else None

    def pool(self, k: int) -> Executor | None:
        """Threads for the concurrent samples of a vote round (none needed when k is 1). A model
        that answers at once (`instant`: a scripted model without simulated latency) has its
        samples run in order in this thread: a pool would only add a hand-off to each request."""
        if k > 1 and self._pool is None:
            if _instant(self.model):
                self._pool = _INLINE
            else:
                self._pool = ThreadPoolExecutor(max_workers=k, thread_name_prefix="agentloop-vote")
        return self._pool

    def close(self) -> None:
        if isinstance(self._pool, ThreadPoolExecutor):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def flush(self, *, checkpoint: bool = False) -> None:
        """Hand the new records (and the requests they name) to the journal, with a checkpoint
        when asked (between steps of an episode that goes on), or to the sink."""
        if self.journal is not None:
            cp = capture(self) if checkpoint else None
            if self.records or cp is not None:
                self.journal.save(self.records, self.prompts, cp)
        elif self.sink is not None and self.records:
            self.sink(self.records, self.prompts)
        else:
            return
        self.records, self.prompts = [], {}
