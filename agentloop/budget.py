"""Budgets that hold: every request is reserved before it is sent and settled after.

`GuardedModel` wraps a model and asks each of its budgets for a reservation before every
request; when one refuses, the request raises `BudgetExceeded` (a `ModelError`, so the loop
ends the episode cleanly) and nothing is sent. A reservation holds one call and the request's
tokens (the prompt's estimate, plus the reply's `max_tokens` when the model has one); once the
reply is in, it is replaced by what the call really cost.

Two kinds of budget share this interface (`reserve`, `settle`, `release`, `exhausted`):

- `Budget`, in memory: one episode's `Limits`. It counts the agent's answered calls, so a
  request that failed is released: provider faults never change an episode's outcome.
- the experiment's ledger (`agentloop.store.Ledger`): every request sent, in SQLite, written
  before the request in a transaction shared by every process on the store. A request that
  failed still counts (it was sent), and so does one whose process was killed mid-request.

Calls are a hard bound. Tokens hold exactly when replies are bounded (`max_tokens`); otherwise
the replies of the requests in flight can pass the limit. Dollars are known only after a reply:
a request is refused once the spend has reached the limit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from agentloop.errors import ModelError
from agentloop.models import Hint, Message, Model, ModelWrapper, estimate_tokens
from agentloop.types import Completion, Limits

__all__ = ["Budget", "BudgetExceeded", "GuardedModel", "Hold", "refusal"]


class BudgetExceeded(ModelError):
    """A request refused because it would pass a budget (or because the run is stopping)."""

    def __init__(self, scope: str, message: str) -> None:
        super().__init__(message)
        self.scope = scope  # "episode", "experiment" or "stopped"


@dataclass(frozen=True)
class Hold:
    """One reservation: the tokens held for the request, and what was sent (its prompt)."""

    tokens: int
    prompt: int
    id: int | None = None  # the ledger's row


def refusal(limits: Limits, scope: str, calls: int, tokens: int, cost: float, need: int) -> str | None:
    """Why one more call needing `need` tokens would pass `limits`, given the spend so far
    (reservations included); None when it fits."""
    if limits.max_calls is not None and calls + 1 > limits.max_calls:
        return f"{scope} budget of {limits.max_calls} calls reached"
    if limits.max_tokens is not None and tokens + need > limits.max_tokens:
        return f"{scope} budget of {limits.max_tokens} tokens reached"
    if limits.max_cost is not None and cost >= limits.max_cost:
        return f"{scope} budget of ${limits.max_cost} reached"
    return None


class Budget:
    """One episode's limits, in memory; thread-safe (a vote's samples reserve at once).

    `calls`, `tokens` and `cost` include the reservations still held.
    """

    def __init__(self, limits: Limits | None, scope: str = "episode") -> None:
        self.limits = limits or Limits()
        self.scope = scope
        self.calls, self.tokens, self.cost = 0, 0, 0.0
        self._lock = threading.Lock()

    def exhausted(self) -> bool:
        """No further call could be granted (every request needs at least one token)."""
        with self._lock:
            return refusal(self.limits, self.scope, self.calls, self.tokens, self.cost, 1) is not None

    def reserve(self, tokens: int, prompt: int) -> Hold:
        with self._lock:
            why = refusal(self.limits, self.scope, self.calls, self.tokens, self.cost, tokens)
            if why is not None:
                raise BudgetExceeded(self.scope, why)
            self.calls += 1
            self.tokens += tokens
        return Hold(tokens, prompt)

    def settle(self, hold: Hold, c: Completion | None) -> None:
        """The request came back (`c`), or failed (None: released, an episode counts answers)."""
        with self._lock:
            if c is None:
                self.calls -= 1
                self.tokens -= hold.tokens
            else:
                self.tokens += c.tokens_in + c.tokens_out - hold.tokens
                self.cost += c.cost or 0.0

    def release(self, hold: Hold) -> None:
        """The request was never sent."""
        self.settle(hold, None)


def _reply_bound(args: dict) -> int:
    """A reply's length is known only afterwards; a `max_tokens` argument bounds it, so it is
    held with the prompt (otherwise the reply is counted when it arrives)."""
    bound = args.get("max_tokens")
    return bound if isinstance(bound, int) and bound > 0 else 0


class GuardedModel(ModelWrapper):
    """A model that asks its budgets (and a stop flag) before every request."""

    def __init__(self, inner: Model, budgets: list, stop: threading.Event | None = None) -> None:
        super().__init__(inner)
        self.budgets = budgets
        self.stop = stop
        self.refused: BudgetExceeded | None = None  # the first refusal, here or further down

    def _reserve(self, messages: list[Message]) -> list[tuple[object, Hold]]:
        if self.stop is not None and self.stop.is_set():
            raise self._refuse(BudgetExceeded("stopped", "the run is stopping"))
        prompt = estimate_tokens(messages)
        need = prompt + _reply_bound(self.inner.args)
        held: list[tuple[object, Hold]] = []
        try:
            for b in self.budgets:
                held.append((b, b.reserve(need, prompt)))
        except BudgetExceeded as exc:
            self._release(held)
            raise self._refuse(exc) from None
        return held

    def _refuse(self, exc: BudgetExceeded) -> BudgetExceeded:
        if self.refused is None:
            self.refused = exc
        return exc

    @staticmethod
    def _release(held: list) -> None:
        for b, h in held:
            b.release(h)

    @staticmethod
    def _settle(held: list, c: Completion | None) -> None:
        for b, h in held:
            b.settle(h, c)

    def complete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        held = self._reserve(messages)
        try:
            out = self.inner.complete(messages, hint=hint, sample=sample, seed=seed)
        except BudgetExceeded as exc:  # refused further down: nothing was sent
            self._release(held)
            raise self._refuse(exc) from None
        except BaseException:  # sent (as far as anyone knows) and failed
            self._settle(held, None)
            raise
        self._settle(held, out)
        return out

    async def acomplete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        held = self._reserve(messages)
        try:
            out = await self.inner.acomplete(messages, hint=hint, sample=sample, seed=seed)
        except BudgetExceeded as exc:
            self._release(held)
            raise self._refuse(exc) from None
        except BaseException:
            self._settle(held, None)
            raise
        self._settle(held, out)
        return out
