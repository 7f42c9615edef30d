from __future__ import annotations

import json

from agentloop.scenarios import get_scenario
from agentloop.tape import Tape


def test_tape_is_append_only_and_snapshots_to_json():
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=2), 0)
    tape = Tape(sc, inst)
    steps = sc.steps(inst)
    seen = []
    for step in steps:
        before = tape.entries
        answer = sc.solve(inst, tape.state, step)
        tape.commit(step, answer, "ok")
        assert tape.entries[: len(before)] == before  # earlier entries are never rewritten
        seen.append(list(answer))
    snap = json.loads(json.dumps(tape.snapshot()))
    assert [e["answer"] for e in snap["entries"]] == seen == snap["result"]
    assert len(tape) == 3 and sc.is_goal(inst, tape.state)
    assert "peg 2: [2, 1]" in tape.render(steps[-1])


def test_tape_holds_committed_answers_not_the_truth():
    sc = get_scenario("eca")
    inst = sc.generate(sc.Params(rule=110, width=4, steps=1), 0)
    tape = Tape(sc, inst)
    wrong = []
    for step in sc.steps(inst):
        w = 1 - sc.solve(inst, tape.state, step)
        tape.commit(step, w, "wrong")
        wrong.append(w)
    assert tape.snapshot()["result"] == wrong
