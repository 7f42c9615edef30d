"""Parsers are strict, total and linear: any text gives an answer or a ParseError, never another
error (their speed is measured by tools/fuzz.py). What they return is checked, not just that they return."""

from __future__ import annotations

from functools import lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentloop.errors import ParseError
from agentloop.scenarios import get_scenario, list_scenarios
from agentloop.scenarios._base import parse_bit, parse_bit_rows, parse_lines, strip_reply
from agentloop.types import Verdict

NAMES = list_scenarios()
MB = 1_000_000


@lru_cache(maxsize=None)
def case(name: str):
    """A default instance, its steps and the oracle's state before each step."""
    sc = get_scenario(name)
    inst = sc.generate(sc.Params(), 0)
    steps = list(sc.steps(inst))
    state, states = sc.initial_state(inst), []
    for step in steps:
        states.append(state)
        state = sc.apply(inst, state, step, sc.solve(inst, state, step))
    return sc, inst, steps, states


def assert_step_outcome(name: str, text: str, i: int = 0) -> None:
    """parse(text) raises ParseError, or returns an answer that round-trips and can be judged."""
    sc, inst, steps, states = case(name)
    try:
        answer = sc.parse(text, steps[i])
    except ParseError:
        return
    assert sc.parse(sc.format_answer(answer), steps[i]) == answer, (name, text[:60], answer)
    assert isinstance(sc.check(inst, states[i], steps[i], answer), Verdict)


def assert_trajectory_outcome(name: str, text: str) -> None:
    """parse_trajectory(text) raises ParseError, or returns at most the plan's answers, which
    round-trip through format_trajectory and each through format_answer."""
    sc, inst, steps, _ = case(name)
    try:
        answers = sc.parse_trajectory(inst, text)
    except ParseError:
        return
    assert isinstance(answers, list) and len(answers) <= len(steps), (name, text[:60], len(answers))
    assert sc.parse_trajectory(inst, sc.format_trajectory(inst, answers)) == answers, (name, text[:60])
    for step, a in zip(steps, answers):
        assert sc.parse(sc.format_answer(a), step) == a, (name, step, a)


# --- (a) arbitrary text ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60)
@given(text=st.text(max_size=200))
def test_step_parser_is_total_on_any_text(name, text):
    assert_step_outcome(name, text)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60)
@given(text=st.text(max_size=400))
def test_trajectory_parser_is_total_on_any_text(name, text):
    assert_trajectory_outcome(name, text)


# --- (b) adversarial text: what breaks naive parsers ----------------------------------------------
# Separators, ASCII and non-ASCII digits ('²' passes str.isdigit() but not int(), '٣' passes
# both), letters and punctuation the parsers look for, fences, and long runs of each.
PIECES = [" ", "  ", "\t", "\n", ",", ":", "=", ".", "[", "]", "`", "```", "#", "-", "+", "\u2212",
          "0", "1", "2", "7", "9", "²", "³", "٣", "१", "A#", "#B", "move", "answer:", "row 2:", "a", "crane", "Xq"]
pieces = st.sampled_from(PIECES)
runs = st.builds(lambda piece, k: piece * k, pieces, st.integers(1, 3000))
adversarial = st.lists(st.one_of(pieces, runs, st.just("9" * 5000)), min_size=1, max_size=8).map("".join)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40)
@given(text=adversarial)
def test_parsers_are_total_on_adversarial_text(name, text):
    assert_step_outcome(name, text)
    assert_trajectory_outcome(name, text)


# What a right answer becomes when one character of it is replaced by something nasty.
SPLICES = st.sampled_from(["²", "٣", "9" * 5000, " " * 3000, "\n" * 50, ",", ", ,", "```", "-", "", "\x00"])


def splice(data, text: str) -> str:
    at = data.draw(st.integers(0, max(len(text) - 1, 0)))
    return text[:at] + data.draw(SPLICES) + text[at + 1 :]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40)
@given(data=st.data())
def test_right_answers_with_one_character_replaced_parse_cleanly(name, data):
    sc, inst, steps, states = case(name)
    i = data.draw(st.integers(0, len(steps) - 1))
    assert_step_outcome(name, splice(data, sc.format_answer(sc.solve(inst, states[i], steps[i]))), i)
    answers = [sc.solve(inst, s, step) for s, step in zip(states, steps)]
    assert_trajectory_outcome(name, splice(data, sc.format_trajectory(inst, answers)))


PATHOLOGICAL = {
    "spaces between numbers": "1" + " " * 3000 + "1" + " " * 3000 + "x",
    "label then spaces": "move" + " " * 100_000 + "x",
    "a 5000-digit number": "[" + "9" * 5000 + ", 0, 1]",
    "superscripts": "²" * 1000,
    "1 MB of spaces": " " * MB,
    "1 MB of digits": "1" * MB,
    "1 MB of digit lines": "1 0 2\n" * (MB // 6),
    "1 MB of tokens": "A# #A " * (MB // 6),
    "1 MB of letters apart": "a " * (MB // 2),
    "1 MB of commas": "1," * (MB // 2),
    "1 MB of fences": "```\n" * (MB // 4),
    "1 MB of label lines": "generation 1:\n" * (MB // 14),
    "1 MB of short labels": "1:\n" * (MB // 3),
    "1 MB of dot lines": "...\n" * (MB // 4),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("label", list(PATHOLOGICAL))
def test_pathological_replies_get_an_answer_or_a_parse_error(name, label):
    # Their speed (50 ms for a 1 MB reply, linear) is measured by tools/fuzz.py, not asserted
    # here: a unit test never fails on wall time.
    text = PATHOLOGICAL[label]
    assert_step_outcome(name, text)
    assert_trajectory_outcome(name, text)


def test_the_correct_trajectory_padded_to_a_megabyte_is_read_up_to_the_plan():
    sc, inst, steps, states = case("hanoi")
    answers = [sc.solve(inst, s, step) for s, step in zip(states, steps)]
    text = sc.format_trajectory(inst, answers) + "\n[1, 0, 2]" * (MB // 10)
    assert sc.parse_trajectory(inst, text) == answers


# --- regressions: each failed on the parsers before they were made total and linear -------------
def test_hanoi_move_regex_rejects_runs_of_spaces():
    from agentloop.scenarios.hanoi import _MOVE_REPLY

    # This took 44 s with a backtracking pattern; tools/fuzz.py measures the parsers' speed.
    assert _MOVE_REPLY.fullmatch("1" + " " * 2000 + "1" + " " * 2000 + "x") is None


def test_hanoi_rejects_a_5000_digit_number_with_a_parse_error():
    sc, inst, steps, _ = case("hanoi")
    huge = "9" * 5000  # over Python's 4,300-digit int() limit: ValueError before
    with pytest.raises(ParseError):
        sc.parse(f"[{huge}, 0, 1]", steps[0])
    with pytest.raises(ParseError):
        sc.parse_trajectory(inst, f"[1, 0, 2]\n[{huge}, 0, 1]")


def test_sudoku_grid_with_superscript_digits_is_a_parse_error():
    sc, inst, _, _ = case("sudoku")
    with pytest.raises(ParseError):  # ValueError before: '²'.isdigit() is true, int('²') fails
        sc.parse_trajectory(inst, "1²34\n3412\n2143\n4321")
    with pytest.raises(ParseError):
        sc.parse("²", sc.steps(inst)[0])


def test_non_ascii_digits_are_not_numbers():
    for name, text in [("hanoi", "[١, ٠, ٢]"), ("multiply", "٥٦"), ("ledger", "٤٢"), ("sudoku", "٣")]:
        sc, _, steps, _ = case(name)
        with pytest.raises(ParseError):
            sc.parse(text, steps[0])


# --- the shared helpers ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, cleaned",
    [("  1. ", "1"), ("```\n1\n```", "1"), ("```text\n[1, 0, 2]\n```", "[1, 0, 2]"), ("```crane```", "crane"),
     ("```crane\n```", "crane"), ("`1`", "`1`"), ("```text\nX\n```", "X"), ("```\nXX\n```", "XX")],
)
def test_strip_reply_removes_whitespace_fences_and_a_final_period(text, cleaned):
    assert strip_reply(text) == cleaned


def test_parse_lines_skips_blanks_and_fences_and_stops_at_the_limit():
    assert parse_lines("```json\n1\n\n2\n```", int, "numbers") == [1, 2]
    assert parse_lines("1\n2\nnot a number", int, "numbers", limit=2) == [1, 2]
    with pytest.raises(ParseError, match="no numbers"):
        parse_lines("\n```\n```\n", int, "numbers")


@given(bit=st.sampled_from([0, 1]), pad=st.sampled_from(["", " ", "\n", "  \n"]), label=st.sampled_from(["", "answer: ", "Answer:"]))
def test_bits_parse_with_harmless_decoration(bit, pad, label):
    assert parse_bit(f"{pad}{label}{bit}{pad}") == bit


@pytest.mark.parametrize("text", ["01", "2", "yes", "0 or 1", "", "new cell is 1 or 0", "x: 1", "1 1", "¹"])
def test_bit_parser_rejects_anything_else(text):
    with pytest.raises(ParseError):
        parse_bit(text)


def test_bit_parser_error_quotes_the_first_40_characters_of_the_reply():
    text = "the new value of the cell is one, because " + "x" * 60
    with pytest.raises(ParseError) as e:
        parse_bit(text)
    assert str(e.value) == f"expected a single 0 or 1, got {text[:40]!r}"
    assert str(e.value) == "expected a single 0 or 1, got 'the new value of the cell is one, becaus'"


@given(rows=st.lists(st.lists(st.sampled_from([0, 1]), min_size=5, max_size=5), min_size=1, max_size=6))
def test_bit_rows_round_trip(rows):
    text = "\n".join(f"generation {i + 1}: " + "".join(map(str, r)) for i, r in enumerate(rows))
    assert parse_bit_rows(text, 5) == rows
    assert parse_bit_rows(text, 5, limit=2) == rows[:2]


def test_bit_rows_reject_a_row_of_the_wrong_width_and_skip_prose():
    with pytest.raises(ParseError):
        parse_bit_rows("generation 1: 0101", 5)
    with pytest.raises(ParseError):
        parse_bit_rows("0101²", 5)
    assert parse_bit_rows("Here they are\n01011", 5) == [[0, 1, 0, 1, 1]]


@pytest.mark.parametrize(
    "text, move",
    [("[1, 0, 2]", (1, 0, 2)), ("move = [2,1,0]", (2, 1, 0)), ("1 0 2", (1, 0, 2)), ("```\n[3, 0, 1]\n```", (3, 0, 1)),
     ("Move: [1 , 0 , 2].", (1, 0, 2)), ("[ 1,0,2 ]", (1, 0, 2)), ("[001, 0, 2]", (1, 0, 2))],
)
def test_hanoi_move_formats(text, move):
    sc, _, steps, _ = case("hanoi")
    assert sc.parse(text, steps[0]) == move


@pytest.mark.parametrize(
    "text", ["[1, 0]", "[1, 0, 2] then [2, 0, 1]", "move disk one to peg two", "[1; 0; 2]", "[1,, 0, 2]", "[-1, 0, 2]"]
)
def test_hanoi_rejects_anything_but_one_move(text):
    sc, _, steps, _ = case("hanoi")
    with pytest.raises(ParseError):
        sc.parse(text, steps[0])


def test_bit_rows_skip_label_lines_only_up_to_a_few_more_than_the_rows_asked():
    rows = "0110\n1001"
    labels = lambda n: "\n".join(f"generation {i}:" for i in range(n))  # noqa: E731  (digits only in labels)
    assert parse_bit_rows(labels(2 * 2 + 8 - 2) + "\n" + rows, 4, limit=2) == [[0, 1, 1, 0], [1, 0, 0, 1]]
    with pytest.raises(ParseError) as e:
        parse_bit_rows(labels(2 * 2 + 9) + "\n" + rows, 4, limit=2)
    assert str(e.value) == "more than 12 lines that could be rows; no answer has that many"
    assert parse_bit_rows(labels(40) + "\n" + rows, 4) == [[0, 1, 1, 0], [1, 0, 0, 1]]  # no limit: no bound
