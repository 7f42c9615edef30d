"""Exact behaviour at the scenarios' edges: messages word for word, limits at their boundary,
defensive branches, and values a generator or a helper returns (each pinned by a mutation that
the rest of the suite let through)."""

from __future__ import annotations

import random
from types import SimpleNamespace as NS

import pytest

from agentloop.errors import ParseError
from agentloop.scenarios import get_scenario
from agentloop.scenarios._base import parse_lines
from agentloop.scenarios._granularity import format_atom_table, planned_chunk
from agentloop.scenarios.ab import parse_seq
from agentloop.scenarios.crossword import _layout
from agentloop.scenarios.multiply import MultiplyState
from agentloop.scenarios.reversal import parse_name
from agentloop.scenarios.sudoku import _grid_rows
from agentloop.types import Step


def _inst(name: str, seed: int = 0, **params):
    sc = get_scenario(name)
    return sc, sc.generate(sc.Params(**params), seed)


def test_parse_lines_refuses_more_than_two_fences_per_answer_plus_eight():
    ok = "```\n" * 10 + "1\n"  # 10 fences for one answer: still read
    assert parse_lines(ok, int, "numbers", limit=1) == [1]
    with pytest.raises(ParseError) as e:
        parse_lines(ok + "```\n", int, "numbers", limit=1)
    assert str(e.value) == "more code fences than numbers"


def test_the_atom_table_header_has_no_tag_for_a_real_model():
    assert format_atom_table([], simulated=False).splitlines()[0] == (
        "| scenario | granularity | condition | model | atoms per step | steps | step accuracy "
        "| atom accuracy | solved |"
    )


def test_a_planned_chunk_reads_the_last_followed_plan_only():
    s = NS(index=2, attempts=[object()],
           plans=[NS(followed=True, proposal=("row", 3)), NS(followed=False, proposal=("cell", 1))])
    assert planned_chunk("eca", NS(width=8), s) == ("rows:3", Step(2, (1, 3, 8), ""), 24)
    s = NS(index=0, attempts=[object()], plans=[NS(followed=False, proposal=("row", 3))])
    assert planned_chunk("eca", NS(width=8), s) is None


def test_ab_refuses_a_sequence_longer_than_any_with_the_reason():
    with pytest.raises(ParseError) as e:
        parse_seq(" ".join(["A#"] * 65))
    assert str(e.value) == "more than 64 tokens; no sequence here is that long"


def test_a_crossword_layout_that_cannot_place_every_word_is_none():
    assert _layout(["abc", "xyz"], 2, random.Random(0)) is None  # no shared letter: no crossing
    assert _layout(["abc", "cde"], 2, random.Random(0)) is not None


def test_hanoi_names_moves_when_a_reply_has_none():
    sc, inst = _inst("hanoi", disks=3)
    with pytest.raises(ParseError) as e:
        sc.parse_trajectory(inst, "\n```\n```\n")
    assert str(e.value) == "no moves found"


def test_life_answer_room_per_granularity():
    for granularity, rows in [("row", 1), ("board", 4)]:
        sc, inst = _inst("life", rows=4, cols=5, granularity=granularity)
        assert sc.answer_chars(inst) == rows * (5 + 4) + 32


def test_a_life_row_prompt_on_a_torus_says_the_board_wraps():
    sc, inst = _inst("life", rows=4, cols=4, topology="torus", granularity="row")
    step = sc.steps(inst)[0]
    prompt = sc.step_prompt(inst, step, "0000\n0000\n0000")
    assert "Rows -1 to 1 of the previous generation (row 0 in the middle; the board wraps around):" in prompt


def test_a_multiply_partial_leading_part_slips_one_up_or_one_down():
    sc, inst = _inst("multiply", 1, n=3, m=2, granularity="partial")
    state = sc.initial_state(inst)
    step = sc.steps(inst)[0]
    answer = sc.solve(inst, state, step)
    atoms = sc.atoms(inst, step, answer)
    last = len(atoms) - 1
    lead = atoms[last]
    assert lead > 0
    seen = {sc.corrupt_atom(inst, state, step, answer, last, random.Random(s)) for s in range(40)}
    assert seen == {lead - 1, lead + 1}


def test_a_multiply_column_without_digits_says_none():
    sc, inst = _inst("multiply", n=3, m=2)
    step = next(s for s in sc.steps(inst) if s.key[0] not in (0,) and "column" in s.label)
    state = MultiplyState(partials=(), row=(), carry=0, result=())
    assert sc.window(inst, state, step) == "column digits: none; carry: 0"


def test_reversal_names_the_unreadable_reply():
    with pytest.raises(ParseError) as e:
        parse_name("not 1 name")
    assert str(e.value) == "expected one person's name, got 'not 1 name'"


def test_a_sudoku_row_label_ends_at_its_last_colon():
    assert _grid_rows("row 1: a: 1 2 3 4\nrow 2: b: 3 4 1 2", 4) == [[1, 2, 3, 4], [3, 4, 1, 2]]
    assert _grid_rows("r1 (1:4): 1 2 3 4", 4) == [[1, 2, 3, 4]]


def test_wordle_keeps_its_seed_with_or_without_a_given_word():
    sc = get_scenario("wordle")
    assert sc.generate(sc.Params(word="crane"), 5).seed == 5
    assert sc.generate(sc.Params(), 5).seed == 5


def test_wordle_steps_are_keyed_by_guess():
    sc, inst = _inst("wordle", word="crane")
    assert sc.steps(inst)[:2] == [Step(0, (0,), "guess 1"), Step(1, (1,), "guess 2")]
    assert len(sc.steps(inst)) == inst.guesses


def test_wordsquare_solve_past_the_last_row_from_a_broken_square_is_the_last_row():
    sc, inst = _inst("wordsquare", size=4)
    broken = (inst.solution[0], "zzzz")
    assert sc.solve(inst, broken, Step(9, (inst.n,), "beyond")) == inst.solution[-1]
