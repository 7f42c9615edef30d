"""Hand-checked cases for the eca and life simulators and their prompts (hanoi: test_scenario_hanoi.py)."""

from __future__ import annotations

import pytest

from agentloop.errors import AgentloopError
from agentloop.scenarios import get_scenario, parse_params
from agentloop.scenarios.eca import next_cell, next_row, rule_table
from agentloop.scenarios.life import live_neighbours, next_board


def test_rule_110_90_and_30_by_hand():
    assert next_row(110, (0, 0, 0, 1, 0, 0)) == (0, 0, 1, 1, 0, 0)
    assert next_row(90, (0, 0, 1, 0, 0)) == (0, 1, 0, 1, 0)
    assert next_row(30, (0, 0, 1, 0, 0)) == (0, 1, 1, 1, 0)
    assert next_row(30, (0, 1, 1, 1, 0)) == (1, 1, 0, 0, 1)
    assert rule_table(110).splitlines()[0] == "111 -> 0"
    assert rule_table(110).splitlines()[-1] == "000 -> 0"
    assert [next_cell(110, p >> 2, p >> 1 & 1, p & 1) for p in range(8)] == [0, 1, 1, 1, 0, 1, 1, 0]  # 110 = 0b01101110


def test_eca_wraps_around_at_both_edges():
    # Rule 90: new cell = left XOR right. A lone live cell at either edge lights its neighbour on
    # the far side, which only a ring does.
    assert next_row(90, (1, 0, 0, 0, 0)) == (0, 1, 0, 0, 1)  # the first cell's left is the last
    assert next_row(90, (0, 0, 0, 0, 1)) == (1, 0, 0, 1, 0)  # the last cell's right is the first
    # Rule 4 keeps only a live cell whose neighbours are dead: at the edges the far-side neighbour counts.
    assert next_row(4, (1, 0, 0, 1)) == (0, 0, 0, 0)
    assert next_row(4, (1, 0, 1, 0)) == (1, 0, 1, 0)


def test_life_blinker_block_and_dead_edges():
    blinker = ((0, 0, 0), (1, 1, 1), (0, 0, 0))
    assert next_board(blinker) == ((0, 1, 0), (0, 1, 0), (0, 1, 0))
    corner = ((1, 1, 0), (1, 0, 0), (0, 0, 0))  # dead beyond the edge: the corner cell is born
    assert next_board(corner) == ((1, 1, 0), (1, 1, 0), (0, 0, 0))
    block = ((1, 1, 0), (1, 1, 0), (0, 0, 0))  # a still life, even against two edges
    assert next_board(block) == block
    # A blinker along the top edge: on a torus it would live on; with dead edges the cells that
    # would be born above it are not there, so it shrinks to its centre column's two cells.
    edge = ((1, 1, 1), (0, 0, 0), (0, 0, 0))
    assert next_board(edge) == ((0, 1, 0), (0, 1, 0), (0, 0, 0))
    assert live_neighbours(((1, 1, 1), (1, 1, 1), (1, 1, 1)), 0, 0) == 3  # a corner has 3 neighbours


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


def test_life_on_a_torus_expects_the_wrapped_generations():
    life = get_scenario("life")
    differs = 0
    for seed in range(8):
        inst = life.generate(life.Params(rows=4, cols=5, steps=2, topology="torus"), seed)
        wrapped = dead = inst.initial
        for _ in range(2):
            wrapped, dead = next_board(wrapped, torus=True), next_board(dead)
        assert life.expected_json(inst) == [list(r) for r in wrapped]
        differs += wrapped != dead
    assert differs >= 4  # the edges matter on most boards, so the check above has teeth


def test_allowed_values_read_inclusive_and_exclusive_bounds_and_enums():
    from agentloop.scenarios import allowed_values

    assert allowed_values({"minimum": 0, "maximum": 255, "type": "integer"}) == "0..255"
    assert allowed_values({"exclusiveMinimum": 0, "exclusiveMaximum": 1, "type": "number"}) == "0..1"
    assert allowed_values({"exclusiveMinimum": 0, "type": "number"}) == ">=0"
    assert allowed_values({"minimum": 3, "exclusiveMaximum": 9, "type": "integer"}) == "3..9"
    assert allowed_values({"enum": [4, 9], "minimum": 1, "type": "integer"}) == "4|9"
    assert allowed_values({"type": "string"}) == "string" and allowed_values({"type": None}) == "any"


def test_described_params_keep_exclusive_bounds_so_the_error_names_them():
    from agentloop.scenarios import allowed_values, describe_params

    density = {d["name"]: d for d in describe_params(get_scenario("life"))}["density"]
    assert density == {"name": "density", "type": "number", "default": 0.35, "exclusiveMinimum": 0,
                       "exclusiveMaximum": 1, "description": "share of live cells at the start"}
    assert allowed_values(density) == "0..1"
    with pytest.raises(AgentloopError) as err:
        parse_params(get_scenario("life"), {"density": 2})
    assert str(err.value) == (
        "life: parameter density=2: input should be less than 1; parameters: rows (3..64), cols (3..64), "
        "steps (1..200), density (0..1), topology (dead|torus), granularity (cell|row|board)")


def test_planner_llm_on_a_scenario_without_a_planner_names_those_that_have_one():
    from agentloop.errors import AgentloopError
    from agentloop.loop._planner import _planners, check_planner

    with pytest.raises(AgentloopError) as exc:
        check_planner(get_scenario("reversal"))
    assert str(exc.value) == f"planner=llm is not available for scenario 'reversal'; it plans: {', '.join(_planners())}"
    assert len(_planners()) >= 2


def test_a_whole_eca_reply_with_a_row_too_many_is_told_so_whatever_follows():
    from agentloop.errors import ParseError
    from agentloop.scenarios.eca import parse_rows

    assert parse_rows("generation 1: 0101\ngeneration 2: 1100", 2, 4) == ((0, 1, 0, 1), (1, 1, 0, 0))
    for tail in ("", "\n01", "\n0000\n111"):
        with pytest.raises(ParseError, match=r"^expected 2 rows of 4 digits, got 3$"):
            parse_rows("0101\n1100\n0011" + tail, 2, 4)


def test_a_call_may_hold_up_to_the_most_units_per_call_and_no_more():
    from agentloop.scenarios._granularity import MAX_PER_CALL, per_call

    assert per_call("row", "row", "rows") == 1 and per_call("rows:3", "row", "rows") == 3
    assert per_call(f"rows:{MAX_PER_CALL}", "row", "rows") == MAX_PER_CALL
    for bad in (f"rows:{MAX_PER_CALL + 1}", "rows:0", "moves:3", "rows", "board"):
        assert per_call(bad, "row", "rows") is None, bad
