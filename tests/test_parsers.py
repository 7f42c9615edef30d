"""Parsers are strict and total: any text gives an answer or a ParseError, never another error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentloop.errors import ParseError
from agentloop.scenarios import get_scenario, list_scenarios
from agentloop.scenarios._base import parse_bit, parse_bit_rows

NAMES = list_scenarios()


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200))
def test_step_parser_is_total(name, text):
    sc = get_scenario(name)
    inst = sc.generate(sc.Params(), 0)
    step = sc.steps(inst)[0]
    try:
        sc.parse(text, step)
    except ParseError:
        pass


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=400))
def test_trajectory_parser_is_total(name, text):
    sc = get_scenario(name)
    inst = sc.generate(sc.Params(), 0)
    try:
        sc.parse_trajectory(inst, text)
    except ParseError:
        pass


@given(bit=st.sampled_from([0, 1]), pad=st.sampled_from(["", " ", "\n", "  \n"]), label=st.sampled_from(["", "answer: ", "Answer:"]))
def test_bits_parse_with_harmless_decoration(bit, pad, label):
    assert parse_bit(f"{pad}{label}{bit}{pad}") == bit


@pytest.mark.parametrize("text", ["01", "2", "yes", "0 or 1", "", "new cell is 1 or 0", "x: 1", "1 1"])
def test_bit_parser_rejects_anything_else(text):
    with pytest.raises(ParseError):
        parse_bit(text)


@given(rows=st.lists(st.lists(st.sampled_from([0, 1]), min_size=5, max_size=5), min_size=1, max_size=6))
def test_bit_rows_round_trip(rows):
    text = "\n".join(f"generation {i + 1}: " + "".join(map(str, r)) for i, r in enumerate(rows))
    assert parse_bit_rows(text, 5) == rows


def test_bit_rows_reject_a_row_of_the_wrong_width():
    with pytest.raises(ParseError):
        parse_bit_rows("generation 1: 0101", 5)


@pytest.mark.parametrize("text, move", [("[1, 0, 2]", (1, 0, 2)), ("move = [2,1,0]", (2, 1, 0)), ("1 0 2", (1, 0, 2)), ("```\n[3, 0, 1]\n```", (3, 0, 1))])
def test_hanoi_move_formats(text, move):
    sc = get_scenario("hanoi")
    step = sc.steps(sc.generate(sc.Params(), 0))[0]
    assert sc.parse(text, step) == move


@pytest.mark.parametrize("text", ["[1, 0]", "[1, 0, 2] then [2, 0, 1]", "move disk one to peg two", "[1; 0; 2]"])
def test_hanoi_rejects_anything_but_one_move(text):
    sc = get_scenario("hanoi")
    step = sc.steps(sc.generate(sc.Params(), 0))[0]
    with pytest.raises(ParseError):
        sc.parse(text, step)
