"""Budgets that are never exceeded: a call is reserved before it is made, not counted after.

The loop's own `Limits` are checked between steps, so a vote (many samples in one step) can run
past them. `GuardedModel` wraps a model and asks each `Budget` for permission before every
request; when one refuses, the request raises `BudgetExceeded` (a `ModelError`, so the loop
ends the episode cleanly) and the runner knows which budget stopped it.

Calls are a hard bound. Tokens and dollars are only known after a reply, so before a call the
guard reserves the prompt's estimated tokens and refuses when the spend plus that estimate would
pass the limit; a reply's own output tokens (and a call's price) can still overshoot by one call
per connection in flight. (Scripted models report exactly the estimated prompt tokens; only
their few reply tokens can pass the limit.)
"""

from __future__ import annotations

import threading

from agentloop.errors import ModelError
from agentloop.models import Hint, Message, Model, ModelWrapper, estimate_tokens
from agentloop.types import Completion, Limits


class BudgetExceeded(ModelError):
    """A request refused because it would pass a budget (or because the run is stopping)."""

    def __init__(self, scope: str, message: str) -> None:
        super().__init__(message)
        self.scope = scope  # "episode", "experiment" or "stopped"


class Budget:
    """Calls, tokens and dollars allowed, spent and reserved; thread-safe."""

    def __init__(self, limits: Limits | None, scope: str, *, calls: int = 0, tokens: int = 0, cost: float = 0.0):
        self.limits = limits or Limits()
        self.scope = scope
        self.calls, self.tokens, self.cost = calls, tokens, cost
        self._calls_held = 0
        self._tokens_held = 0
        self._lock = threading.Lock()

    def exhausted(self) -> bool:
        """No further call could be granted (every request reserves at least one token)."""
        with self._lock:
            return self._refusal(1) is not None

    def reserve(self, est_tokens: int) -> str | None:
        """Hold one call and its estimated prompt tokens; the reason it is refused otherwise."""
        with self._lock:
            why = self._refusal(est_tokens)
            if why is None:
                self._calls_held += 1
                self._tokens_held += est_tokens
            return why

    def _refusal(self, est_tokens: int) -> str | None:
        """Why one more call of `est_tokens` would pass a limit; call with the lock held."""
        lim = self.limits
        if lim.max_calls is not None and self.calls + self._calls_held + 1 > lim.max_calls:
            return f"{self.scope} budget of {lim.max_calls} calls reached"
        if lim.max_tokens is not None and self.tokens + self._tokens_held + est_tokens > lim.max_tokens:
            return f"{self.scope} budget of {lim.max_tokens} tokens reached"
        if lim.max_cost is not None and self.cost >= lim.max_cost:
            return f"{self.scope} budget of ${lim.max_cost} reached"
        return None

    def settle(self, est_tokens: int, c: Completion | None) -> None:
        """Release a reservation and add what the call really cost (nothing when it raised)."""
        with self._lock:
            self._calls_held -= 1
            self._tokens_held -= est_tokens
            if c is not None:
                self.calls += 1
                self.tokens += c.tokens_in + c.tokens_out
                self.cost += c.cost or 0.0


class GuardedModel(ModelWrapper):
    """A model that asks its budgets (and a stop flag) before every request."""

    def __init__(self, inner: Model, budgets: list[Budget], stop: threading.Event | None = None) -> None:
        super().__init__(inner)
        self.budgets = budgets
        self.stop = stop
        self.refused: BudgetExceeded | None = None  # the first refusal, for the runner

    def _reserve(self, messages: list[Message]) -> tuple[int, list[Budget]]:
        if self.stop is not None and self.stop.is_set():
            raise self._refuse(BudgetExceeded("stopped", "the run is stopping"))
        est = estimate_tokens(messages)
        held: list[Budget] = []
        for b in self.budgets:
            why = b.reserve(est)
            if why is not None:
                for h in held:
                    h.settle(est, None)
                raise self._refuse(BudgetExceeded(b.scope, why))
            held.append(b)
        return est, held

    def _refuse(self, exc: BudgetExceeded) -> BudgetExceeded:
        if self.refused is None:
            self.refused = exc
        return exc

    def complete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        est, held = self._reserve(messages)
        out = None
        try:
            out = self.inner.complete(messages, hint=hint, sample=sample, seed=seed)
            return out
        finally:
            for b in held:
                b.settle(est, out)

    async def acomplete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        est, held = self._reserve(messages)
        out = None
        try:
            out = await self.inner.acomplete(messages, hint=hint, sample=sample, seed=seed)
            return out
        finally:
            for b in held:
                b.settle(est, out)
