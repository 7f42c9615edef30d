"""A version 1 store (steps without transcript columns) opened for writing is migrated in place:
its old steps come back with no transcript, new episodes keep theirs, and it opens as version 2."""

from __future__ import annotations

import sqlite3

from agentloop.loop import run_episode
from agentloop.store import SCHEMA_VERSION, ResultsStore

V1_STEP_COLUMNS = ("episode_key, idx, label, answer, code, ok, first_ok, on_track, committed, attempts, samples, "
                   "calls, prompt_tokens, tokens_out, latency_s")


def _version_1_store(path):
    """A store as version 1 wrote it: one episode, steps without format_retries and transcript."""
    rec = run_episode("eca", {"rule": 110, "width": 4, "steps": 1}, condition="tape", model="scripted/noisy",
                      model_args={"format": 0.3}, seed=2)
    with ResultsStore(path) as store:
        store.add_episode("old", rec, store.begin_run({"name": "t"}, {"started_at": "now"}))
    con = sqlite3.connect(path)
    con.executescript(
        f"CREATE TABLE steps_v1 AS SELECT {V1_STEP_COLUMNS} FROM steps; DROP TABLE steps; "
        "ALTER TABLE steps_v1 RENAME TO steps; UPDATE meta SET value='1' WHERE key='schema_version';"
    )
    con.close()
    return rec


def _schema(path):
    con = sqlite3.connect(path)
    try:
        version = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
        columns = [r[1] for r in con.execute("PRAGMA table_info(steps)")]
        return version, columns
    finally:
        con.close()


def test_a_version_1_store_opened_for_writing_is_migrated_in_place(tmp_path):
    db = tmp_path / "v1.sqlite"
    old = _version_1_store(db)
    assert old.format_retries > 0 and any(s.attempts for s in old.steps)
    assert _schema(db) == ("1", V1_STEP_COLUMNS.split(", "))
    with ResultsStore(db) as store:
        ((key, back),) = store.episodes()
        assert key == "old" and back.step_ok == old.step_ok
        # old steps have no transcript and no format re-asks on record
        assert all(s.format_retries == 0 and s.attempts == [] for s in back.steps)
        new = run_episode("eca", {"rule": 110, "width": 4, "steps": 1}, condition="tape", model="scripted/noisy",
                          model_args={"format": 0.3}, seed=2)
        assert store.add_episode("new", new, store.begin_run({"name": "t2"}, {})) is True
        stored = store.episode("new")
        assert [s.format_retries for s in stored.steps] == [s.format_retries for s in new.steps]
        assert [len(s.attempts) for s in stored.steps] == [len(s.attempts) for s in new.steps]
    version, columns = _schema(db)
    assert version == str(SCHEMA_VERSION) == "2"
    assert columns == [*V1_STEP_COLUMNS.split(", "), "format_retries", "transcript"]
    with ResultsStore(db) as store:  # a migrated store opens as it is
        assert sorted(k for k, _ in store.episodes()) == ["new", "old"]
    assert _schema(db) == (version, columns)


def test_a_half_migrated_store_gains_only_the_missing_column(tmp_path):
    db = tmp_path / "half.sqlite"
    _version_1_store(db)
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE steps ADD COLUMN format_retries INTEGER NOT NULL DEFAULT 0")
    con.commit()
    con.close()
    with ResultsStore(db) as store:
        assert store.count() == 1
    assert _schema(db) == ("2", [*V1_STEP_COLUMNS.split(", "), "format_retries", "transcript"])
