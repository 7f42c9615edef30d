"""Budgets that hold: reserved before a request is sent, settled after, across processes and kills.

Real requests are counted independently of the store: by a counting wrapper around the
scripted model, or by a 127.0.0.1 HTTP server that counts what it was sent.
"""

from __future__ import annotations

import pytest

from agentloop.budget import Budget, BudgetExceeded
from agentloop.types import Completion, Limits


def test_budget_is_exhausted_exactly_when_it_would_refuse_the_next_call():
    b = Budget(Limits(max_calls=2, max_tokens=100), "experiment")
    first = b.reserve(40, 40)
    assert not b.exhausted()
    b.settle(first, Completion(text="x", tokens_in=40, tokens_out=0))
    with pytest.raises(BudgetExceeded, match="experiment budget of 100 tokens reached"):
        b.reserve(61, 61)
    assert not b.exhausted()
    second = b.reserve(60, 60)  # a reservation held counts as spent
    assert b.exhausted()
    with pytest.raises(BudgetExceeded, match="2 calls"):
        b.reserve(1, 1)
    b.settle(second, None)  # the call raised: an episode counts answers, so it is released
    assert not b.exhausted() and (b.calls, b.tokens) == (1, 40)
