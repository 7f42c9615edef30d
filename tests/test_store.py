"""The results store and the response cache."""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentloop.errors import AgentloopError
from agentloop.loop import run_episode
from agentloop.models import get_model
from agentloop.store import CachingModel, ResponseCache, ResultsStore, cache_key
from agentloop.types import Completion


def test_an_episode_round_trips_and_is_stored_once(tmp_path):
    rec = run_episode("hanoi", {"disks": 3}, condition="tape", model="scripted/noisy", model_args={"error": 0.2},
                      seed=2)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        run_id = store.begin_run({"name": "t"}, {"started_at": "now"})
        assert store.add_episode("k1", rec, run_id) is True
        assert store.add_episode("k1", rec, run_id) is False
        ((key, back),) = store.episodes()
        assert store.spent() == (0, 0, 0.0)  # the budget's ledger counts requests sent, not records
    assert key == "k1" and back == rec.model_copy(update={"prompts": {}})  # requests are kept apart, once
    with ResultsStore(tmp_path / "r.sqlite") as store:
        assert store.episode("k1") == rec  # with its transcript's requests
    con = sqlite3.connect(tmp_path / "r.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == len(rec.steps)
    json.loads(con.execute("SELECT record FROM episodes").fetchone()[0])  # JSON, not pickle


def test_a_missing_or_foreign_store_is_a_user_error(tmp_path):
    with pytest.raises(AgentloopError, match="no results store"):
        ResultsStore(tmp_path / "none.sqlite", create=False)
    bad = tmp_path / "bad.sqlite"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(AgentloopError, match="bad.sqlite"):
        ResultsStore(bad)


_messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": st.text(max_size=30)}),
    min_size=1, max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(messages=_messages, sample=st.integers(0, 50), other=st.integers(0, 50))
def test_cache_keys_are_stable_and_tell_samples_apart(messages, sample, other):
    k = cache_key("openai/x", {"temperature": 1}, messages, sample, 7, None)
    assert k == cache_key("openai/x", {"temperature": 1}, [dict(m) for m in messages], sample, 7, None)
    assert (k == cache_key("openai/x", {"temperature": 1}, messages, other, 7, None)) == (sample == other)
    assert k != cache_key("openai/x", {"temperature": 1}, messages, sample, 8, None)  # another episode's request
    assert k != cache_key("openai/y", {"temperature": 1}, messages, sample, 7, None)
    assert k != cache_key("openai/x", {"temperature": 0}, messages, sample, 7, None)


def test_caching_model_answers_a_repeat_from_disk(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    model = CachingModel(get_model("scripted/noisy", error=0.5), cache)
    first = run_episode("eca", {"width": 6, "steps": 2}, condition="vote", model=model, seed=1)
    assert cache.hits == 0 and cache.misses == first.calls
    again = run_episode("eca", {"width": 6, "steps": 2}, condition="vote", model=model, seed=1)
    assert cache.hits == first.calls and again.step_ok == first.step_ok and again.tokens_in == first.tokens_in
    cache.close()
    raw = sqlite3.connect(tmp_path / "c.sqlite").execute("SELECT value FROM responses LIMIT 1").fetchone()[0]
    assert set(json.loads(raw)) >= {"text", "tokens_in", "tokens_out"}


def test_cache_put_get_round_trip(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    c = Completion(text="1", tokens_in=10, tokens_out=1, latency_s=0.5, cost=0.001)
    cache.put("k", "m", c)
    assert cache.get("k") == c and cache.get("other") is None
