"""A::B: the rewrite rules, the leftmost-redex planner, the checker, the parser."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentloop.errors import ParseError
from agentloop.scenarios import get_scenario
from agentloop.scenarios.ab import TOKENS, AbInstance, AbParams, fmt_seq, normal_form, parse_seq, redexes, rewrite

sc = get_scenario("ab")
seqs = st.lists(st.sampled_from(TOKENS), max_size=24).map(tuple)


def inst_of(text: str) -> AbInstance:
    seq = parse_seq(text)
    return AbInstance(AbParams(length=max(len(seq), 2)), 0, seq)


def trajectory(inst: AbInstance) -> list[str]:
    state, out = sc.initial_state(inst), []
    for step in sc.steps(inst):
        state = sc.apply(inst, state, step, sc.solve(inst, state, step))
        out.append(fmt_seq(state))
    return out


def test_the_four_rules():
    assert normal_form(parse_seq("A# #A")) == ((), 1)
    assert normal_form(parse_seq("B# #B")) == ((), 1)
    assert normal_form(parse_seq("A# #B")) == (parse_seq("#B A#"), 1)
    assert normal_form(parse_seq("B# #A")) == (parse_seq("#A B#"), 1)
    assert normal_form(parse_seq("#A A# #B B#")) == (parse_seq("#A #B A# B#"), 1)


def test_a_sequence_that_annihilates_completely():
    inst = inst_of("A# B# #B #A")
    assert trajectory(inst) == ["A# #A", "empty"]
    assert sc.expected_json(inst) == "empty"
    # the empty normal form is written and read back as `empty`
    assert sc.parse("empty", sc.steps(inst)[-1]) == ()


def test_the_planner_takes_the_leftmost_redex():
    inst = inst_of("B# #A A# #A")
    assert redexes(inst.initial) == [0, 2]
    assert trajectory(inst) == ["#A B# A# #A", "#A B#"]


def test_another_redex_is_wrong_and_a_miscopy_is_illegal():
    inst = inst_of("B# #A A# #A")
    state, step = inst.initial, sc.steps(inst)[0]
    other = sc.check(inst, state, step, rewrite(state, 2))
    assert not other.ok and other.code == "wrong"
    assert other.expected == "#A B# A# #A"
    miscopy = sc.check(inst, state, step, parse_seq("#A B# A#"))
    assert not miscopy.ok and miscopy.code == "illegal"
    assert sc.check(inst, state, step, parse_seq("#A B# A# #A")).ok


def test_in_normal_form_the_only_legal_answer_is_the_same_sequence():
    inst = inst_of("A# #A")
    done = parse_seq("#B A#")
    step = sc.steps(inst)[0]
    assert sc.solve(inst, done, step) == done
    assert sc.check(inst, done, step, done).ok
    assert sc.check(inst, done, step, ()).code == "illegal"


@settings(max_examples=200, deadline=None)
@given(seq=seqs, seed=st.integers(0, 10**6))
def test_any_rewrite_order_reaches_the_leftmost_normal_form(seq, seed):
    """The system is confluent: the scoring by final sequence does not depend on the order."""
    rng, s = random.Random(seed), seq
    while redexes(s):
        s = rewrite(s, rng.choice(redexes(s)))
    nf, _ = normal_form(seq)
    assert s == nf
    assert not redexes(nf)
    # a normal form has every #X token left of every X# token
    assert list(nf) == sorted(nf, key=lambda t: t.endswith("#"))


def test_generator_is_deterministic_and_always_needs_a_rewrite():
    for seed in range(30):
        a = sc.generate(AbParams(length=2), seed)
        assert a == sc.generate(AbParams(length=2), seed)
        assert redexes(a.initial)
    assert len(sc.generate(AbParams(), 1).initial) == 12  # the challenge's length


@settings(max_examples=200, deadline=None)
@given(seq=seqs)
def test_parser_round_trips_every_sequence(seq):
    step = sc.steps(inst_of("A# #A"))[0]
    assert sc.parse(sc.format_answer(seq), step) == seq
    assert sc.parse(f"Answer: {fmt_seq(seq).lower()}.", step) == seq


def test_parser_accepts_brackets_commas_and_the_empty_words():
    step = sc.steps(inst_of("A# #A"))[0]
    assert sc.parse("[A#, #B, b#]", step) == ("A#", "#B", "B#")
    assert sc.parse("sequence: (empty)", step) == sc.parse("Nothing", step) == ()
    assert sc.parse("A# " * 64, step) == ("A#",) * 64


def test_parser_rejects_near_misses():
    step = sc.steps(inst_of("A# #A"))[0]
    for bad in ("", "A #A", "A# #C", "A##A", "the answer is A#", "A# #A\nB#", "A# " * 65, "empty A#"):
        with pytest.raises(ParseError):
            sc.parse(bad, step)


@pytest.mark.parametrize("text", ["A# #A\nB#", "A# #A\rB#", "A#\r#A", "A# #A\r\nB#"])
def test_a_sequence_broken_over_lines_is_refused_whatever_the_line_break(text):
    """A carriage return alone is a line break too: the tokens on either side are not one sequence."""
    step = sc.steps(inst_of("A# #A"))[0]
    with pytest.raises(ParseError) as err:
        sc.parse(text, step)
    assert str(err.value) == "expected one sequence on one line"


def test_whole_task_lines_may_be_numbered_and_stop_at_the_plan():
    inst = inst_of("B# #A A# #A")
    assert sc.parse_trajectory(inst, "1. #A B# A# #A\nstep 2: #A B#\nand then nothing more happens") == [
        parse_seq("#A B# A# #A"), parse_seq("#A B#")]




def test_with_one_facing_pair_the_slip_is_the_rule_confused():
    # the only facing pair is at position 2: an annihilating pair is swapped instead of removed
    state = parse_seq("B# B# A# #A")
    step = sc.steps(inst_of("B# B# A# #A"))[0]
    assert sc.corrupt(inst_of("B# B# A# #A"), state, step, parse_seq("B# B#"), random.Random(0)) == parse_seq("B# B# #A A#")
    # and a swapping pair is removed instead of swapped
    state = parse_seq("#A #A A# #B")
    assert sc.corrupt(inst_of("#A #A A# #B"), state, step, parse_seq("#A #A #B A#"), random.Random(0)) == parse_seq("#A #A")
