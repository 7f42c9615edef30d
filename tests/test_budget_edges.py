"""A budget's edges, one limit at a time: exhausted exactly when the next one-token call would be
refused, never one call or one token early or late (in-memory `Budget`; the ledger in the store
is pinned in tests/test_budget.py)."""

from __future__ import annotations

import pytest

from agentloop.budget import Budget, BudgetExceeded, refusal
from agentloop.types import Completion, Limits


def spend(b: Budget, tokens: int, cost: float = 0.0) -> None:
    b.settle(b.reserve(tokens, tokens), Completion(text="x", tokens_in=tokens, tokens_out=0, cost=cost))


def test_calls_edge():
    b = Budget(Limits(max_calls=2))
    spend(b, 1)
    assert not b.exhausted()
    spend(b, 1)
    assert b.exhausted()
    with pytest.raises(BudgetExceeded, match="^episode budget of 2 calls reached$"):
        b.reserve(1, 1)


def test_tokens_edge_one_token_left_is_not_exhausted():
    b = Budget(Limits(max_tokens=10), "experiment")
    spend(b, 9)
    assert not b.exhausted()  # a call needing one token still fits
    with pytest.raises(BudgetExceeded, match="^experiment budget of 10 tokens reached$"):
        b.reserve(2, 2)
    spend(b, 1)
    assert b.exhausted() and b.tokens == 10


def test_cost_edge_is_reached_at_the_limit_itself():
    b = Budget(Limits(max_cost=0.05))
    spend(b, 1, cost=0.04)
    assert not b.exhausted()
    spend(b, 1, cost=0.01)
    assert b.exhausted() and b.cost == pytest.approx(0.05)
    with pytest.raises(BudgetExceeded, match=r"^episode budget of \$0.05 reached$"):
        b.reserve(1, 1)


def test_no_limits_never_refuse():
    b = Budget(None)
    for _ in range(50):
        spend(b, 1000, cost=10.0)
    assert not b.exhausted() and b.calls == 50


@pytest.mark.parametrize(
    ("limits", "calls", "tokens", "cost", "need", "why"),
    [
        (Limits(max_calls=3), 2, 0, 0.0, 1, None),
        (Limits(max_calls=3), 3, 0, 0.0, 1, "x budget of 3 calls reached"),
        (Limits(max_tokens=100), 0, 60, 0.0, 40, None),
        (Limits(max_tokens=100), 0, 60, 0.0, 41, "x budget of 100 tokens reached"),
        (Limits(max_cost=1.0), 0, 0, 0.999, 1, None),
        (Limits(max_cost=1.0), 0, 0, 1.0, 1, "x budget of $1.0 reached"),
        (Limits(max_calls=1, max_tokens=5, max_cost=1.0), 1, 9, 2.0, 1, "x budget of 1 calls reached"),
        (Limits(max_calls=5, max_tokens=5, max_cost=1.0), 1, 9, 2.0, 1, "x budget of 5 tokens reached"),
    ],
)
def test_refusal_names_the_first_limit_passed(limits, calls, tokens, cost, need, why):
    assert refusal(limits, "x", calls, tokens, cost, need) == why


def test_a_settled_reply_replaces_the_reservation_with_what_it_cost():
    b = Budget(Limits(max_tokens=1000))
    hold = b.reserve(300, 100)  # the prompt and a bound on the reply
    assert (b.calls, b.tokens) == (1, 300)
    b.settle(hold, Completion(text="x", tokens_in=100, tokens_out=20, cost=0.25))
    assert (b.calls, b.tokens, b.cost) == (1, 120, 0.25)
    hold = b.reserve(50, 50)
    b.release(hold)  # never sent
    assert (b.calls, b.tokens, b.cost) == (1, 120, 0.25)


def test_a_reply_without_a_cost_costs_nothing():
    b = Budget(Limits(max_cost=1.0))
    b.settle(b.reserve(5, 5), Completion(text="x", tokens_in=5, tokens_out=1, cost=None))
    b.settle(b.reserve(5, 5), Completion(text="x", tokens_in=5, tokens_out=1, cost=0.0))
    assert b.cost == 0.0 and not b.exhausted()


class _Counting:
    """Delegates to a scripted model and counts the requests it really received (not the store's
    or the record's numbers): a budget is checked against what was sent."""

    def __init__(self, inner):
        import threading

        self.inner, self.name, self.args, self.simulated = inner, inner.name, inner.args, True
        self.sent, self._lock = 0, threading.Lock()

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        with self._lock:
            self.sent += 1
        return self.inner.complete(messages, hint=hint, sample=sample, seed=seed)

    async def acomplete(self, messages, *, hint=None, sample=0, seed=None):
        return self.complete(messages, hint=hint, sample=sample, seed=seed)


@pytest.mark.parametrize("max_calls", [1, 2, 4, 5, 7, 11])
def test_an_episode_call_budget_holds_inside_a_vote_counted_at_the_model(max_calls):
    from agentloop.conditions import get_condition
    from agentloop.loop import run_episode
    from agentloop.models import get_model

    model = _Counting(get_model("scripted/noisy", error=0.3, seed=4))
    r = run_episode("eca", {"rule": 110, "width": 8, "steps": 2}, condition=get_condition("vote", k=3), model=model,
                    seed=1, limits=Limits(max_calls=max_calls))
    assert model.sent <= max_calls and r.calls == model.sent
    assert r.status == "budget" and model.sent >= max_calls - 2  # stopped by the budget, not before it


class _Nested:
    """A model that, while its request is in flight, sends the next one through the episode (so
    each later request sees every earlier one reserved and not yet counted), and notes which
    depth the episode refused."""

    name, args, simulated = "test/nested", {}, False

    def __init__(self) -> None:
        self.ep, self.depth, self.refused_at = None, 0, None

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        from agentloop.loop._episode import OutOfBudget

        self.depth += 1
        try:
            self.ep.call(messages, None, sample + 1, step=0, attempt=0)
        except OutOfBudget:
            self.refused_at = self.depth + 1
        return Completion(text="1", tokens_in=7, tokens_out=2)


def _episode(model, limits: Limits):
    from fakes import episode_of

    ep = episode_of("eca", {"width": 4, "steps": 1}, model=model, limits=limits)
    model.ep = ep
    return ep


MSG = [{"role": "user", "content": "x" * 40}]  # estimated at 4 + 10 = 14 tokens


@pytest.mark.parametrize("max_calls", [1, 2, 3, 5])
def test_requests_in_flight_count_against_the_call_limit(max_calls):
    model = _Nested()
    ep = _episode(model, Limits(max_calls=max_calls))
    ep.call(MSG, None, 0, step=0, attempt=0)
    assert model.refused_at == max_calls + 1 and ep.calls == max_calls and ep._held == 0
    assert ep.over_budget()


@pytest.mark.parametrize("fits", [1, 2, 4])
def test_requests_in_flight_count_against_the_token_limit_by_their_estimate(fits):
    from agentloop.models._protocol import estimate_tokens

    assert estimate_tokens(MSG) == 14
    model = _Nested()
    ep = _episode(model, Limits(max_tokens=14 * fits))  # room for exactly `fits` estimates at once
    ep.call(MSG, None, 0, step=0, attempt=0)
    assert model.refused_at == fits + 1 and ep.calls == fits and ep._held_tokens == 0
    assert ep.tokens_in + ep.tokens_out == 9 * fits  # what the replies cost replaced the estimates


def test_the_token_limit_counts_output_tokens_and_one_token_left_still_fits():
    model = _Nested()
    ep = _episode(model, Limits(max_tokens=10))
    ep.tokens_in, ep.tokens_out = 5, 4
    assert not ep.over_budget()  # 9 spent, one left
    ep.tokens_out = 5
    assert ep.over_budget()


def test_the_cost_limit_refuses_once_the_cost_reaches_it():
    from agentloop.loop._episode import OutOfBudget
    from fakes import Scripted

    ep = _episode(Scripted(["1"]), Limits(max_cost=1.0))
    ep.cost = 0.999
    assert not ep.over_budget()
    ep.call(MSG, None, 0, step=0, attempt=0)  # the cost of a reply is known only once it is counted
    ep.cost = 1.0
    assert ep.over_budget()
    with pytest.raises(OutOfBudget):
        ep.call(MSG, None, 0, step=0, attempt=0)
    assert ep.calls == 1
