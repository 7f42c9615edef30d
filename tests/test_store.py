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
    head = json.loads(con.execute("SELECT record FROM episodes").fetchone()[0])  # JSON, not pickle
    assert "steps" not in head and "prompts" not in head  # they have their own tables, stored once


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


# --- opening a store: read-only reports, schema checks, old stores ------------------------------


def _stored_store(path):
    rec = run_episode("hanoi", {"disks": 2}, condition="tape", model="scripted/oracle", seed=1)
    with ResultsStore(path) as store:
        store.add_episode("k1", rec, store.begin_run({"name": "t"}, {"started_at": "now"}))
    return rec


def test_a_read_only_open_writes_nothing(tmp_path):
    foreign = tmp_path / "foreign.sqlite"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE people(name TEXT)")
    con.commit()
    con.close()
    before = foreign.read_bytes()
    with pytest.raises(AgentloopError) as e:
        ResultsStore(foreign, create=False)
    assert str(e.value) == f"{foreign}: not an agentloop results store (no meta table)"
    with pytest.raises(AgentloopError) as e:
        ResultsStore(foreign)  # to write into: refused before anything is written to it
    assert str(e.value) == f"{foreign}: not an agentloop results store (no meta table)"
    assert foreign.read_bytes() == before  # no tables added, the journal mode not switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.sqlite"]


def test_a_store_that_cannot_be_written_is_read(tmp_path):
    d = tmp_path / "ro"
    rec = _stored_store(d / "results.sqlite")
    for f in d.iterdir():
        f.chmod(0o444)
    d.chmod(0o555)
    try:
        with ResultsStore(d / "results.sqlite", create=False) as store:
            assert store.episodes()[0][1].step_ok == rec.step_ok
    finally:
        d.chmod(0o755)


def test_a_version_1_store_is_read_without_migrating_it(tmp_path):
    db = tmp_path / "v1.sqlite"
    rec = _stored_store(db)
    con = sqlite3.connect(db)  # make it what version 1 wrote: no transcript columns
    con.executescript(
        "CREATE TABLE steps_v1 AS SELECT episode_key, idx, label, answer, code, ok, first_ok, on_track, committed, "
        "attempts, samples, calls, prompt_tokens, tokens_out, latency_s FROM steps; DROP TABLE steps; "
        "ALTER TABLE steps_v1 RENAME TO steps; UPDATE meta SET value='1' WHERE key='schema_version';"
    )
    con.close()
    before = db.read_bytes()
    with ResultsStore(db, create=False) as store:
        ((_, back),) = store.episodes()
    assert back.step_ok == rec.step_ok and db.read_bytes() == before


@pytest.mark.parametrize(
    "script, fragment",
    [
        ("CREATE TABLE meta(key TEXT, value TEXT); INSERT INTO meta VALUES ('schema_version', 'x');", "results schema x"),
        ("CREATE TABLE meta(key TEXT, value TEXT); CREATE TABLE episodes(x);", "results schema None|episodes lacks"),
        ("CREATE TABLE meta(key TEXT, value TEXT); INSERT INTO meta VALUES ('schema_version', '2'); "
         "CREATE TABLE runs(a); CREATE TABLE episodes(key TEXT); CREATE TABLE steps(b);", "table episodes lacks"),
    ],
)
@pytest.mark.parametrize("create", [True, False])
def test_a_wrong_schema_is_one_line_before_any_query(tmp_path, script, fragment, create):
    db = tmp_path / "results.sqlite"
    sqlite3.connect(db).executescript(script)
    with pytest.raises(AgentloopError, match=fragment) as info:
        ResultsStore(db, create=create)
    assert "\n" not in str(info.value)


def test_runs_stored_before_redaction_are_redacted_when_read(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.begin_run({"name": "t"}, {"started_at": "now", "argv": ["agentloop", "-M", "api_key=sk-OLD-SECRET"]})
        assert store.runs()[0]["provenance"]["argv"] == ["agentloop", "-M", "api_key=***"]


def test_an_episode_with_no_recorded_step_took_no_model_time(tmp_path):
    from agentloop.store import ResultsStore

    with ResultsStore(tmp_path / "results.sqlite") as store:
        assert store.latency_s("never-ran") == 0.0


def test_an_episode_journal_gives_back_its_checkpoint_and_only_the_steps_before_it(tmp_path):
    """After a kill the store holds a checkpoint and maybe step rows written after it: load()
    returns the checkpoint and drops those rows, so the resumed run writes them once."""
    from agentloop.loop import run_episode
    from agentloop.store import EpisodeJournal, ResultsStore

    rec = run_episode("ledger", {"steps": 6}, condition="tape", model="scripted/noisy",
                      model_args={"error": 0.4, "seed": 2}, seed=1)
    steps = rec.steps
    assert len(steps) == 6 and not all(s.ok for s in steps[:3])  # a slip before the checkpoint
    db = tmp_path / "results.sqlite"
    with ResultsStore(db) as store, EpisodeJournal(db, "ep") as j, EpisodeJournal(db, "other") as other:
        assert j.load() is None and store.latency_s("ep") == 0.0
        other.save(steps, {}, {"step": 6, "mine": False})
        j.save(steps[:3], {}, {"step": 3, "state": [1, 2]})
        j.save(steps[3:5], {}, None)  # written after the last checkpoint, then killed
        assert j.step_ok(99) == bytes(s.ok for s in steps[:5])
        assert j.load() == {"step": 3, "state": [1, 2]}
        assert j.step_ok(99) == bytes(s.ok for s in steps[:3]) and j.step_ok(2) == bytes(s.ok for s in steps[:2])
        assert j.committed_answers(99) == [s.answer for s in steps[:3] if s.committed]
        assert store.latency_s("ep") == pytest.approx(sum(s.latency_s for s in steps[:3]))
        assert other.load() == {"step": 6, "mine": False} and len(other.step_ok(99)) == 6  # another key untouched
        j.discard()
        assert j.load() is None and j.step_ok(99) == b"" and other.step_ok(99) != b""


def test_an_episode_head_is_the_record_without_its_steps(tmp_path):
    rec = run_episode("hanoi", {"disks": 3}, condition="tape", model="scripted/noisy", model_args={"error": 0.2},
                      seed=2)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.add_episode("k1", rec, store.begin_run({"name": "t"}, {}))
        head = store.episode_head("k1")
        assert head == rec.model_copy(update={"steps": [], "prompts": {}}) and rec.steps
        assert store.episode_head("k2") is None


@pytest.mark.parametrize("fallback", [False, True], ids=["read-only", "immutable"])
def test_a_store_opened_to_read_may_be_read_from_another_thread(tmp_path, monkeypatch, fallback):
    import threading

    import agentloop.store as store_mod

    rec = _stored_store(tmp_path / "results.sqlite")
    if fallback:  # as when no WAL index can be made beside the file: the immutable open is used
        real = sqlite3.connect

        def connect(database, *a, **kw):
            if "mode=ro" in str(database):
                raise sqlite3.OperationalError("unable to open database file")
            return real(database, *a, **kw)

        monkeypatch.setattr(store_mod.sqlite3, "connect", connect)
    with ResultsStore(tmp_path / "results.sqlite", create=False) as store:
        got = []
        t = threading.Thread(target=lambda: got.append(store.episodes()[0][1].step_ok))
        t.start()
        t.join()
        assert got == [rec.step_ok]
