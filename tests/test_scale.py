"""Long episodes in bounded memory: steps made on demand, a tape that keeps only what the
window and the result need, records that leave as the episode runs."""

from __future__ import annotations

import tracemalloc

import pytest

from agentloop.loop import run_episode
from agentloop.scenarios import get_scenario
from agentloop.types import Step


def test_hanois_steps_are_made_on_demand_and_behave_like_the_list_they_replace():
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=20, start="classic"), 0)
    steps = sc.steps(inst)
    assert len(steps) == 2**20 - 1
    assert steps[0] == Step(0, (1,), "move 1") and steps[-1] == Step(2**20 - 2, (2**20 - 1,), "move 1048575")
    assert steps[3:5] == [Step(3, (4,), "move 4"), Step(4, (5,), "move 5")]
    small = sc.steps(sc.generate(sc.Params(disks=3, start="classic"), 0))
    assert small == [Step(i, (i + 1,), f"move {i + 1}") for i in range(7)] and list(small)[-1].index == 6
    with pytest.raises(IndexError):
        steps[2**20 - 1]


def test_without_answers_the_record_has_no_result_lists_and_the_rest_is_the_same():
    kw = dict(condition="vote", model="scripted/noisy", model_args={"error": 0.1}, seed=3)
    full = run_episode("hanoi", {"disks": 6, "start": "classic"}, **kw)
    bare = run_episode("hanoi", {"disks": 6, "start": "classic"}, answers=False, **kw)
    assert len(full.answer) == 63 and full.expected is not None
    assert bare.answer is None and bare.expected is None
    same = {"answer", "expected", "wall_s"}
    assert bare.model_dump(exclude=same) == full.model_dump(exclude=same)


def _peak(disks: int) -> int:
    tracemalloc.start()
    try:
        r = run_episode("hanoi", {"disks": disks, "start": "classic"}, condition="tape", model="scripted/oracle",
                        sink=lambda records, prompts: None, answers=False, transcripts=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.success and r.steps == []
    return peak


def test_an_episode_that_streams_its_records_holds_memory_that_does_not_grow_with_its_steps():
    run_episode("hanoi", {"disks": 3}, model="scripted/oracle")  # imports and caches first
    small, large = _peak(9), _peak(12)  # 511 and 4,095 steps
    # What stays per step is one byte of step_ok (and its list in the record at the end):
    # 3,584 more steps may add some 100 KB, not the ~3 MB that kept steps and entries would.
    assert large - small < 500_000, (small, large)


def test_a_run_that_discards_its_records_builds_none(monkeypatch):
    import agentloop.loop._steps as steps_mod
    from agentloop.loop._episode import discard

    def no_records(*a, **kw):
        raise AssertionError("a step record was built")

    monkeypatch.setattr(steps_mod, "_record", no_records)
    r = run_episode("hanoi", {"disks": 4, "start": "classic"}, condition="vote", model="scripted/oracle", sink=discard)
    assert r.success and r.steps == [] and r.calls == 45
    with pytest.raises(AssertionError, match="step record"):
        run_episode("hanoi", {"disks": 4, "start": "classic"}, model="scripted/oracle", sink=lambda recs, prompts: None)


def test_vote_labels_of_integer_tuples_are_their_json():
    import json

    from agentloop.supports import _label

    for key in [(3, 0, 2), (), (-1, 10**20), (True, 1), (1.5, 2), ("a", 1)]:
        assert _label(key) == json.dumps(key, ensure_ascii=False, default=str)


def test_an_episode_of_more_super_steps_than_langgraphs_default_limit_runs_to_the_end(monkeypatch):
    import agentloop.loop._graph as graph

    monkeypatch.setattr(graph, "QUANTUM_S", 0.0)  # one step per super-step: 16,383 of them (the default allows 10,007)
    r = run_episode("hanoi", {"disks": 14, "start": "classic"}, condition="tape", model="scripted/oracle",
                    transcripts=False)
    assert r.status == "solved" and len(r.step_ok) == 2**14 - 1
