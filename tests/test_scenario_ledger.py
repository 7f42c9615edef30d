"""Ledger: look-up and running sum, what the tape shows, the parser."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentloop.errors import ParseError
from agentloop.loop import run_episode
from agentloop.loop._worker import step_messages
from agentloop.scenarios import get_scenario
from agentloop.scenarios.ledger import LedgerInstance, LedgerParams, LedgerState
from fakes import episode_of

sc = get_scenario("ledger")
TABLE = (("kavo", 12), ("mipu", -30), ("stera", 7))
INST = LedgerInstance(LedgerParams(size=3, steps=4), 0, TABLE, (1, 0, 1, 2))


def test_hand_written_totals():
    state, totals = sc.initial_state(INST), []
    for step in sc.steps(INST):
        a = sc.solve(INST, state, step)
        totals.append(a)
        state = sc.apply(INST, state, step, a)
    assert totals == [-30, -18, -48, -41]
    assert sc.is_goal(INST, state) and sc.expected_json(INST) == -41
    assert [s.label for s in sc.steps(INST)] == ["step 1: mipu", "step 2: kavo", "step 3: mipu", "step 4: stera"]


def test_one_slip_is_one_error_not_an_error_at_every_later_step():
    s0, (first, second, *_) = sc.initial_state(INST), sc.steps(INST)
    v = sc.check(INST, s0, first, 30)  # sign slip
    assert v.code == "wrong" and v.expected == -30
    s1 = sc.apply(INST, s0, first, 30)
    assert sc.solve(INST, s1, second) == 42  # locally right from the agent's own total
    assert not sc.on_track(INST, s1, LedgerState(-30, 1))
    assert not sc.is_goal(INST, LedgerState(-41, 3))  # the right total, but not after every step


def test_the_tape_shows_only_the_total_and_the_named_row():
    step = sc.steps(INST)[2]
    window = sc.window(INST, LedgerState(-18, 2), step)
    assert window == "Running total: -18. Table row: mipu = -30."
    assert "kavo" not in sc.rules(INST) and "kavo" not in window
    assert all(k in sc.show_initial(INST) for k, _ in TABLE)


def _messages(condition: str):
    ep = episode_of("ledger", {"size": 30, "steps": 5}, condition, seed=4)
    return ep.instance, "\n".join(m["content"] for m in step_messages(ep, ep.steps[0], None))


def test_stepwise_sees_the_whole_table_and_tape_sees_one_row():
    inst, stepwise = _messages("stepwise")
    _, tape = _messages("tape")
    keys = [k for k, _ in inst.table]
    named = inst.table[inst.order[0]][0]
    assert all(re.search(rf"\b{k}\b", stepwise) for k in keys)
    assert {k for k in keys if re.search(rf"\b{k}\b", tape)} == {named}


def test_generator_is_deterministic_with_unique_keys_and_nonzero_values():
    a = sc.generate(LedgerParams(size=200, steps=50), 9)
    assert a == sc.generate(LedgerParams(size=200, steps=50), 9)
    keys = [k for k, _ in a.table]
    assert len(set(keys)) == 200 and all(v and -99 <= v <= 99 for _, v in a.table)
    assert len(a.order) == 50 and all(0 <= r < 200 for r in a.order)


@settings(max_examples=200, deadline=None)
@given(value=st.integers(-10**8, 10**8))
def test_parser_round_trips_and_reads_labels_and_minus_signs(value):
    step = sc.steps(INST)[0]
    assert sc.parse(sc.format_answer(value), step) == value
    assert sc.parse(f"Running total: {value}", step) == value
    assert sc.parse(str(value).replace("-", "\u2212"), step) == value  # the typographic minus
    assert sc.parse(f"+{abs(value)}", step) == abs(value)


def test_parser_rejects_near_misses():
    step = sc.steps(INST)[0]
    for bad in ("", "-", "+-3", "--3", "12 + 7 = 19", "1,000", "nineteen", "3.5", "1234567890", "٤٢"):
        with pytest.raises(ParseError):
            sc.parse(bad, step)


def test_drift_grows_with_the_stepwise_transcript_but_not_with_the_tape():
    """Simulated: the noisy model's error grows with prompt tokens, which only stepwise accumulates."""
    args = {"error": 0.0, "drift": 0.2, "seed": 0}
    params = {"size": 40, "steps": 60}
    stepwise = run_episode("ledger", params, condition="stepwise", model="scripted/noisy", model_args=args, seed=1)
    tape = run_episode("ledger", params, condition="tape", model="scripted/noisy", model_args=args, seed=1)
    assert stepwise.simulated and tape.simulated
    assert stepwise.steps[-1].prompt_tokens > 10 * tape.steps[-1].prompt_tokens
    assert sum(stepwise.step_ok) < sum(tape.step_ok)




def test_whole_task_lines_read_the_total_after_the_last_colon_and_stop_at_the_plan():
    assert sc.parse_trajectory(INST, "step 1: mipu: -30\nstep 2 (kavo: +12): -18\n-48\nstep 4: -41") == [-30, -18, -48, -41]
    # a reply may go on after the last step; those lines are never read
    assert sc.parse_trajectory(INST, "-30\n-18\n-48\n-41\nSo the final total is -41.") == [-30, -18, -48, -41]
