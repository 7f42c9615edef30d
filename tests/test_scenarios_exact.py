"""Scenarios pinned exactly where the broader tests leave room: the state after wrong answers
(the tape must be a faithful record of what the agent wrote), the records of an episode that
never started, each legality rule at its edge, and the simulated slips (`corrupt`) that
scripted/noisy draws from.

The per-scenario files (tests/test_scenario_*.py) and the registry-wide contract
(tests/test_scenarios_contract.py) own the common cases; these tests were written against the
mutants those left alive (docs/testing.md).
"""

from __future__ import annotations

import random

import pytest

from agentloop.scenarios import get_scenario


def slips(sc, inst, state, step, answer, draws=300) -> set:
    """Every wrong answer `corrupt` gives for this step, over many draws."""
    return {sc.corrupt(inst, state, step, answer, random.Random(i)) for i in range(draws)}


# --- multiply -----------------------------------------------------------------------------------

from agentloop.scenarios.multiply import MultiplyInstance, MultiplyParams, MultiplyState  # noqa: E402

MUL = get_scenario("multiply")


def mul(a: int, b: int) -> MultiplyInstance:
    return MultiplyInstance(MultiplyParams(n=len(str(a)), m=len(str(b))), 0, a, b)


def run(sc, inst, answers):
    """The state after committing `answers` (right or wrong) step by step."""
    state = sc.initial_state(inst)
    for step, a in zip(sc.steps(inst), answers):
        state = sc.apply(inst, state, step, a)
    return state


def test_multiply_a_wrong_last_column_keeps_every_digit_the_agent_wrote():
    inst = mul(12, 34)  # 408: partials 48 and 36, columns 8, 4+6=10 -> 0 carry 1, 0+3+1=4, then 0
    steps = MUL.steps(inst)
    right = []
    state = MUL.initial_state(inst)
    for s in steps:
        right.append(MUL.solve(inst, state, s))
        state = MUL.apply(inst, state, s, right[-1])
    assert right == [8, 4, 6, 3, 8, 10, 4, 0] and MUL.result_json(inst, state, right) == "408"
    # the last column written as 25: digit 5, and the carry 2 is written in front -> 2 5 4 0 8
    wrong = right[:-1] + [25]
    after = run(MUL, inst, wrong)
    assert after.result == (8, 0, 4, 5, 2) and after.carry == 0
    assert MUL.result_json(inst, after, wrong) == "25408" and not MUL.is_goal(inst, after)


def test_multiply_records_of_an_episode_that_never_started():
    for a, b in ((12, 34), (4321, 7)):
        inst = mul(a, b)
        start = MUL.initial_state(inst)
        assert MUL.result_json(inst, start, []) == "0" and not MUL.is_goal(inst, start)
        assert MUL.initial_json(inst) == {"a": str(a), "b": str(b)}
        assert MUL.expected_json(inst) == str(a * b)


def test_multiply_is_goal_needs_the_right_product_and_every_partial():
    inst = mul(12, 34)
    full = MultiplyState(((8, 4, 0), (6, 3, 0)), (), 0, (8, 0, 4, 0))
    assert MUL.is_goal(inst, full)
    assert not MUL.is_goal(inst, full._replace(result=(8, 0, 4, 1)))  # every partial, a wrong product
    assert not MUL.is_goal(inst, full._replace(partials=full.partials[:1]))  # the product, a partial missing
    assert not MUL.is_goal(inst, full._replace(result=()))


def test_multiply_zero_is_a_legal_answer_and_a_negative_one_is_not():
    inst = mul(10, 10)
    state, step = MUL.initial_state(inst), MUL.steps(inst)[0]  # 0 × 0 + 0
    assert MUL.solve(inst, state, step) == 0 and MUL.illegal(inst, state, step, 0) is None
    assert MUL.check(inst, state, step, 0).ok
    assert MUL.illegal(inst, state, step, -1) == "a digit product or column sum cannot be negative"
    assert MUL.check(inst, state, step, -1).code == "illegal"


def test_multiply_slips_are_the_typical_ones():
    inst = mul(47, 68)  # the first step: 7 × 8 + 0 = 56
    state, step = MUL.initial_state(inst), MUL.steps(inst)[0]
    assert slips(MUL, inst, state, step, 56) == {57, 55, 66, 56 + 7, 56 - 7, 56 + 8, 56 - 8}
    # the second: 4 × 8 + carry 5 = 37: forgetting or doubling the carry among them
    state = MUL.apply(inst, state, step, 56)
    step = MUL.steps(inst)[1]
    assert slips(MUL, inst, state, step, 37) == {38, 36, 47, 37 - 5, 37 + 5, 37 + 4, 37 - 4, 37 + 8, 37 - 8}
    # a column sum: ±1, +10, ± the carry (no times-table neighbours); never negative, never right
    inst = mul(11, 11)  # partials 11 and 11; column 1 = 1, column 2 = 1 + 1 = 2
    answers = [1, 1, 1, 1]
    state = run(MUL, inst, answers)
    col = MUL.steps(inst)[4]
    assert MUL.solve(inst, state, col) == 1
    assert slips(MUL, inst, state, col, 1) == {0, 2, 11}  # 1 - carry 0 = 1 is the answer itself
