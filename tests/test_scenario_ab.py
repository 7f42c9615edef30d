"""A::B: the rewrite rules, the leftmost-redex planner, the checker, the parser."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.errors import AgentloopError, ParseError
from agentloop.conditions import get_condition
from agentloop.loop import run_episode
from agentloop.scenarios import get_scenario, parse_params
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


def test_out_of_range_length_is_a_one_line_error():
    with pytest.raises(AgentloopError, match="length"):
        parse_params(sc, {"length": "1"})
    res = CliRunner().invoke(app, ["run", "ab", "-p", "length=65"])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ab: parameter length") and res.stderr.count("\n") == 1


@settings(max_examples=200, deadline=None)
@given(seq=seqs)
def test_parser_round_trips_every_sequence(seq):
    step = sc.steps(inst_of("A# #A"))[0]
    assert sc.parse(sc.format_answer(seq), step) == seq
    assert sc.parse(f"Answer: {fmt_seq(seq).lower()}.", step) == seq


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="AB# \n:.,[]empty0123456789rewit", max_size=60))
def test_parsers_raise_only_parse_errors(text):
    inst = inst_of("A# #A")
    for parse in (lambda t: sc.parse(t, sc.steps(inst)[0]), lambda t: sc.parse_trajectory(inst, t)):
        try:
            out = parse(text)
        except ParseError:
            continue
        assert isinstance(out, (tuple, list))


def test_parser_rejects_near_misses():
    step = sc.steps(inst_of("A# #A"))[0]
    for bad in ("", "A #A", "A# #C", "A##A", "the answer is A#", "A# #A\nB#"):
        with pytest.raises(ParseError):
            sc.parse(bad, step)


@pytest.mark.parametrize("condition", ["oneshot", "tape", "vote", "verify"])
def test_noisy_simulated_runs_end_to_end(condition):
    records = [
        # Four slips in a row (0.2^4 per step) would exhaust verify's default 3 re-asks; with 6
        # the chance is ~1e-5 per step, so every episode must be solved.
        run_episode("ab", {"length": 16},
                    condition=get_condition(condition, max_retries=6) if condition == "verify" else condition,
                    model="scripted/noisy",
                    model_args={"error": 0.2, "seed": 3}, seed=seed)
        for seed in range(5)
    ]
    for r in records:
        assert r.simulated and r.steps_total > 0
        assert r.status in ("solved", "failed")
        assert len(r.step_ok) == len(r.steps) <= r.steps_total
        json.dumps(r.model_dump())
    if condition == "verify":  # the simulator catches every slip and the re-asks fix them
        assert all(r.success for r in records)
        assert sum(r.calls for r in records) > sum(r.steps_total for r in records)
    else:
        assert not all(all(r.step_ok) for r in records)
