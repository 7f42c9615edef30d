"""The supports as plain building blocks: voting and verification around any function.

They need no scenario, no model protocol and no graph: `ask` is any function that returns an
answer. The agent loop is built from these same two functions, so there is one implementation
of each.

    from agentloop import vote

    result = vote(lambda sample: my_llm_call(prompt, temperature=0.7, seed=sample), k=3)
    result.answer, result.votes          # the winner and the tally

A reply that cannot be used (unreadable, too long, off-format) is *red-flagged*: `ask` raises
`RedFlag`, or `red_flag(answer)` returns a reason. Red-flagged samples are paid for and never
counted, as in MAKER (arXiv 2511.09030).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from agentloop.types import Verdict

__all__ = ["RedFlag", "Sample", "VoteResult", "VerifyResult", "answer_key", "vote", "avote", "verify", "averify"]

T = TypeVar("T")


class RedFlag(Exception):
    """Raised by `ask` for a reply that must not be counted (unreadable, over-long, ...)."""


@dataclass
class Sample(Generic[T]):
    """One sample of a vote: its index, and its answer or why it was red-flagged."""

    index: int
    answer: T | None = None
    problem: str | None = None


@dataclass
class VoteResult(Generic[T]):
    """The winner (None when every sample was red-flagged), the tally, every sample in order,
    and whether the winner led by k (False: the bound was hit and the leader was taken)."""

    answer: T | None
    votes: dict[str, int]
    samples: list[Sample[T]]
    decided: bool
    first: int | None = None  # the sample that first gave the winning answer

    @property
    def red_flags(self) -> int:
        return sum(s.problem is not None for s in self.samples)

    @property
    def problem(self) -> str | None:
        """Why there is no answer: the last red flag's reason."""
        if self.answer is not None or not self.samples:
            return None if self.answer is not None else "no sample"
        return next(s.problem for s in reversed(self.samples) if s.problem is not None)


def answer_key(answer: Any) -> Hashable:
    """A hashable identity for an answer (lists and dicts compare by value)."""
    if isinstance(answer, (list, tuple)):
        return tuple(answer_key(v) for v in answer)
    if isinstance(answer, dict):
        return tuple(sorted((k, answer_key(v)) for k, v in answer.items()))
    return answer


def _label(key: Hashable) -> str:
    """An answer's key as the tally's text label: the string itself, else its JSON."""
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)  # what JSON would write, without the encoder (the commonest answers)
    if isinstance(key, tuple) and all(type(v) is int for v in key):
        return f"[{', '.join(map(str, key))}]"  # the same, for a tuple of integers (a hanoi move)
    return json.dumps(key, ensure_ascii=False, default=str)


class _Tally(Generic[T]):
    """First-to-ahead-by-k bookkeeping, shared by the sync and async votes."""

    def __init__(self, k: int, max_samples: int, key: Callable[[T], Hashable], red_flag) -> None:
        if k < 1 or max_samples < 1:
            raise ValueError("k and max_samples must be at least 1")
        self.k, self.max_samples, self.key, self.red_flag = k, max_samples, key, red_flag
        self.votes: Counter[Hashable] = Counter()
        self.first: dict[Hashable, tuple[int, T]] = {}  # answer → (its first sample, the answer)
        self.samples: list[Sample[T]] = []
        self.winner: Hashable | None = None

    def next_round(self) -> range:
        """When the leader is m votes ahead no answer can win in fewer than k − m samples: send
        exactly that many at once, never a sample more than one-at-a-time voting would take."""
        start = len(self.samples)
        if self.k == 1:
            return range(start, start + 1)
        ranked = self.votes.most_common(2)
        lead = ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0) if ranked else 0
        return range(start, min(start + self.k - lead, self.max_samples))

    def add(self, index: int, answer: Any, problem: str | None) -> bool:
        """Count one sample (in sample order); True when an answer now leads by k."""
        if problem is None and self.red_flag is not None:
            problem = self.red_flag(answer)
        if problem is not None:
            self.samples.append(Sample(index, None, str(problem)))
            return False
        self.samples.append(Sample(index, answer, None))
        key = self.key(answer)
        self.votes[key] += 1
        self.first.setdefault(key, (index, answer))
        if self.k == 1:  # the first usable answer wins (the common, single-answer case: keep it cheap)
            self.winner = key
            return True
        # The leader is ahead by k of the runner-up (the newly counted answer can only have
        # become the leader; a plain scan, as there are few distinct answers).
        n, others = self.votes[key], 0
        for other, m in self.votes.items():
            if other != key and m > others:
                others = m
        if n >= self.k + others:
            self.winner = key
            return True
        return False

    def count_round(self, batch: range, outcomes) -> None:
        """Count a round's (answer, problem, exception) outcomes in sample order; then raise the
        first exception, if any (the samples that came back are counted first)."""
        failure = None
        for i, (answer, problem, exc) in zip(batch, outcomes):
            if exc is not None:
                failure = failure or exc
            elif self.winner is None:
                self.add(i, answer, problem)
        if failure is not None:
            raise failure

    def result(self) -> VoteResult[T]:
        decided = self.winner is not None
        top = self.winner if decided else (self.votes.most_common(1)[0][0] if self.votes else None)
        votes = {_label(k): n for k, n in self.votes.most_common()}
        if top is None:
            return VoteResult(None, votes, self.samples, decided)
        index, answer = self.first[top]
        return VoteResult(answer, votes, self.samples, decided, index)


def vote(
    ask: Callable[[int], T],
    *,
    k: int = 3,
    max_samples: int = 20,
    red_flag: Callable[[T], str | None] | None = None,
    key: Callable[[T], Hashable] = answer_key,
    executor: Executor | None = None,
) -> VoteResult[T]:
    """First-to-ahead-by-k voting over `ask(sample_index)`, bounded by `max_samples`.

    Samples go out in rounds, concurrently (on `executor`, or a pool of k threads made for the
    call); each round sends exactly the samples that could decide the vote. An exception other
    than `RedFlag` from `ask` ends the vote once its round has finished, and is raised. With
    k = 1 this is "the first usable answer, re-asked up to max_samples − 1 times".
    """
    if k == 1:
        return _first_usable(ask, max_samples, red_flag, key)
    tally: _Tally[T] = _Tally(k, max_samples, key, red_flag)
    own = None
    try:
        while tally.winner is None and len(tally.samples) < max_samples:
            batch = tally.next_round()
            if len(batch) == 1:
                outcomes = [_outcome(ask, batch[0])]
            else:
                if executor is None:
                    executor = own = ThreadPoolExecutor(max_workers=k, thread_name_prefix="agentloop-vote")
                outcomes = list(executor.map(lambda i: _outcome(ask, i), batch))
            tally.count_round(batch, outcomes)
    finally:
        if own is not None:
            own.shutdown(wait=False)
    return tally.result()


def _first_usable(ask, max_samples: int, red_flag, key) -> VoteResult:
    """k = 1, the commonest vote (every single answer, with its format re-asks): the first
    usable answer wins. The same result as the general tally, without its bookkeeping."""
    if max_samples < 1:
        raise ValueError("k and max_samples must be at least 1")
    samples: list[Sample] = []
    for i in range(max_samples):
        answer, problem, exc = _outcome(ask, i)
        if exc is not None:
            raise exc
        if problem is None and red_flag is not None:
            problem = red_flag(answer)
        if problem is None:
            samples.append(Sample(i, answer, None))
            return VoteResult(answer, {_label(key(answer)): 1}, samples, True, i)
        samples.append(Sample(i, None, str(problem)))
    return VoteResult(None, {}, samples, False)


def _outcome(ask: Callable[[int], T], index: int) -> tuple[Any, str | None, BaseException | None]:
    try:
        return ask(index), None, None
    except RedFlag as flag:
        return None, str(flag) or "red-flagged", None
    except Exception as exc:  # raised after the round: its other samples are still counted
        return None, None, exc


async def avote(
    ask: Callable[[int], Awaitable[T]],
    *,
    k: int = 3,
    max_samples: int = 20,
    red_flag: Callable[[T], str | None] | None = None,
    key: Callable[[T], Hashable] = answer_key,
) -> VoteResult[T]:
    """`vote` for a coroutine `ask`: each round's samples are awaited together."""
    tally: _Tally[T] = _Tally(k, max_samples, key, red_flag)

    async def one(i: int):
        try:
            return await ask(i), None, None
        except RedFlag as flag:
            return None, str(flag) or "red-flagged", None
        except Exception as exc:  # raised after the round, like the sync vote
            return None, None, exc

    while tally.winner is None and len(tally.samples) < max_samples:
        batch = tally.next_round()
        tally.count_round(batch, await asyncio.gather(*(one(i) for i in batch)))
    return tally.result()


@dataclass
class VerifyResult(Generic[T]):
    """The last answer and its verdict (ok or not), and every attempt with its verdict."""

    answer: T
    verdict: Verdict
    attempts: list[tuple[T, Verdict]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict.ok


def verify(
    ask: Callable[[Verdict | None, int], T],
    check: Callable[[T], Verdict],
    *,
    max_retries: int = 3,
) -> VerifyResult[T]:
    """Ask, check, and re-ask with the checker's verdict until it accepts or the retries run out.

    `ask(feedback, attempt)` receives the last rejection (None at first): show it *in place of*
    the failed attempt — put it in the question, do not append turns — so re-asks do not pile up
    the context. The checker never writes the right answer for the model.
    """
    attempts: list[tuple[T, Verdict]] = []
    feedback: Verdict | None = None
    for attempt in range(max_retries + 1):
        answer = ask(feedback, attempt)
        verdict = check(answer)
        attempts.append((answer, verdict))
        if verdict.ok:
            break
        feedback = verdict
    return VerifyResult(attempts[-1][0], attempts[-1][1], attempts)


async def averify(
    ask: Callable[[Verdict | None, int], Awaitable[T]],
    check: Callable[[T], Verdict | Awaitable[Verdict]],
    *,
    max_retries: int = 3,
) -> VerifyResult[T]:
    """`verify` for a coroutine `ask` (and a plain or coroutine `check`)."""
    attempts: list[tuple[T, Verdict]] = []
    feedback: Verdict | None = None
    for attempt in range(max_retries + 1):
        answer = await ask(feedback, attempt)
        verdict = check(answer)
        if asyncio.iscoroutine(verdict):
            verdict = await verdict
        attempts.append((answer, verdict))
        if verdict.ok:
            break
        feedback = verdict
    return VerifyResult(attempts[-1][0], attempts[-1][1], attempts)
