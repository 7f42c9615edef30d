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


# --- ledger -------------------------------------------------------------------------------------

from agentloop.errors import ParseError  # noqa: E402
from agentloop.scenarios.ledger import LedgerInstance, LedgerParams, LedgerState  # noqa: E402

LED = get_scenario("ledger")


def ledger(table, order) -> LedgerInstance:
    return LedgerInstance(LedgerParams(size=len(table), steps=len(order)), 0, tuple(table), tuple(order))


def test_ledger_slips_are_not_adding_subtracting_and_off_by_one_or_ten():
    inst = ledger([("bo", 7), ("ka", -3)], [0, 1])
    state = LedgerState(20, 1)
    step = LED.steps(inst)[1]  # the total 20, the key ka = -3: the answer is 17
    assert LED.solve(inst, state, step) == 17
    assert slips(LED, inst, state, step, 17) == {20, 23, 18, 16, 27, 7}


def test_ledger_whole_task_text_and_records():
    inst = ledger([("bo", 7), ("ka", -3), ("mi", 5)], [2, 0, 1])
    assert LED.format_trajectory(inst, [5, 12, 9]) == "step 1: 5\nstep 2: 12\nstep 3: 9"
    assert LED.initial_json(inst) == {"table": {"bo": 7, "ka": -3, "mi": 5}, "keys": ["mi", "bo", "ka"]}
    assert LED.expected_json(inst) == 9
    # a line with several colons is read from its last field
    assert LED.parse_trajectory(inst, "step 1: total: 5\nstep 2: 12\n9") == [5, 12, 9]
    with pytest.raises(ParseError, match="^no totals found$"):
        LED.parse_trajectory(inst, "\n\n")


# --- life ---------------------------------------------------------------------------------------

from agentloop.scenarios.life import LifeInstance, LifeParams  # noqa: E402

LIFE = get_scenario("life")


def blinker() -> LifeInstance:
    board = ((0, 0, 0), (1, 1, 1), (0, 0, 0))  # a blinker: vertical after one generation, back after two
    return LifeInstance(LifeParams(rows=3, cols=3, steps=2), 0, board)


def oracle_answers(sc, inst):
    state, answers = sc.initial_state(inst), []
    for step in sc.steps(inst):
        answers.append(sc.solve(inst, state, step))
        state = sc.apply(inst, state, step, answers[-1])
    return state, answers


def test_life_runs_two_generations_and_records_the_last_board():
    inst = blinker()
    state, answers = oracle_answers(LIFE, inst)
    assert answers[:9] == [0, 1, 0, 0, 1, 0, 0, 1, 0] and answers[9:] == [0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert len(state.boards) == 3 and LIFE.is_goal(inst, state)
    assert LIFE.result_json(inst, state, answers) == [[0, 0, 0], [1, 1, 1], [0, 0, 0]] == LIFE.expected_json(inst)
    # a wrong second generation, written out whole, is not the goal
    wrong = run(LIFE, inst, answers[:9] + [1] * 9)
    assert not wrong.partial and not LIFE.is_goal(inst, wrong)
    assert LIFE.result_json(inst, wrong, []) == [[1, 1, 1]] * 3
    # half a generation is not the goal either, even on the right board
    assert not LIFE.is_goal(inst, run(LIFE, inst, answers[:13]))


def test_life_whole_task_text_labels_every_generation():
    inst = blinker()
    _, answers = oracle_answers(LIFE, inst)
    assert LIFE.format_trajectory(inst, answers) == "generation 1:\n010\n010\n010\ngeneration 2:\n000\n111\n000"
    assert LIFE.parse_trajectory(inst, LIFE.format_trajectory(inst, answers)) == answers


def test_life_steps_are_keyed_by_generation_row_and_column_and_labelled_so():
    inst = LifeInstance(LifeParams(rows=3, cols=4, steps=2), 0, ((0,) * 4,) * 3)
    steps = LIFE.steps(inst)
    cells = [(g, r, c) for g in (1, 2) for r in range(3) for c in range(4)]
    assert [s.key for s in steps] == cells
    assert [s.index for s in steps] == list(range(24))
    assert [s.label for s in steps] == [f"generation {g}, row {r}, column {c}" for g, r, c in cells]
    boards = LIFE.steps(LifeInstance(LifeParams(rows=3, cols=4, steps=2, granularity="board"), 0, inst.initial))
    assert [(s.index, s.key, s.label) for s in boards] == [(0, (1, 0, 4, 3), "generation 1"), (1, (2, 0, 4, 3), "generation 2")]


# --- ab -----------------------------------------------------------------------------------------

from agentloop.scenarios.ab import AbInstance, AbParams, rewrite  # noqa: E402

AB = get_scenario("ab")


def ab(seq: str) -> AbInstance:
    toks = tuple(seq.split())
    return AbInstance(AbParams(length=max(2, len(toks))), 0, toks)


def seq(s: str) -> tuple:
    return tuple(s.split())


def test_ab_slips_rewrite_another_redex_first():
    inst = ab("A# #A B# #B")  # two redexes: the leftmost (0) is right, the other (2) a legal slip
    state, step = inst.initial, AB.steps(inst)[0]
    answer = AB.solve(inst, state, step)
    assert answer == seq("B# #B")
    assert slips(AB, inst, state, step, answer) == {seq("A# #A")}
    assert AB.illegal(inst, state, step, seq("A# #A")) is None  # legal, but wrong
    assert AB.check(inst, state, step, seq("A# #A")).code == "wrong"


@pytest.mark.parametrize(("start", "slip"), [
    ("#B A# #A B#", "#B #A A# B#"),  # the only redex annihilates: the slip swaps it instead
    ("#B A# #B #A", "#B #A"),  # the only redex swaps: the slip annihilates it
])
def test_ab_slips_confuse_the_rules_when_there_is_one_redex(start, slip):
    inst = ab(start)
    state, step = inst.initial, AB.steps(inst)[0]
    answer = AB.solve(inst, state, step)
    assert slips(AB, inst, state, step, answer) == {seq(slip)}
    assert AB.illegal(inst, state, step, seq(slip)) == "no single rewrite of the current sequence gives that sequence"


def test_ab_slips_in_normal_form_drop_a_token_or_invent_one():
    inst = ab("#A B#")
    state = seq("#A B#")  # no redex: the answer is the sequence itself
    step = AB.steps(ab("A# #A"))[0]
    assert slips(AB, inst, state, step, state) == {seq("B#")}
    assert slips(AB, inst, (), step, ()) == {("A#",)}
    assert AB.illegal(inst, state, step, state) is None
    assert AB.illegal(inst, state, step, seq("B#")) == "the sequence is already in normal form; copy it unchanged"


def test_ab_whole_task_text_and_records():
    inst = ab("A# #B B# #A")
    answers = [rewrite(inst.initial, 0)]
    assert AB.format_trajectory(inst, [seq("#B A# B# #A"), seq("#B A# #A B#"), ()]) == (
        "rewrite 1: #B A# B# #A\nrewrite 2: #B A# #A B#\nrewrite 3: empty")
    assert AB.initial_json(inst) == "A# #B B# #A" and AB.to_json_answer(answers[0]) == "#B A# B# #A"
    with pytest.raises(ParseError, match="^no sequences found$"):
        AB.parse_trajectory(inst, "\n```\n```\n")


# --- hanoi --------------------------------------------------------------------------------------

from agentloop.scenarios.hanoi import HanoiState, maker_move  # noqa: E402


@pytest.mark.parametrize(("n", "peg", "to"), [(3, 2, 1), (4, 2, 0), (1, 0, 2)])
def test_hanoi_strategy_moves_disk_1_again_when_it_is_alone_with_every_disk(n, peg, to):
    pegs = [(), (), ()]
    pegs[peg] = tuple(range(n, 0, -1))
    state = HanoiState(tuple(pegs), (1, (peg + 1) % 3, peg))  # disk 1 moved last, nothing else can move
    assert maker_move(n, state) == (1, peg, to)


def test_hanoi_strategy_needs_disk_1_on_top_of_some_peg():
    state = HanoiState(((3, 2), (), (1,)), None)
    assert maker_move(3, state)[0] == 1
    broken = HanoiState(((1, 2), (3,), ()), None)  # disk 1 under disk 2: no legal play gets here
    with pytest.raises(ValueError, match=r"^no peg has disk 1 on top: \(\(1, 2\), \(3,\), \(\)\)$"):
        maker_move(3, broken)


# --- reversal -----------------------------------------------------------------------------------

from agentloop.scenarios.reversal import BACKWARD, FORWARD, ReversalInstance, ReversalParams  # noqa: E402

REV = get_scenario("reversal")


def family() -> ReversalInstance:
    children, parents = ("Ann Lee", "Bo Park", "Cy Dunn"), ("Dee Lee", "Ed Park", "Flo Dunn")
    questions = ((FORWARD, 0), (BACKWARD, 1), (BACKWARD, 0), (FORWARD, 2))
    return ReversalInstance(ReversalParams(facts=3), 0, children, parents, questions)


def test_reversal_slips_are_someone_of_the_same_role_or_the_subject_itself():
    inst = family()
    steps = REV.steps(inst)
    # forward: who is Ann Lee's parent? (Dee Lee) -> another parent, or Ann Lee herself
    assert slips(REV, inst, (), steps[0], "Dee Lee") == {"Ed Park", "Flo Dunn", "Ann Lee"}
    # backward: who is Ed Park's child? (Bo Park) -> another child, or Ed Park himself
    assert slips(REV, inst, (), steps[1], "Bo Park") == {"Ann Lee", "Cy Dunn", "Ed Park"}


def test_reversal_whole_task_text_and_records():
    inst = family()
    assert REV.format_trajectory(inst, ["Dee Lee", "Bo Park"]) == "1: Dee Lee\n2: Bo Park"
    assert REV.initial_json(inst) == {
        "facts": [["Ann Lee", "Dee Lee"], ["Bo Park", "Ed Park"], ["Cy Dunn", "Flo Dunn"]],
        "questions": [["forward", "Ann Lee"], ["backward", "Ed Park"], ["backward", "Dee Lee"], ["forward", "Cy Dunn"]],
    }
    with pytest.raises(ParseError, match="^no answers found$"):
        REV.parse_trajectory(inst, "   \n")


# --- sudoku -------------------------------------------------------------------------------------

SUD = get_scenario("sudoku")


def test_sudoku_slips_prefer_digits_the_cell_still_allows_else_any_other():
    inst = SUD.generate(SUD.Params(size=4), 0)
    assert inst.puzzle == (0, 0, 0, 0, 1, 4, 0, 2, 0, 1, 0, 3, 3, 2, 0, 1)
    step_of = {cell: SUD.steps(inst)[k] for k, cell in enumerate(inst.order)}
    # row 1, column 3 (cell 2): its row and column are empty, its box holds a 2 -> 1 right, 3 or 4 the slips
    assert slips(SUD, inst, inst.puzzle, step_of[2], 1) == {3, 4}
    # row 2, column 3 (cell 6): 1, 4 and 2 are in its row, so no other digit is allowed -> any other
    assert slips(SUD, inst, inst.puzzle, step_of[6], 3) == {1, 2, 4}


# --- wordsquare ---------------------------------------------------------------------------------

from agentloop.scenarios.wordsquare import columns, word_set  # noqa: E402

WSQ = get_scenario("wordsquare")


def test_wordsquare_on_track_needs_a_completion_of_the_squares_own_kind():
    inst = WSQ.generate(WSQ.Params(size=4, symmetric=True), 0)
    assert inst.symmetric and inst.n == 4
    # "mars" then "aeon" is legal for a symmetric square and completes as a plain one
    # (mars aeon solo knew), but no symmetric square starts so
    assert WSQ.illegal(inst, ("mars",), WSQ.steps(inst)[0], "aeon") is None
    assert not WSQ.on_track(inst, ("mars", "aeon"), None)
    plain = WSQ.generate(WSQ.Params(size=4, symmetric=False), 0)
    assert WSQ.on_track(plain, ("mars", "aeon"), None)


@pytest.mark.parametrize("symmetric", [True, False])
def test_wordsquare_slips_are_listed_words_that_kill_a_column_or_have_the_wrong_length(symmetric):
    inst = WSQ.generate(WSQ.Params(size=4, symmetric=symmetric), 3)
    state = (inst.first,)
    step = WSQ.steps(inst)[0]
    answer = inst.solution[1]
    n = inst.n
    seen = slips(WSQ, inst, state, step, answer, draws=40)
    assert seen and answer not in seen
    for w in seen:
        assert w in word_set(len(w))  # never an unlisted word: the parser would refuse it
        if len(w) == n:
            assert WSQ.illegal(inst, state, step, w) is None  # a legal slip ...
            assert any(c not in word_set(n) and len(c) == n or not any(x.startswith(c) for x in word_set(n))
                       for c in columns(state + (w,), n))  # ... that kills a column
        else:
            assert len(w) in (n - 1, n + 1)


def test_wordsquare_records_and_parse_errors():
    inst = WSQ.generate(WSQ.Params(size=3, symmetric=False), 2)
    assert WSQ.initial_json(inst) == {"size": 3, "symmetric": False, "first_row": inst.first}
    with pytest.raises(ParseError, match="^no rows found$"):
        WSQ.parse_trajectory(inst, "\n\n")
