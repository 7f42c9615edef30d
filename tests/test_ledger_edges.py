"""The experiment budget's ledger in the store at its edges: the refusal it gives, one token left,
costs unreported, what a request still in flight looks like in the store, and a run's summary."""

from __future__ import annotations

import pytest

from agentloop.budget import BudgetExceeded
from agentloop.store import ResultsStore
from agentloop.types import Completion, Limits


@pytest.fixture
def store(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as s:
        yield s


def test_the_ledger_refuses_with_its_scope_and_the_limit(store):
    ledger = store.ledger(Limits(max_calls=1), run_id=1)
    ledger.settle(ledger.reserve(5, 5), Completion(text="x", tokens_in=5, tokens_out=1))
    with pytest.raises(BudgetExceeded, match="^experiment budget of 1 calls reached$") as e:
        ledger.reserve(5, 5)
    assert e.value.scope == "experiment"
    ledger.close()


def test_the_ledger_with_one_token_left_is_not_exhausted(store):
    ledger = store.ledger(Limits(max_tokens=10), run_id=1)
    ledger.settle(ledger.reserve(9, 9), Completion(text="x", tokens_in=9, tokens_out=0))
    assert not ledger.exhausted()
    ledger.settle(ledger.reserve(1, 1), Completion(text="x", tokens_in=1, tokens_out=0))
    assert ledger.exhausted() and store.spent() == (2, 10, 0.0)
    ledger.close()


def test_the_ledger_cost_limit_and_replies_without_a_cost(store):
    ledger = store.ledger(Limits(max_cost=0.5), run_id=1)
    ledger.settle(ledger.reserve(3, 3), Completion(text="x", tokens_in=3, tokens_out=1, cost=None))
    assert store.spent() == (1, 4, 0.0) and not ledger.exhausted()
    ledger.settle(ledger.reserve(3, 3), Completion(text="x", tokens_in=3, tokens_out=1, cost=0.5))
    assert store.spent() == (2, 8, 0.5) and ledger.exhausted()
    with pytest.raises(BudgetExceeded, match=r"^experiment budget of \$0.5 reached$"):
        ledger.reserve(3, 3)
    ledger.close()


def test_a_request_in_flight_is_held_in_the_store(store):
    ledger = store.ledger(Limits(max_calls=5), run_id=7)
    ledger.reserve(12, 10)
    rows = store.con.execute("SELECT run_id, state, tokens, cost FROM requests").fetchall()
    assert rows == [(7, "held", 12, 0)] and store.spent() == (1, 12, 0.0)
    ledger.close()


def test_a_finished_run_keeps_its_summary(store):
    run = store.begin_run({"name": "t"}, {"started_at": "2026-01-01T00:00:00+00:00"})
    assert store.runs()[0]["summary"] is None and store.runs()[0]["finished_at"] is None
    store.end_run(run, {"stored": 3, "budget_exhausted": False})
    (r,) = store.runs()
    assert r["summary"] == {"stored": 3, "budget_exhausted": False} and r["finished_at"]
    assert r["started_at"] == "2026-01-01T00:00:00+00:00" and r["spec"] == {"name": "t"}
