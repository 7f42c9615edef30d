"""Sudoku: proven uniqueness, the solution counter, the planner's order, legality, parsers."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentloop.errors import AgentloopError, ParseError
from agentloop.scenarios import parse_params
from agentloop.scenarios.sudoku import RULES, Sudoku, SudokuParams, candidates, count_solutions
from agentloop.types import Step

SC = Sudoku()

# A well-known 9x9 puzzle (the example on Wikipedia's Sudoku page) and its one solution.
CLASSIC = "530070000600195000098000060800060003400803001700020006060000280000419005000080079"
SOLVED = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"


def grid(s: str) -> tuple[int, ...]:
    return tuple(int(c) for c in s)


def test_counter_finds_the_one_solution_of_a_known_puzzle():
    n, sol = count_solutions(grid(CLASSIC), 9)
    assert n == 1 and sol == grid(SOLVED)


def _valid4(g) -> bool:
    groups = [[r * 4 + c for c in range(4)] for r in range(4)] + [[r * 4 + c for r in range(4)] for c in range(4)]
    groups += [[(br + i) * 4 + bc + j for i in (0, 1) for j in (0, 1)] for br in (0, 2) for bc in (0, 2)]
    return all(sorted(g[i] for i in grp) == [1, 2, 3, 4] for grp in groups)


def test_counter_agrees_with_brute_force_on_4x4_puzzles_with_one_and_with_several_solutions():
    solved = grid("1234341221434321")
    rng, seen = random.Random(0), set()
    for _ in range(40):
        holes = rng.sample(range(16), rng.randint(3, 6))
        puzzle = tuple(0 if i in holes else v for i, v in enumerate(solved))
        brute = 0
        for digits in itertools.product(range(1, 5), repeat=len(holes)):
            g = list(puzzle)
            for i, d in zip(holes, digits):
                g[i] = d
            brute += _valid4(g)
        assert count_solutions(puzzle, 4)[0] == min(brute, 2)
        seen.add(min(brute, 2))
    assert seen == {1, 2}, "the sample should contain unique and ambiguous puzzles"
    assert count_solutions((0,) * 16, 4)[0] == 2


@pytest.mark.parametrize(("size", "givens"), [(4, 0), (4, 4), (4, 10), (9, 0), (9, 26)])
def test_generated_puzzles_have_one_solution_and_the_requested_givens(size, givens):
    for seed in range(3):
        inst = SC.generate(SudokuParams(size=size, givens=givens), seed)
        want = givens or {4: 8, 9: 30}[size]
        assert sum(1 for v in inst.puzzle if v) == want
        n, sol = count_solutions(inst.puzzle, size)
        assert n == 1 and sol == inst.solution
        assert all(p in (0, s) for p, s in zip(inst.puzzle, inst.solution))


@pytest.mark.parametrize(
    ("values", "match"), [({"size": 9, "givens": 5}, "use 22 to 80"), ({"size": 4, "givens": 16}, "4 to 15")]
)
def test_impossible_givens_are_a_user_error(values, match):
    with pytest.raises(AgentloopError, match=match):
        SC.generate(SudokuParams(**values), 0)


def test_size_must_be_4_or_9():
    with pytest.raises(AgentloopError, match="must be 4 or 9"):
        parse_params(SC, {"size": "6"})
    assert parse_params(SC, {"size": "9"}).size == 9


def test_planner_takes_the_most_constrained_cell_first():
    inst = SC.generate(SudokuParams(size=9), 3)
    state = inst.puzzle
    for step in SC.steps(inst):
        cell = step.key[0]
        fewest = min(len(candidates(state, 9, c)) for c in range(81) if state[c] == 0)
        assert len(candidates(state, 9, cell)) == fewest
        state = SC.apply(inst, state, step, SC.solve(inst, state, step))
    assert SC.is_goal(inst, state)


# --- the rules of a cell, one test each: a 4x4 grid where exactly that rule is broken -------------
def _grid(cells: dict[tuple[int, int], int]) -> tuple[int, ...]:
    g = [0] * 16
    for (r, c), d in cells.items():
        g[r * 4 + c] = d
    return tuple(g)


CELL_0 = Step(0, (0,), "row 1, column 1")  # top-left; its box is rows 1-2, columns 1-2


@pytest.mark.parametrize(
    ("grid", "answer", "rule", "words"),
    [
        (_grid({}), 5, "_not_a_digit", "not a digit from 1 to 4"),
        (_grid({}), 0, "_not_a_digit", "not a digit from 1 to 4"),
        (_grid({(0, 0): 1}), 2, "_filled", "already filled"),
        (_grid({(0, 3): 3}), 3, "_in_row", "already in row 1"),  # same row, other column and box
        (_grid({(3, 0): 3}), 3, "_in_column", "already in column 1"),  # same column, other row and box
        (_grid({(1, 1): 3}), 3, "_in_box", "already in the box"),  # same box, other row and column
    ],
)
def test_each_rule_alone_makes_a_digit_illegal(grid, answer, rule, words):
    inst = SC.generate(SudokuParams(size=4), 0)
    assert [r.__name__ for r in RULES if r(4, grid, 0, answer) is not None] == [rule]
    v = SC.check(inst, grid, CELL_0, answer)
    assert v.code == "illegal" and words in v.reason


def test_a_digit_that_breaks_no_rule_is_legal_even_if_wrong():
    inst = SC.generate(SudokuParams(size=4), 0)
    grid = _grid({(0, 3): 3, (3, 0): 2, (1, 1): 1})
    assert all(r(4, grid, 0, 4) is None for r in RULES) and SC.illegal(inst, grid, CELL_0, 4) is None


def test_checker_separates_illegal_from_wrong_and_never_shows_the_answer():
    inst = SC.generate(SudokuParams(size=9), 0)
    step = SC.steps(inst)[0]
    r, c = divmod(step.key[0], 9)
    right = SC.solve(inst, inst.puzzle, step)
    row = inst.puzzle[r * 9 : (r + 1) * 9]
    clash = next(d for d in row if d)
    assert SC.check(inst, inst.puzzle, step, clash).code == "illegal"
    assert SC.check(inst, inst.puzzle, step, 0).code == "illegal"
    legal_wrong = [d for d in range(1, 10) if d != right and SC.illegal(inst, inst.puzzle, step, d) is None]
    for d in legal_wrong:
        v = SC.check(inst, inst.puzzle, step, d)
        assert v.code == "wrong" and str(right) not in v.reason.replace(step.label, "")
    assert SC.check(inst, inst.puzzle, step, right).ok


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(0, 9), st.sampled_from(["", "answer: ", "r1c1 = ", " "]))
def test_digit_parser(d, label):
    step = SC.steps(SC.generate(SudokuParams(), 0))[0]
    assert SC.parse(f"{label}{d}", step) == d


def test_trajectory_parser_reads_spaced_grids_and_stops_at_gaps():
    inst = SC.generate(SudokuParams(size=4), 1)
    answers = [inst.solution[c] for c in inst.order]
    rows = SC.format_trajectory(inst, answers).splitlines()
    spaced = "\n".join(" | ".join(row[i : i + 2] for i in (0, 2)) for row in rows)
    assert SC.parse_trajectory(inst, "Here is the grid:\n" + spaced.replace("|", " | ")) == answers
    partial = SC.format_trajectory(inst, answers[:3])
    assert SC.parse_trajectory(inst, partial) == answers[:3]
    with pytest.raises(ParseError):
        SC.parse_trajectory(inst, "12\n34")


def test_corrupt_prefers_a_legal_wrong_digit():
    inst = SC.generate(SudokuParams(size=9), 2)
    step = SC.steps(inst)[0]
    right = SC.solve(inst, inst.puzzle, step)
    wrong = SC.corrupt(inst, inst.puzzle, step, right, random.Random(0))
    assert wrong != right and not SC.check(inst, inst.puzzle, step, wrong).ok


def test_trajectory_grid_rows_one_by_one():
    inst = SC.generate(SudokuParams(size=4), 1)
    answers = [inst.solution[c] for c in inst.order]
    grid = SC.format_trajectory(inst, answers).splitlines()
    labelled = "\n".join(f"row {i + 1}: {row}" for i, row in enumerate(grid))  # digits in the label are not cells
    assert SC.parse_trajectory(inst, "The grid:\n\n" + labelled) == answers
    dotted = "\n".join(row.replace("0", ".") for row in SC.format_trajectory(inst, answers[:2]).splitlines())
    assert SC.parse_trajectory(inst, dotted) == answers[:2]  # a dot is an empty cell, like 0
    cases = {
        "\n".join(grid[:3] + [grid[3] + "1"]): "a grid row needs 4 cells, got more than 4",
        "\n".join(grid[:3] + [grid[3][:3]]): "a grid row needs 4 cells, got 3",
        "\n".join(grid + [grid[0]]): "the grid has more than 4 rows",
        "no digits here\nat all": "no grid found",
        "\n".join(f"note {i}:" for i in range(2 * 4 + 9)): "more than 16 lines",  # cells only in labels
    }
    for text, message in cases.items():
        with pytest.raises(ParseError, match=message):
            SC.parse_trajectory(inst, text)
    # fewer rows than the grid: the answers stop at the first planned cell past them
    first_past = next(i for i, c in enumerate(inst.order) if c >= 8)
    assert 0 < first_past < len(answers)
    assert SC.parse_trajectory(inst, "\n".join(grid[:2])) == answers[:first_past]
