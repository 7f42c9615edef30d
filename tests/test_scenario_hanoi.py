"""Tower of Hanoi: seeded start positions, the shortest solution from any of them, the rules of a
move one by one, MAKER's strategy from the classic start."""

from __future__ import annotations

import random
from collections import deque
from itertools import product

import pytest

from agentloop.errors import ParseError
from agentloop.scenarios import get_scenario
from agentloop.scenarios.hanoi import (
    RULES, Hanoi, HanoiParams, HanoiState, _legal_moves, _move, _pegs_of, classic_start, maker_move, moves_needed,
    optimal_move, optimal_solution, random_start,
)

sc = get_scenario("hanoi")


def goal(n: int):
    return ((), (), tuple(range(n, 0, -1)))


def legal(pegs) -> bool:
    return all(list(p) == sorted(p, reverse=True) for p in pegs)


def distances_to_goal(n: int) -> dict:
    """Breadth-first search over all 3^n positions: the true fewest moves to the goal."""
    dist, todo = {goal(n): 0}, deque([goal(n)])
    while todo:
        pegs = todo.popleft()
        for m in _legal_moves(pegs):  # moves are reversible, so distances from the goal are distances to it
            nxt = _move(pegs, m)
            if nxt not in dist:
                dist[nxt] = dist[pegs] + 1
                todo.append(nxt)
    return dist


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_the_recursive_rule_is_the_shortest_solution_from_every_position(n):
    dist = distances_to_goal(n)
    assert len(dist) == 3**n
    for where in product(range(3), repeat=n):
        pegs = _pegs_of(where)
        moves = optimal_solution(pegs)
        assert len(moves) == moves_needed(pegs) == dist[pegs]
        for m in moves:  # one move at a time, the rule gives the same moves, all legal
            assert optimal_move(pegs) == m and m in _legal_moves(pegs)
            pegs = _move(pegs, m)
        assert pegs == goal(n) and optimal_move(pegs) is None


def test_shortest_solutions_by_hand():
    # Disk 3 must reach peg 2, so disks 1 and 2 must be on peg 1: they are. Then the tower of 2.
    assert optimal_solution(((3,), (2, 1), ())) == [(3, 0, 2), (1, 1, 0), (2, 1, 2), (1, 0, 2)]
    # Disk 3 (peg 1) needs disks 1-2 on peg 0; disk 2 is there, disk 1 is not: it moves first.
    assert optimal_solution(((2,), (3,), (1,))) == [(1, 2, 0), (3, 1, 2), (1, 0, 1), (2, 0, 2), (1, 1, 2)]
    assert moves_needed(classic_start(10)) == 2**10 - 1


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_random_starts_are_legal_never_the_goal_and_all_different(n):
    starts = [random_start(n, seed) for seed in range(3**n - 1)]
    assert len(set(starts)) == 3**n - 1  # every position but the goal, once
    assert all(legal(p) and sorted(sum(p, ())) == list(range(1, n + 1)) for p in starts)
    assert goal(n) not in starts
    assert random_start(n, 0) == classic_start(n)  # seed 0 is the classic puzzle
    assert random_start(n, 3**n - 1 + 5) == random_start(n, 5)


def test_random_start_instance_plans_the_shortest_solution_and_the_oracle_follows_it():
    inst = sc.generate(HanoiParams(disks=6), 7)
    assert inst.start == random_start(6, 7) and inst.start != classic_start(6)
    steps = sc.steps(inst)
    assert len(steps) == moves_needed(inst.start) == len(sc.expected_json(inst))
    state = sc.initial_state(inst)
    for step, expected in zip(steps, sc.expected_json(inst)):
        move = sc.solve(inst, state, step)
        assert list(move) == expected and sc.check(inst, state, step, move).ok
        state = sc.apply(inst, state, step, move)
    assert sc.is_goal(inst, state)
    assert f"Write all {len(steps)} moves" in sc.oneshot_format(inst)
    assert "start as shown" in sc.rules(inst) and "largest down" in sc.rules(inst)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_classic_start_uses_makers_strategy_which_is_optimal(n):
    inst = sc.generate(HanoiParams(disks=n, start="classic"), 5)
    assert inst.start == classic_start(n) and "cycle" in sc.rules(inst)
    state, steps = sc.initial_state(inst), sc.steps(inst)
    assert len(steps) == 2**n - 1
    for step, expected in zip(steps, optimal_solution(inst.start)):
        move = maker_move(n, state)
        assert move == sc.solve(inst, state, step) == expected
        state = sc.apply(inst, state, step, move)
    assert state.pegs == goal(n)


# --- the rules of a move, one test each: exactly that rule is broken ------------------------------
INST = sc.generate(HanoiParams(disks=3), 0)
STEP = sc.steps(INST)[0]


@pytest.mark.parametrize(
    ("pegs", "move", "rule", "words"),
    [
        (((3, 2, 1), (), ()), (4, 0, 1), "_no_such_disk", "no disk 4"),  # and so not on top: see below
        (((3, 2), (1,), ()), (1, 1, 3), "_no_such_peg", "no peg 3"),
        (((3, 2), (1,), ()), (1, 1, 1), "_same_peg", "two different pegs"),
        (((3, 2), (1,), ()), (1, 2, 0), "_empty_source", "peg 2 is empty"),
        (((3, 2, 1), (), ()), (2, 0, 1), "_not_on_top", "not on top of peg 0"),
        (((3, 2), (1,), ()), (2, 0, 1), "_onto_smaller", "smaller disk 1"),
    ],
)
def test_each_rule_alone_makes_a_move_illegal(pegs, move, rule, words):
    state = HanoiState(pegs, None)
    broken = [r.__name__ for r in RULES if r(3, pegs, move) is not None]
    # This rule, and no other, rejects the move; except that a disk that does not exist is on
    # top of no peg, so that rule necessarily comes with it (and is reported second).
    implied = ["_not_on_top"] if rule == "_no_such_disk" else []
    assert broken == [rule, *implied]
    verdict = sc.check(INST, state, STEP, move)
    assert verdict.code == "illegal" and words in verdict.reason


def test_every_legal_move_passes_every_rule():
    for where in product(range(3), repeat=3):
        pegs = _pegs_of(where)
        for m in _legal_moves(pegs):
            assert all(r(3, pegs, m) is None for r in RULES)


# --- slips and calls of several moves ----------------------------------------------------------
def test_a_slip_with_no_other_legal_move_sends_the_disk_to_the_third_peg():
    # Unreachable from a real position (disk 1 always has two legal moves), so pinned directly.
    no_moves = HanoiState(((), (), ()), None)
    for move, slip in [((1, 0, 1), (1, 0, 2)), ((2, 2, 0), (2, 2, 1)), ((3, 1, 2), (3, 1, 0))]:
        assert Hanoi._corrupt_move(no_moves, move, random.Random(0)) == slip


def test_a_call_of_moves_reads_one_line_past_the_call_and_says_how_many_it_found():
    inst = sc.generate(HanoiParams(disks=3, granularity="moves:2"), 0)
    step = sc.steps(inst)[0]
    assert step.key == (1, 2)
    assert sc.parse("[1, 0, 2]\n[2, 0, 1]", step) == ((1, 0, 2), (2, 0, 1))
    for extra in (1, 2, 5):
        text = "\n".join(["[1, 0, 2]", "[2, 0, 1]"] + ["[1, 2, 1]"] * extra)
        with pytest.raises(ParseError) as e:
            sc.parse(text, step)
        assert str(e.value) == "expected 2 moves, one a line, got 3"  # reading stops at the third move
