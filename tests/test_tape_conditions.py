"""The tape's contract (windows of the committed state, append-only commits, snapshots) against a
scenario that records what it is asked, and the conditions' presets, overrides and bounds."""

from __future__ import annotations

import json

import pytest

from agentloop.conditions import PRESETS, Condition, get_condition
from agentloop.errors import AgentloopError
from agentloop.tape import Tape, TapeEntry
from agentloop.types import Step


class Ledger:
    """A duck-typed scenario: the state is the tuple of committed answers; every method says
    what it was given, so the tape's calls can be checked exactly."""

    def initial_state(self, inst):
        return (f"start of {inst}",)

    def window(self, inst, state, step):
        return f"{inst}|{step.index}|{state[-1]}|{len(state)}"

    def apply(self, inst, state, step, answer):
        return (*state, f"{inst}:{step.key}:{answer}")

    def to_json_answer(self, answer):
        return {"json": answer}

    def result_json(self, inst, state, answers):
        return {"inst": inst, "last": state[-1], "answers": list(answers)}


STEPS = [Step(0, (0, 1), "first"), Step(1, (0, 2), "second"), Step(2, (1, 0), "third")]


def test_a_new_tape_holds_the_initial_state_and_nothing_committed():
    tape = Tape(Ledger(), "inst")
    assert tape.state == ("start of inst",)
    assert len(tape) == 0 and tape.entries == () and list(tape.answers) == []
    assert tape.snapshot() == {"entries": [], "result": {"inst": "inst", "last": "start of inst", "answers": []}}


def test_commit_applies_the_answer_to_the_committed_state_and_records_it():
    tape = Tape(Ledger(), "I")
    tape.commit(STEPS[0], 7, "ok")
    tape.commit(STEPS[1], 8, "wrong")
    assert tape.state == ("start of I", "I:(0, 1):7", "I:(0, 2):8")
    assert len(tape) == 2
    assert tape.entries == (
        TapeEntry(0, "first", {"json": 7}, "ok"),
        TapeEntry(1, "second", {"json": 8}, "wrong"),
    )
    assert list(tape.answers) == [7, 8]  # the raw answers, not their JSON views


def test_render_shows_the_window_of_the_current_state_for_the_step():
    tape = Tape(Ledger(), "I")
    assert tape.render(STEPS[0]) == "I|0|start of I|1"
    tape.commit(STEPS[0], 5, "ok")
    assert tape.render(STEPS[1]) == "I|1|I:(0, 1):5|2"
    assert tape.render(STEPS[2]) == "I|2|I:(0, 1):5|2"  # what is committed, whichever step asks


def test_entries_are_never_rewritten_and_a_read_copy_does_not_grow():
    tape = Tape(Ledger(), "I")
    tape.commit(STEPS[0], 1, "ok")
    before = tape.entries
    tape.commit(STEPS[1], 2, "ok")
    assert before == (TapeEntry(0, "first", {"json": 1}, "ok"),)
    assert tape.entries[:1] == before and len(tape.entries) == 2
    with pytest.raises(AttributeError):
        tape.entries.append(TapeEntry(9, "x", None, "ok"))  # a tuple: no way to append from outside


def test_snapshot_is_json_with_every_entry_and_the_agents_result():
    tape = Tape(Ledger(), "I")
    for step, answer, code in zip(STEPS, (3, 4, 5), ("ok", "wrong", "ok")):
        tape.commit(step, answer, code)
    snap = json.loads(json.dumps(tape.snapshot()))
    assert snap == {
        "entries": [
            {"index": 0, "label": "first", "answer": {"json": 3}, "code": "ok"},
            {"index": 1, "label": "second", "answer": {"json": 4}, "code": "wrong"},
            {"index": 2, "label": "third", "answer": {"json": 5}, "code": "ok"},
        ],
        "result": {"inst": "I", "last": "I:(1, 0):5", "answers": [3, 4, 5]},
    }


def test_the_tape_of_a_real_scenario_shows_the_agents_row_not_the_truth():
    from agentloop.scenarios import get_scenario

    sc = get_scenario("eca")
    inst = sc.generate(sc.Params(rule=90, width=4, steps=2), 0)
    tape = Tape(sc, inst)
    steps = sc.steps(inst)
    wrong = [1 - sc.solve(inst, tape.state, s) for s in steps[:4]]
    for s, w in zip(steps[:4], wrong):
        tape.commit(s, w, "wrong")
    # generation 2, cell 0 sees cells 3, 0, 1 of the agent's (wrong) generation 1
    assert tape.render(steps[4]) == f"{wrong[3]}{wrong[0]}{wrong[1]}"


# --- conditions --------------------------------------------------------------------------------


def test_the_presets_switch_on_their_supports():
    flags = {n: (c.decompose, c.tape, c.vote, c.verify) for n, c in PRESETS.items()}
    assert flags == {
        "oneshot": (False, False, False, False),
        "stepwise": (True, False, False, False),
        "tape": (True, True, False, False),
        "vote": (True, True, True, False),
        "verify": (True, True, False, True),
        "full": (True, True, True, True),
    }
    for name in PRESETS:
        c = get_condition(name)
        assert c == PRESETS[name] and c.name == name
        assert (c.k, c.max_samples, c.max_retries, c.format_retries) == (3, 20, 3, 2)


def test_overrides_change_only_the_bounds_named():
    c = get_condition("full", k=5, max_retries=1)
    assert (c.name, c.vote, c.verify, c.k, c.max_retries, c.max_samples, c.format_retries) == (
        "full", True, True, 5, 1, 20, 2)
    assert PRESETS["full"].k == 3  # the preset itself is untouched


def test_an_unknown_condition_names_the_choices():
    with pytest.raises(AgentloopError) as e:
        get_condition("majority")
    assert str(e.value) == "unknown condition 'majority'; choose one of: oneshot, stepwise, tape, vote, verify, full"


@pytest.mark.parametrize(
    ("field", "lowest", "highest"),
    [("k", 1, 20), ("max_samples", 1, 500), ("max_retries", 0, 50), ("format_retries", 0, 10)],
)
def test_bounds_are_checked_at_both_ends(field, lowest, highest):
    assert getattr(get_condition("full", **{field: lowest}), field) == lowest
    assert getattr(get_condition("full", **{field: highest}), field) == highest
    with pytest.raises(AgentloopError) as e:
        get_condition("full", **{field: lowest - 1})
    assert str(e.value) == f"condition full: {field}={lowest - 1!r}: input should be greater than or equal to {lowest}"
    with pytest.raises(AgentloopError) as e:
        get_condition("vote", **{field: highest + 1})
    assert str(e.value) == f"condition vote: {field}={highest + 1!r}: input should be less than or equal to {highest}"


def test_a_bound_of_the_wrong_type_or_an_unknown_field_is_refused_with_its_name():
    with pytest.raises(AgentloopError) as e:
        get_condition("vote", k="many")
    assert str(e.value).startswith("condition vote: k='many': input should be a valid integer")
    with pytest.raises(AgentloopError) as e:
        get_condition("vote", quorum=2)
    assert str(e.value).startswith("condition vote: unknown field 'quorum'; fields: decompose, tape, vote")


def test_conditions_are_frozen():
    c = Condition(name="custom")
    with pytest.raises(Exception):
        c.k = 9
    assert c.k == 3
