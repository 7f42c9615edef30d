"""Reversal: facts, directions, the two-way index on the tape, the split accuracy, the parser."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentloop.errors import ParseError
from agentloop.loop import run_episode
from agentloop.scenarios import get_scenario
from agentloop.scenarios._names import unique_people
from agentloop.scenarios.reversal import BACKWARD, FORWARD, ReversalInstance, ReversalParams, split_accuracy

sc = get_scenario("reversal")
INST = ReversalInstance(
    ReversalParams(facts=2), 0,
    children=("Dova Kelitran", "Mira Sostel"), parents=("Tabo Renvik", "Lusa Pendor"),
    questions=((BACKWARD, 0), (FORWARD, 1), (FORWARD, 0), (BACKWARD, 1)),
)


def test_answers_in_both_directions():
    steps = sc.steps(INST)
    state = sc.initial_state(INST)
    assert [sc.solve(INST, state, s) for s in steps] == ["Dova Kelitran", "Lusa Pendor", "Tabo Renvik", "Mira Sostel"]
    assert [s.label for s in steps] == [
        "backward question 1", "forward question 2", "forward question 3", "backward question 4"]
    assert [s.key[0] for s in steps] == [BACKWARD, FORWARD, FORWARD, BACKWARD]
    assert "Who is Tabo Renvik's child?" in sc.step_prompt(INST, steps[0], None)


def test_facts_are_given_only_in_the_forward_wording_and_the_index_works_both_ways():
    shown = sc.show_initial(INST)
    assert "Dova Kelitran's parent is Tabo Renvik." in shown
    assert "child" not in shown
    back, fwd = sc.steps(INST)[0], sc.steps(INST)[2]
    assert sc.window(INST, (), back) == "Index entry for Tabo Renvik: child Dova Kelitran."
    assert sc.window(INST, (), fwd) == "Index entry for Dova Kelitran: parent Tabo Renvik."
    assert "Tabo Renvik" not in sc.rules(INST)  # under the tape the facts come only from the index


def test_accuracy_is_split_by_direction():
    answers = ("Dova Kelitran", "Mira Sostel", "Tabo Renvik", "Tabo Renvik")  # right, wrong, right, wrong
    assert split_accuracy(INST, answers) == {
        "forward": {"correct": 1, "asked": 2}, "backward": {"correct": 1, "asked": 2}}
    result = sc.result_json(INST, answers, answers)
    assert result["answers"] == list(answers) and result["backward"] == {"correct": 1, "asked": 2}
    assert not sc.is_goal(INST, answers)
    assert split_accuracy(INST, answers[:1]) == {
        "forward": {"correct": 0, "asked": 0}, "backward": {"correct": 1, "asked": 1}}


def test_a_wrong_name_is_wrong_and_corruptions_include_the_subject_itself():
    step = sc.steps(INST)[1]
    v = sc.check(INST, (), step, "Mira Sostel")
    assert v.code == "wrong" and v.expected == "Lusa Pendor"
    seen = {sc.corrupt(INST, (), step, "Lusa Pendor", random.Random(i)) for i in range(40)}
    assert seen == {"Tabo Renvik", "Mira Sostel"}


def test_generator_pairs_distinct_people_and_asks_every_fact_both_ways():
    inst = sc.generate(ReversalParams(facts=50), 3)
    assert inst == sc.generate(ReversalParams(facts=50), 3)
    people = inst.children + inst.parents
    assert len(set(people)) == 100
    assert sorted(inst.questions) == sorted((d, f) for f in range(50) for d in (FORWARD, BACKWARD))
    assert all(re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", p) for p in people)


names = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(words=names)
def test_parser_round_trips_and_normalises_case(words):
    step = sc.steps(INST)[0]
    name = " ".join(w.capitalize() for w in words)
    assert sc.parse(sc.format_answer(name), step) == name
    assert sc.parse(f"Answer:  {name.upper()}.", step) == name
    assert sc.parse_trajectory(INST, f"1. {name}\n2: {name.lower()}") == [name, name]


def test_parser_rejects_sentences_and_numbers():
    step = sc.steps(INST)[0]
    for bad in ("", "Dova Kelitran's parent is Tabo Renvik", "Agent 007", "Dova, Kelitran", "Dova\nKelitran"):
        with pytest.raises(ParseError):
            sc.parse(bad, step)


def test_record_reports_forward_and_backward_accuracy():
    r = run_episode("reversal", {"facts": 20}, condition="tape", model="scripted/noisy",
                    model_args={"error": 0.3, "seed": 5}, seed=1)
    assert r.simulated and r.steps_total == 40 and len(r.steps) == 40
    for d in ("forward", "backward"):
        rows = [s for s in r.steps if s.label.startswith(d)]
        assert len(rows) == 20
        assert r.answer[d] == {"correct": sum(s.ok for s in rows), "asked": 20}
    assert r.answer["forward"]["correct"] + r.answer["backward"]["correct"] == sum(r.step_ok) < 40




def test_a_forward_question_names_the_child_and_asks_for_the_parent():
    fwd, back = sc.steps(INST)[1], sc.steps(INST)[0]
    assert sc.step_prompt(INST, fwd, None) == "Question 2: Who is Mira Sostel's parent? Answer with the full name only."
    assert sc.step_prompt(INST, back, "W.") == "Question 1: Who is Tabo Renvik's child? W. Answer with the full name only."
    listed = sc.oneshot_format(INST)
    assert "1. Who is Tabo Renvik's child?\n2. Who is Mira Sostel's parent?" in listed


class _EachNameDrawnTwice:
    """A stand-in rng whose choices repeat every name twice: the first choice of each pool for
    the first two names, the second choice for the next two, and so on (12 choices a name)."""

    def __init__(self):
        self.calls = 0

    def choice(self, seq):
        k = self.calls // 24
        self.calls += 1
        return seq[k % len(seq)]


def test_people_drawn_twice_are_kept_once_so_every_name_is_distinct():
    assert unique_people(_EachNameDrawnTwice(), 3) == ["Baba Bababa", "Dede Dedede", "Fifi Fififi"]


def test_a_reply_of_two_lines_is_not_one_name():
    step = sc.steps(INST)[0]
    for text in ("Dova\nKelitran", "Answer: Dova\r\nKelitran"):
        with pytest.raises(ParseError) as e:
            sc.parse(text, step)
        assert str(e.value) == "expected one name on one line"
