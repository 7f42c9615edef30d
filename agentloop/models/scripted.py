"""Scripted models: test doubles and calibrated simulators, selected by name like any provider.

They answer from the ground truth the loop passes beside the messages (a `Hint`), never from
the prompt, so every record they produce is marked `simulated`.

- `scripted/oracle`: always right.
- `scripted/noisy`: each atomic answer is replaced by a plausible wrong one with probability
  `error + drift * prompt_tokens / 1000` (prompt tokens estimated at ≈4 characters a token).
- `scripted/noisy` with `format`: a reply is unreadable prose (no answer at all) with probability
  `format`, drawn before the error draw, to exercise format retries.
- `scripted/faulty`: raises a transient provider error with probability `rate` per request
  (otherwise answers like `noisy` with its `error`), to exercise the retry layer.
- as a critic (`checker=critic`), any of them approves a wrong step with probability `critic_fa`
  and rejects a right one with probability `critic_fr` (both default to `error`); as a
  programmer (`checker=program`) it writes a correct program, or with probability
  `program_error` (default `error`) a plausibly buggy one; as a planner (`planner=llm`) it
  proposes a plausible wrong plan with probability `plan_error` (default `error`). All are
  simulations, like the rest.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentloop.errors import AgentloopError, ModelError, TransientModelError
from agentloop.models._protocol import Hint, Message, estimate_tokens
from agentloop.types import Completion


# What `format` replies with: prose with no answer in it, which no scenario's parser accepts.
UNREADABLE = "Let me think about this carefully before I answer."


class ScriptedArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(default=0, description="seed of the simulated randomness")
    latency: float = Field(default=0.0, ge=0, le=60, description="simulated seconds per request")
    error: float = Field(default=0.0, ge=0, le=1, description="probability an atomic answer is wrong")
    drift: float = Field(default=0.0, ge=0, le=10, description="extra error per 1,000 prompt tokens")
    rate: float = Field(default=0.0, ge=0, lt=1, description="probability a request raises a transient error")
    format: float = Field(default=0.0, ge=0, le=1, description="probability a reply is unreadable (no answer in it)")
    critic_fa: float | None = Field(
        default=None, ge=0, le=1, description="as a critic: probability it approves a wrong step (default: error)"
    )
    critic_fr: float | None = Field(
        default=None, ge=0, le=1, description="as a critic: probability it rejects a right step (default: error)"
    )
    program_error: float | None = Field(
        default=None, ge=0, le=1, description="probability a program it writes is the buggy one (default: error)"
    )
    plan_error: float | None = Field(
        default=None, ge=0, le=1, description="as a planner (planner=llm): probability a proposal is wrong (default: error)"
    )


_CHECKING = {"critic_fa", "critic_fr", "program_error", "plan_error"}  # as a critic, programmer or planner
_POLICY_ARGS = {
    "oracle": {"seed", "latency", *_CHECKING},
    "noisy": {"seed", "latency", "error", "drift", "format", *_CHECKING},
    "faulty": {"seed", "latency", "error", "rate", *_CHECKING},
}


class ScriptedModel:
    simulated = True
    retry_wait = 0.0  # a simulator's transient errors need no back-off

    def __init__(self, policy: str, args: ScriptedArgs) -> None:
        self.policy = policy
        self.name = f"scripted/{policy}"
        self.args = args.model_dump(exclude_defaults=True)
        self._a = args
        self._faults = random.Random(f"faults:{args.seed}")  # for requests that carry no seed
        self._tries: dict[int, int] = {}  # request seed -> transient faults it has had so far
        self._tries_lock = threading.Lock()
        self._estimated: tuple[list[Message], int] | None = None  # (the last request, its token estimate)

    @property
    def instant(self) -> bool:
        """It answers without waiting (no simulated latency): the loop need not run its
        samples in threads."""
        return not self._a.latency

    def _fails(self, seed: int | None) -> bool:
        """Whether this try of the request raises a transient fault. A request with a seed (every
        request of the loop) draws from (model seed, request seed, try number), so which request
        fails never depends on the order in which concurrent episodes reach the model."""
        if not self._a.rate:
            return False
        if seed is None:
            return self._faults.random() < self._a.rate
        with self._tries_lock:
            tried = self._tries.get(seed, 0)
            fails = random.Random(f"faults:{self._a.seed}:{seed}:{tried}").random() < self._a.rate
            if fails:
                self._tries[seed] = tried + 1
            else:
                self._tries.pop(seed, None)
        return fails

    def _answer(self, messages: list[Message], hint: Hint | None, sample: int, seed: int | None = None) -> Completion:
        if hint is None:
            raise ModelError(f"{self.name} answers from the loop's ground truth; use it through agentloop's loop")
        if self._fails(seed):
            raise TransientModelError(f"{self.name}: simulated 503 service unavailable")
        memo = self._estimated  # a vote's samples share one request: estimate it once
        if memo is not None and memo[0] is messages:
            tokens_in = memo[1]
        else:
            tokens_in = estimate_tokens(messages)
            self._estimated = (messages, tokens_in)  # one assignment: safe across threads
        p = self._error_rate(hint, tokens_in)
        answers = list(hint.answers)
        if p > 0 or self._a.format:
            rng = random.Random(f"{self._a.seed}:{hint.key}:{sample}")
            if self._a.format and rng.random() < self._a.format:
                return self._reply(UNREADABLE, tokens_in)
            answers = [hint.corrupt(i, rng) if rng.random() < p else a for i, a in enumerate(answers)]
        return self._reply(hint.render(answers), tokens_in)

    def _error_rate(self, hint: Hint, tokens_in: int) -> float:
        """The probability the reply is wrong: a step's grows with the context (`drift`); a
        critic's depends on whether the step it reviews is right; a program's is its own."""
        a = self._a
        if hint.role == "critic":
            rate = a.critic_fr if hint.answers[0] else a.critic_fa
            return a.error if rate is None else rate
        if hint.role == "program":
            return a.error if a.program_error is None else a.program_error
        if hint.role == "plan":
            return a.error if a.plan_error is None else a.plan_error
        return min(1.0, a.error + a.drift * tokens_in / 1000)

    def _reply(self, text: str, tokens_in: int) -> Completion:
        return Completion(text=text, tokens_in=tokens_in, tokens_out=(len(text) + 3) // 4, latency_s=self._a.latency)

    def complete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        if self._a.latency:
            time.sleep(self._a.latency)
        return self._answer(messages, hint, sample, seed)

    async def acomplete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        if self._a.latency:
            await asyncio.sleep(self._a.latency)
        return self._answer(messages, hint, sample, seed)


def make(policy: str, args: dict[str, Any]) -> ScriptedModel:
    if policy not in _POLICY_ARGS:
        raise AgentloopError(f"unknown scripted model {policy!r}; choose one of: {', '.join(_POLICY_ARGS)}")
    extra = set(args) - _POLICY_ARGS[policy]
    if extra:
        raise AgentloopError(
            f"scripted/{policy}: unknown argument {sorted(extra)[0]!r}; arguments: {', '.join(sorted(_POLICY_ARGS[policy]))}"
        )
    try:
        return ScriptedModel(policy, ScriptedArgs.model_validate(args))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise AgentloopError(
            f"scripted/{policy}: argument {err['loc'][0]}={err.get('input')!r}: {err['msg'].lower()}"
        ) from None
