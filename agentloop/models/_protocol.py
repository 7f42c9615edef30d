"""The one narrow protocol every model provider implements."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from agentloop.types import Completion

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass(frozen=True)
class Hint:
    """Ground truth the loop passes *beside* the messages, for scripted models only.

    Real providers ignore it; it never enters a prompt. `answers` are the atomic answers the reply
    should contain (one for a step, all of them for a whole-task call), `render` writes answers
    as reply text, `corrupt(i, rng)` gives a plausible wrong answer for `answers[i]`, and `key`
    identifies the request within its episode (so simulated randomness is reproducible).
    `role` says what is asked: a step's answer ("step"), a critic's review of a proposed answer
    ("critic": `answers` is (whether the answer is right,)), or a program ("program": `answers`
    is (a correct program's source,) and `corrupt` gives a buggy one), or a planner's proposal
    ("plan", planner=llm: `answers` is (the right proposal,)); scripted models use their own
    error rate for each.
    """

    answers: Sequence[Any]
    render: Callable[[Sequence[Any]], str]
    corrupt: Callable[[int, random.Random], Any]
    key: str
    role: str = "step"


@runtime_checkable
class Model(Protocol):
    """Messages in, text and usage out. Raises TransientModelError for failures worth retrying
    and ModelError for the others."""

    name: str
    args: dict[str, Any]
    simulated: bool

    def complete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion: ...

    async def acomplete(
        self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None
    ) -> Completion: ...


class ModelWrapper:
    """Base of models that wrap another (retries, budgets, caching): they keep its identity."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def args(self) -> dict[str, Any]:
        return self.inner.args

    @property
    def simulated(self) -> bool:
        return self.inner.simulated


def estimate_tokens(messages: Sequence[Message]) -> int:
    """A provider-neutral token estimate (≈4 characters a token) for models that report none."""
    return sum(4 + (len(m["content"]) + 3) // 4 for m in messages)


def request_seed(episode: str, step: int, attempt: int, sample: int) -> int:
    """The seed of one request: a 31-bit hash of which request of which episode it is.

    Every sampled request gets its own, so vote samples are independent from step to step (a
    seed that depended on the sample index alone would make sample i draw the same random
    number at every step), and the same request of the same episode always gets the same one.
    """
    digest = hashlib.blake2b(f"{episode}:{step}:{attempt}:{sample}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") >> 1
