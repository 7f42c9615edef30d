"""The results store's tables as docs/results-schema.md describes them, for readers that query
the file with SQL: the JSON columns, UTC timestamps, and one-line errors for a file that is not
SQLite."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from agentloop.errors import AgentloopError
from agentloop.loop import run_episode
from agentloop.store import ResponseCache, ResultsStore


def test_an_episode_row_holds_its_params_and_model_args_as_sorted_json(tmp_path):
    rec = run_episode("eca", {"width": 4, "steps": 1, "rule": 30}, condition="tape", model="scripted/noisy",
                      model_args={"error": 0.2, "drift": 0.1}, seed=3)
    assert list(rec.params) != sorted(rec.params) and list(rec.model_args) != sorted(rec.model_args)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.add_episode("k", rec, store.begin_run({"name": "t"}, {}))
    con = sqlite3.connect(tmp_path / "r.sqlite")
    params, model_args, scenario, condition, model, seed = con.execute(
        "SELECT params, model_args, scenario, condition, model, seed FROM episodes").fetchone()
    con.close()
    assert params == json.dumps(rec.params, sort_keys=True) == '{"rule": 30, "steps": 1, "width": 4}'
    assert model_args == json.dumps(rec.model_args, sort_keys=True) == '{"drift": 0.1, "error": 0.2}'
    assert (scenario, condition, model, seed) == ("eca", "tape", "scripted/noisy", 3)


def test_timestamps_are_utc(tmp_path):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        run = store.begin_run({"name": "t"}, {})
        store.end_run(run, {})
        store.add_episode("k", run_episode("eca", {"width": 4, "steps": 1}, seed=0), run)
        (r,) = store.runs()
        finished = store.con.execute("SELECT finished_at FROM episodes").fetchone()[0]
    after = datetime.now(timezone.utc) + timedelta(seconds=1)
    for stamp in (r["started_at"], r["finished_at"], finished):
        t = datetime.fromisoformat(stamp)
        assert t.utcoffset() == timedelta(0) and before <= t <= after


def test_a_cache_file_that_is_not_sqlite_is_one_line(tmp_path):
    bad = tmp_path / "cache.sqlite"
    bad.write_bytes(b"this is not a database, just some bytes" * 100)
    with pytest.raises(AgentloopError, match=r"cache.sqlite: not a usable SQLite file \(file is not a database\)$"):
        ResponseCache(bad)
