"""An episode and its steps are stored together or not at all.

A failure between the episode's row and its steps' rows (here: a step whose answer cannot be
written as JSON) must leave nothing of that episode behind — no episode row, no step, no
request — must leave earlier episodes whole, and must not block storing the episode later.
"""

from __future__ import annotations

import sqlite3

import pytest

from agentloop.loop import run_episode
from agentloop.store import ResultsStore


def _record(seed=1):
    return run_episode("eca", {"rule": 110, "width": 4, "steps": 2}, condition="full", model="scripted/noisy",
                       model_args={"error": 0.2}, seed=seed)


def _unserialisable(rec, at: int):
    """The same record with step `at`'s answer replaced by something JSON cannot write."""
    steps = list(rec.steps)
    steps[at] = steps[at].model_copy(update={"answer": {1, 2}})
    return rec.model_copy(update={"steps": steps})


def _comparable(rec) -> dict:
    # The store keeps a step's vote tally in its transcript (attempts[-1].votes), not in a column
    # of its own: StepRecord.votes does not come back, so it is left out of the comparison.
    d = rec.model_dump()
    for s in d["steps"]:
        s.pop("votes")
    return d


def _rows(path) -> dict[str, int]:
    con = sqlite3.connect(path)
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("episodes", "steps", "prompts")}
    finally:
        con.close()


@pytest.mark.parametrize("at", [0, -1])  # the first step fails, or the last after the others are written
def test_a_step_that_cannot_be_stored_leaves_nothing_of_its_episode(tmp_path, at):
    good, bad = _record(1), _unserialisable(_record(2), at)
    assert good.steps and bad.steps and bad.prompts
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        run_id = store.begin_run({"name": "t"}, {})
        assert store.add_episode("good", good, run_id) is True
        before, stored = _rows(path), store.episodes()
        with pytest.raises(TypeError):
            store.add_episode("bad", bad, run_id)
        assert store.count() == 1 and store.episode_keys() == {"good"}
        assert _rows(path) == before  # no episode row, no step row, no request of it
        assert store.episodes() == stored  # the earlier episode is whole
        assert [s.index for s in stored[0][1].steps] == [s.index for s in good.steps]

        # nothing half-written blocks the key: the repaired record is stored in full
        fixed = _record(2)
        assert store.add_episode("bad", fixed, run_id) is True
        assert _comparable(store.episode("bad")) == _comparable(fixed)
    rows = _rows(path)
    assert rows["episodes"] == 2 and rows["steps"] == len(good.steps) + len(fixed.steps)


def test_a_failed_store_survives_reopening_without_a_trace(tmp_path):
    path = tmp_path / "r.sqlite"
    bad = _unserialisable(_record(3), -1)
    with ResultsStore(path) as store:
        run_id = store.begin_run({"name": "t"}, {})
        with pytest.raises(TypeError):
            store.add_episode("bad", bad, run_id)
    with ResultsStore(path) as store:  # a new connection sees no uncommitted leftovers
        assert store.count() == 0 and store.episodes() == [] and store.episode("bad") is None
    assert _rows(path) == {"episodes": 0, "steps": 0, "prompts": 0}


def test_storing_an_episode_twice_keeps_the_first_and_adds_no_steps(tmp_path):
    path = tmp_path / "r.sqlite"
    first, other = _record(4), _record(5)
    with ResultsStore(path) as store:
        run_id = store.begin_run({"name": "t"}, {})
        assert store.add_episode("k", first, run_id) is True
        assert store.add_episode("k", other, run_id) is False
        assert _comparable(store.episode("k")) == _comparable(first)
    assert _rows(path)["steps"] == len(first.steps)
