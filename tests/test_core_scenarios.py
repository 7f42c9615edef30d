"""Hand-checked cases for the eca, life and hanoi simulators and their prompts."""

from __future__ import annotations

import pytest

from agentloop.errors import AgentloopError
from agentloop.scenarios import get_scenario, parse_params
from agentloop.scenarios.eca import next_row, rule_table
from agentloop.scenarios.hanoi import HanoiState, maker_move
from agentloop.scenarios.life import next_board


def test_rule_110_and_90_by_hand():
    assert next_row(110, (0, 0, 0, 1, 0, 0)) == (0, 0, 1, 1, 0, 0)
    assert next_row(90, (0, 0, 1, 0, 0)) == (0, 1, 0, 1, 0)
    assert next_row(90, (1, 0, 0, 0, 0)) == (0, 1, 0, 0, 1)  # wrap-around: the first cell's left is the last
    assert rule_table(110).splitlines()[0] == "111 -> 0"
    assert rule_table(110).splitlines()[-1] == "000 -> 0"


def test_life_blinker_and_edge():
    blinker = ((0, 0, 0), (1, 1, 1), (0, 0, 0))
    assert next_board(blinker) == ((0, 1, 0), (0, 1, 0), (0, 1, 0))
    corner = ((1, 1, 0), (1, 0, 0), (0, 0, 0))  # dead beyond the edge: the corner cell is born
    assert next_board(corner) == ((1, 1, 0), (1, 1, 0), (0, 0, 0))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_maker_strategy_solves_hanoi_optimally(n):
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=n), 0)
    state = sc.initial_state(inst)
    steps = sc.steps(inst)
    assert len(steps) == 2**n - 1
    for step in steps:
        move = maker_move(n, state)
        assert sc.illegal(inst, state, step, move) is None
        state = sc.apply(inst, state, step, move)
    assert state.pegs == ((), (), tuple(range(n, 0, -1)))


def test_hanoi_illegal_moves_name_the_problem():
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=3), 0)
    s = sc.initial_state(inst)
    step = sc.steps(inst)[0]
    assert "not on top" in sc.illegal(inst, s, step, (2, 0, 1))
    assert "no disk" in sc.illegal(inst, s, step, (4, 0, 1))
    assert "different" in sc.illegal(inst, s, step, (1, 0, 0))
    s2 = HanoiState(((3, 2), (1,), ()), (1, 0, 1))
    assert "smaller disk" in sc.illegal(inst, s2, step, (2, 0, 1))
    assert sc.check(inst, s2, step, (2, 0, 1)).code == "illegal"


def test_tape_window_is_what_the_step_needs():
    sc = get_scenario("eca")
    inst = sc.generate(sc.Params(rule=110, width=5, steps=1), 0)
    state = sc.initial_state(inst)
    steps = sc.steps(inst)
    row = inst.initial
    assert sc.window(inst, state, steps[0]) == f"{row[-1]}{row[0]}{row[1]}"
    life = get_scenario("life")
    li = life.generate(life.Params(rows=3, cols=3), 0)
    win = life.window(li, life.initial_state(li), life.steps(li)[0]).splitlines()
    assert win[0] == "000" and win[1][0] == "0" and win[2][0] == "0"  # beyond the edge is dead


def test_prompts_never_contain_the_answer_and_hold_the_window():
    sc = get_scenario("eca")
    inst = sc.generate(sc.Params(rule=110, width=8, steps=1), 0)
    step = sc.steps(inst)[0]
    win = sc.window(inst, sc.initial_state(inst), step)
    assert win in sc.step_prompt(inst, step, win)
    assert win not in sc.step_prompt(inst, step, None)


@pytest.mark.parametrize(
    "scenario, values, fragment",
    [
        ("eca", {"rule": 300}, "rule"),
        ("eca", {"width": "wide"}, "width"),
        ("eca", {"colour": 1}, "unknown parameter 'colour'"),
        ("life", {"density": 1.5}, "density"),
        ("hanoi", {"disks": 21}, "disks"),
    ],
)
def test_bad_params_are_one_line_errors_naming_the_allowed_values(scenario, values, fragment):
    with pytest.raises(AgentloopError) as exc:
        parse_params(get_scenario(scenario), values)
    msg = str(exc.value)
    assert fragment in msg and "parameters:" in msg and "\n" not in msg
