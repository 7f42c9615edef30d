"""Long multiplication: the schoolbook steps, carries across every column, the parser."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentloop.errors import ParseError
from agentloop.scenarios import get_scenario
from agentloop.scenarios.multiply import MultiplyInstance, MultiplyParams, column, number_of

sc = get_scenario("multiply")


def inst_of(a: int, b: int) -> MultiplyInstance:
    return MultiplyInstance(MultiplyParams(n=len(str(a)), m=len(str(b))), 0, a, b)


def run_oracle(inst: MultiplyInstance):
    state, answers = sc.initial_state(inst), []
    for step in sc.steps(inst):
        a = sc.solve(inst, state, step)
        answers.append(a)
        state = sc.apply(inst, state, step, a)
    return state, answers


def test_carries_across_every_column():
    inst = inst_of(999, 999)
    state, answers = run_oracle(inst)
    # each partial product: 9×9 = 81, then 9×9 + 8 = 89 twice; the last carry 8 leads: 8991
    assert answers[:9] == [81, 89, 89] * 3
    assert [number_of(p) for p in state.partials] == [8991] * 3
    # column sums of 8991 + 89910 + 899100, each with the carry from the column before
    assert answers[9:] == [1, 9 + 1, 9 + 9 + 1 + 1, 8 + 9 + 9 + 2, 8 + 9 + 2, 8 + 1]
    assert all(a >= 10 for a in answers[10:14])  # every inner column passes a carry on
    assert sc.result_json(inst, state, answers) == "998001"
    assert sc.is_goal(inst, state)


def test_a_zero_final_carry_is_still_written_as_the_leading_digit():
    inst = inst_of(11, 2)
    state, answers = run_oracle(inst)
    assert answers == [2, 2]  # 1×2 + 0, 1×2 + 0: no carry anywhere
    assert state.partials == ((2, 2, 0),)  # the final carry 0 leads the partial product: 022
    assert sc.result_json(inst, state, answers) == "22" and sc.is_goal(inst, state)


def test_one_digit_factor_has_no_column_sums():
    inst = inst_of(4321, 7)
    steps = sc.steps(inst)
    assert [s.label for s in steps] == [f"partial product 1, digit {i}" for i in range(1, 5)]
    state, answers = run_oracle(inst)
    assert answers == [7, 14 + 0, 21 + 1, 28 + 2]
    assert sc.result_json(inst, state, answers) == str(4321 * 7)


def test_columns_read_the_shifted_partial_products():
    partials = ((1, 2, 3), (4, 5, 6), (7, 8, 9))
    assert column(partials, 0) == (1,)
    assert column(partials, 2) == (3, 5, 7)
    assert column(partials, 4) == (9,)


def test_a_wrong_step_is_judged_from_the_agents_own_carry():
    inst = inst_of(57, 8)
    s0 = sc.initial_state(inst)
    first, second = sc.steps(inst)
    wrong = sc.check(inst, s0, first, 55)  # 7×8 = 56
    assert wrong.code == "wrong" and wrong.expected == 56
    s1 = sc.apply(inst, s0, first, 55)
    assert s1.carry == 5 and s1.row == (5,)
    assert sc.solve(inst, s1, second) == 5 * 8 + 5  # locally right given the committed carry
    assert sc.check(inst, s0, first, -3).code == "illegal"


def test_tape_window_holds_the_carry_and_the_prompt_without_tape_does_not():
    inst = inst_of(57, 8)
    s1 = sc.apply(inst, sc.initial_state(inst), sc.steps(inst)[0], 56)
    step = sc.steps(inst)[1]
    assert sc.window(inst, s1, step) == "digit of A: 5, digit of B: 8, carry: 5"
    assert "carry: 5" not in sc.step_prompt(inst, step, None)


def test_generator_gives_exact_digit_counts_deterministically():
    for seed in range(20):
        inst = sc.generate(MultiplyParams(n=4, m=2), seed)
        assert inst == sc.generate(MultiplyParams(n=4, m=2), seed)
        assert len(str(inst.a)) == 4 and len(str(inst.b)) == 2
    assert len(sc.steps(sc.generate(MultiplyParams(n=4, m=2), 0))) == 4 * 2 + 6


@settings(max_examples=200, deadline=None)
@given(value=st.integers(0, 9999))
def test_parser_round_trips_and_accepts_a_label(value):
    step = sc.steps(inst_of(12, 34))[0]
    assert sc.parse(sc.format_answer(value), step) == value
    assert sc.parse(f"answer: {value}.", step) == value


def test_parser_rejects_near_misses():
    step = sc.steps(inst_of(12, 34))[0]
    for bad in ("", "5 6", "56 carry 5", "-4", "+4", "fifty-six", "12345", "٥٦", "5²"):
        with pytest.raises(ParseError):
            sc.parse(bad, step)




def test_the_last_column_leaves_nothing_pending():
    inst = inst_of(987, 65)
    state, answers = run_oracle(inst)
    assert state == (state.partials, (), 0, state.result)  # no partial row, no carry: only the result
    assert number_of(state.result) == 987 * 65


def test_a_slip_on_a_product_step_includes_the_neighbouring_times_table_entries():
    inst = inst_of(47, 8)
    step, state = sc.steps(inst)[0], sc.initial_state(inst)  # 7 × 8 + 0 = 56
    slips = {sc.corrupt(inst, state, step, 56, random.Random(i)) for i in range(300)}
    assert slips == {57, 55, 66, 56 - 7, 56 + 7, 56 - 8, 56 + 8}  # ±1, +10 and one factor more or less
    col_inst = inst_of(47, 38)
    cstate = sc.initial_state(col_inst)
    steps = sc.steps(col_inst)
    for s in steps[:4]:  # the two partial products; the first column next
        cstate = sc.apply(col_inst, cstate, s, sc.solve(col_inst, cstate, s))
    right = sc.solve(col_inst, cstate, steps[4])
    slips = {sc.corrupt(col_inst, cstate, steps[4], right, random.Random(i)) for i in range(300)}
    assert slips == {c for c in (right + 1, right - 1, right + 10) if c >= 0}  # carry 0: no ±carry slip


def test_whole_task_lines_read_the_number_after_the_last_colon_and_stop_at_the_plan():
    inst = inst_of(12, 3)  # two steps: 6, 3
    assert sc.parse_trajectory(inst, "1: partial product 1, digit 1: 6\n2: partial product 1, digit 2: 3") == [6, 3]
    assert sc.parse_trajectory(inst, "6\n3\nThat is 36, I hope this helps!") == [6, 3]  # later lines not read
    with pytest.raises(ParseError, match="^no numbers found$"):
        sc.parse_trajectory(inst, "```\n```")
    long = "the digit is probably six or maybe seven or eight"
    with pytest.raises(ParseError) as exc:
        sc.parse_trajectory(inst, long)
    assert str(exc.value) == f"not a step's number: {long[:40]!r}"


def test_a_slipped_digit_of_a_partial_product_is_another_digit():
    p = sc.Params.model_validate({"n": 4, "m": 2, "granularity": "partial"})
    inst = sc.generate(p, 3)
    state = sc.initial_state(inst)
    step = sc.steps(inst)[0]
    answer = sc.solve(inst, state, step)
    digits = sc.atoms(inst, step, answer)
    for i in range(len(digits) - 1):  # the leading part may be any number; the others are digits
        slips = {sc.corrupt_atom(inst, state, step, answer, i, random.Random(s)) for s in range(40)}
        assert slips == {(digits[i] + 1) % 10, (digits[i] - 1) % 10}


def test_whole_task_digit_steps_are_at_most_four_digits_but_partial_products_may_be_long():
    digit = inst_of(12, 3)
    with pytest.raises(ParseError) as exc:
        sc.parse_trajectory(digit, "6\n12345")
    assert str(exc.value) == "not a step's number: '12345'"
    assert sc.parse_trajectory(digit, "6\n1234") == [6, 1234]
    partial = MultiplyInstance(MultiplyParams(n=5, m=1, granularity="partial"), 0, 12345, 9)
    assert sc.parse_trajectory(partial, "111105") == [111105]


def test_a_digit_step_is_a_short_answer_and_a_partial_product_a_long_one():
    assert sc.answer_chars(inst_of(123, 456)) == sc.max_answer_chars == 16
    partial = MultiplyInstance(MultiplyParams(n=3, m=3, granularity="partial"), 0, 123, 456)
    assert sc.answer_chars(partial) == 64
