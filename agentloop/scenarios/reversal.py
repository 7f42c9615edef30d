"""The reversal curse (Berglund et al. 2023), made concrete for agents.

A generated set of fictitious facts "X's parent is Y" (each person in exactly one fact, so every
question has one answer). Every fact is asked twice, in a seeded order: forward ("Who is X's
parent?") and backward ("Who is Y's child?"). Without the tape the facts are given once, only
in their forward wording. With it they sit in an external two-way index, and the planner reads
the entry for the question's subject into the worker's window, so the backward question is as
easy as the forward one.

The direction is part of every step: its key is (direction, fact) with 0 = forward and 1 =
backward, and its label starts with the direction's name. The record's `answer` splits the
agent's accuracy by direction.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from agentloop.errors import ParseError
from agentloop.scenarios._base import Params, Scenario, parse_lines, strip_reply
from agentloop.scenarios._names import unique_people
from agentloop.types import Step

FORWARD, BACKWARD = 0, 1
DIRECTIONS = ("forward", "backward")
Answers = tuple[str, ...]

_MAX_WORDS = 4
_WORD = r"[A-Za-z][A-Za-z'-]{0,39}"  # bounded, so a megabyte of letters is not taken for a name
_NAME = re.compile(rf"{_WORD}(?: {_WORD}){{0,{_MAX_WORDS - 1}}}")
_LABEL = re.compile(r"^(?:answer|name|parent|child)\s*:\s*", re.IGNORECASE)
_LINE_LABEL = re.compile(r"^(?:(?:forward|backward)?\s*(?:question\s*)?[0-9]+[.):]?)\s*", re.IGNORECASE)


class ReversalParams(Params):
    facts: int = Field(default=10, ge=1, le=500, description="fictitious parent/child facts (each asked both ways)")


@dataclass(frozen=True)
class ReversalInstance:
    params: ReversalParams
    seed: int
    children: tuple[str, ...]
    parents: tuple[str, ...]  # parents[i] is children[i]'s parent
    questions: tuple[tuple[int, int], ...]  # (direction, fact) in the order asked


def subject(inst: ReversalInstance, direction: int, fact: int) -> str:
    """The person the question is about."""
    return inst.children[fact] if direction == FORWARD else inst.parents[fact]


def truth(inst: ReversalInstance, direction: int, fact: int) -> str:
    return inst.parents[fact] if direction == FORWARD else inst.children[fact]


def question(inst: ReversalInstance, direction: int, fact: int) -> str:
    role = "parent" if direction == FORWARD else "child"
    return f"Who is {subject(inst, direction, fact)}'s {role}?"


def parse_name(text: str) -> str:
    """A person's name: one to four words of letters; capitalised the way the facts write names."""
    t = _LABEL.sub("", strip_reply(text)).strip()
    if "\n" in t or "\r" in t:
        raise ParseError("expected one name on one line")
    words = t.split(maxsplit=_MAX_WORDS)  # no further: a megabyte of words is not worth a list
    if len(words) > _MAX_WORDS or not _NAME.fullmatch(" ".join(words)):
        raise ParseError(f"expected one person's name, got {text[:40]!r}")
    return " ".join(w[:1].upper() + w[1:].lower() for w in words)


def split_accuracy(inst: ReversalInstance, answers: Sequence[str]) -> dict[str, dict[str, int]]:
    """Correct answers out of questions answered, per direction."""
    out = {d: {"correct": 0, "asked": 0} for d in DIRECTIONS}
    for (direction, fact), a in zip(inst.questions, answers):
        cell = out[DIRECTIONS[direction]]
        cell["asked"] += 1
        cell["correct"] += a == truth(inst, direction, fact)
    return out


class Reversal(Scenario[ReversalInstance, Answers, str]):
    name = "reversal"
    summary = "the reversal curse: fictitious parent facts asked forward and backward, with or without a two-way index"
    Params = ReversalParams
    max_answer_chars = 48

    def generate(self, params: ReversalParams, seed: int) -> ReversalInstance:
        rng = random.Random(seed)
        people = unique_people(rng, 2 * params.facts)
        qs = [(d, f) for f in range(params.facts) for d in (FORWARD, BACKWARD)]
        rng.shuffle(qs)
        return ReversalInstance(params, seed, tuple(people[0::2]), tuple(people[1::2]), tuple(qs))

    def initial_state(self, inst: ReversalInstance) -> Answers:
        return ()

    def steps(self, inst: ReversalInstance) -> list[Step]:
        return [Step(t, (d, f), f"{DIRECTIONS[d]} question {t + 1}") for t, (d, f) in enumerate(inst.questions)]

    def solve(self, inst: ReversalInstance, state: Answers, step: Step) -> str:
        return truth(inst, *step.key)

    def apply(self, inst: ReversalInstance, state: Answers, step: Step, answer: str) -> Answers:
        return state + (answer,)

    def _expected(self, inst: ReversalInstance) -> Answers:
        return tuple(truth(inst, d, f) for d, f in inst.questions)

    def is_goal(self, inst: ReversalInstance, state: Answers) -> bool:
        return state == self._expected(inst)

    def corrupt(self, inst: ReversalInstance, state: Answers, step: Step, answer: str, rng: random.Random) -> str:
        # Someone else of the same role, or the question's own subject (answering the wrong way round).
        direction, fact = step.key
        pool = inst.parents if direction == FORWARD else inst.children
        cands = [p for p in pool if p != answer] + [subject(inst, direction, fact)]
        return rng.choice(cands)

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: ReversalInstance) -> str:
        return (
            "You answer questions about a family of fictitious people. Each person has at most one "
            "parent and one child in these facts. Answer each question with one person's full name only."
        )

    def show_initial(self, inst: ReversalInstance) -> str:
        facts = "\n".join(f"{c}'s parent is {p}." for c, p in zip(inst.children, inst.parents))
        return f"Facts:\n{facts}"

    def oneshot_format(self, inst: ReversalInstance) -> str:
        qs = "\n".join(f"{t + 1}. {question(inst, d, f)}" for t, (d, f) in enumerate(inst.questions))
        return (
            f"Questions:\n{qs}\nAnswer every question in order, one line each, as `N: ` followed by the "
            "full name, and nothing else."
        )

    def window(self, inst: ReversalInstance, state: Answers, step: Step) -> str:
        direction, fact = step.key
        # The two-way index: looked up by the question's subject, whichever side of the fact it is on.
        if direction == FORWARD:
            return f"Index entry for {inst.children[fact]}: parent {inst.parents[fact]}."
        return f"Index entry for {inst.parents[fact]}: child {inst.children[fact]}."

    def step_prompt(self, inst: ReversalInstance, step: Step, window: str | None) -> str:
        q = question(inst, *step.key)
        if window is None:
            return f"Question {step.index + 1}: {q} Answer with the full name only."
        return f"Question {step.index + 1}: {q} {window} Answer with the full name only."

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> str:
        return parse_name(text)

    def format_answer(self, answer: str) -> str:
        return answer

    def parse_trajectory(self, inst: ReversalInstance, text: str) -> list[str]:
        return parse_lines(
            text, lambda line: parse_name(_LINE_LABEL.sub("", line)), "answers", limit=len(inst.questions)
        )

    def format_trajectory(self, inst: ReversalInstance, answers: Sequence[str]) -> str:
        return "\n".join(f"{t + 1}: {a}" for t, a in enumerate(answers))

    def initial_json(self, inst: ReversalInstance) -> dict[str, Any]:
        return {
            "facts": [[c, p] for c, p in zip(inst.children, inst.parents)],
            "questions": [[DIRECTIONS[d], subject(inst, d, f)] for d, f in inst.questions],
        }

    def expected_json(self, inst: ReversalInstance) -> dict[str, Any]:
        answers = self._expected(inst)
        return {"answers": list(answers), **split_accuracy(inst, answers)}

    def result_json(self, inst: ReversalInstance, state: Answers, answers: Sequence[str]) -> dict[str, Any]:
        return {"answers": list(state), **split_accuracy(inst, state)}
