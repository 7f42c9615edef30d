"""Long-horizon execution after "The Illusion of Diminishing Returns" (arXiv 2509.09677).

A table maps made-up keys to small integers. Each step names one key; the agent adds that key's
value to a running total and answers with the new total. Every step is trivial (one look-up,
one addition); what fails over many steps is keeping the total and finding the row in a
growing context. Without the tape the table is given once at the start and the total lives in
the conversation; with it, the worker sees only the current total and the named key's row.
Local correctness is judged against the agent's *own* previous total, so one slip is one error,
not an error at every later step.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pydantic import Field

from agentloop.errors import ParseError
from agentloop.scenarios._base import Params, Scenario, parse_lines, strip_reply
from agentloop.scenarios._names import unique_words
from agentloop.types import Step

MAX_VALUE = 99
_INT = re.compile(r"[+-]?[0-9]{1,9}")
_LABEL = re.compile(r"^(?:answer|total|running total|new total|new running total)\s*[:=]?\s*", re.IGNORECASE)


class LedgerParams(Params):
    size: int = Field(default=20, ge=2, le=1000, description="rows in the key/value table")
    steps: int = Field(default=20, ge=1, le=2000, description="keys to add up, one per step")


@dataclass(frozen=True)
class LedgerInstance:
    params: LedgerParams
    seed: int
    table: tuple[tuple[str, int], ...]  # (key, value) rows, in the order shown
    order: tuple[int, ...]  # row index named at each step

    def row(self, step: Step) -> tuple[str, int]:
        return self.table[step.key[1]]


class LedgerState(NamedTuple):
    total: int
    done: int  # steps committed


def _int_text(text: str) -> int:
    t = _LABEL.sub("", strip_reply(text).replace("\u2212", "-")).strip()
    if not _INT.fullmatch(t):
        raise ParseError(f"expected one whole number, got {text[:40]!r}")
    return int(t)


class Ledger(Scenario[LedgerInstance, LedgerState, int]):
    name = "ledger"
    summary = "long-horizon look-up and sum: add the named key's value to a running total, step after step"
    Params = LedgerParams
    max_answer_chars = 24

    def generate(self, params: LedgerParams, seed: int) -> LedgerInstance:
        rng = random.Random(seed)
        keys = unique_words(rng, params.size, 2)
        choices = [v for v in range(-MAX_VALUE, MAX_VALUE + 1) if v]  # zero would make a step a no-op
        values = [rng.choice(choices) for _ in keys]
        order = tuple(rng.randrange(params.size) for _ in range(params.steps))
        return LedgerInstance(params, seed, tuple(zip(keys, values)), order)

    def initial_state(self, inst: LedgerInstance) -> LedgerState:
        return LedgerState(0, 0)

    def steps(self, inst: LedgerInstance) -> list[Step]:
        return [Step(t, (t, r), f"step {t + 1}: {inst.table[r][0]}") for t, r in enumerate(inst.order)]

    def solve(self, inst: LedgerInstance, state: LedgerState, step: Step) -> int:
        return state.total + inst.row(step)[1]

    def apply(self, inst: LedgerInstance, state: LedgerState, step: Step, answer: int) -> LedgerState:
        return LedgerState(answer, state.done + 1)

    def _expected(self, inst: LedgerInstance) -> int:
        return sum(inst.table[r][1] for r in inst.order)

    def is_goal(self, inst: LedgerInstance, state: LedgerState) -> bool:
        return state.done == inst.params.steps and state.total == self._expected(inst)

    def corrupt(self, inst, state: LedgerState, step: Step, answer: int, rng: random.Random) -> int:
        # The slips the task invites: not adding, subtracting instead, an off-by-one or off-by-ten.
        value = inst.row(step)[1]
        cands = {state.total, state.total - value, answer + 1, answer - 1, answer + 10, answer - 10}
        return rng.choice(sorted(c for c in cands if c != answer))

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: LedgerInstance) -> str:
        return (
            "You keep a running total that starts at 0. A table gives each key a whole-number value. "
            "Each step names one key: add that key's value to the running total and answer with the "
            "new running total only (a whole number, with a minus sign if negative)."
        )

    def show_initial(self, inst: LedgerInstance) -> str:
        rows = "\n".join(f"{k} = {v}" for k, v in inst.table)
        return f"Table ({len(inst.table)} keys):\n{rows}\nRunning total: 0"

    def oneshot_format(self, inst: LedgerInstance) -> str:
        keys = ", ".join(inst.table[r][0] for r in inst.order)
        return (
            f"The {len(inst.order)} steps name these keys, in order: {keys}.\n"
            "Write the running total after every step, one line per step, as `step N: ` followed by the "
            "total, and nothing else."
        )

    def window(self, inst: LedgerInstance, state: LedgerState, step: Step) -> str:
        key, value = inst.row(step)
        return f"Running total: {state.total}. Table row: {key} = {value}."

    def step_prompt(self, inst: LedgerInstance, step: Step, window: str | None) -> str:
        key = inst.row(step)[0]
        if window is None:
            return f"Step {step.index + 1}: the key is {key}. What is the running total now? Answer with the number only."
        return f"Step {step.index + 1}: the key is {key}. {window} What is the new running total? Answer with the number only."

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> int:
        return _int_text(text)

    def format_answer(self, answer: int) -> str:
        return str(answer)

    def parse_trajectory(self, inst: LedgerInstance, text: str) -> list[int]:
        return parse_lines(
            text, lambda line: _int_text(line.rpartition(":")[2] if ":" in line else line), "totals",
            limit=inst.params.steps,
        )

    def format_trajectory(self, inst: LedgerInstance, answers: Sequence[int]) -> str:
        return "\n".join(f"step {t + 1}: {a}" for t, a in enumerate(answers))

    def initial_json(self, inst: LedgerInstance) -> dict:
        return {"table": dict(inst.table), "keys": [inst.table[r][0] for r in inst.order]}

    def expected_json(self, inst: LedgerInstance) -> int:
        return self._expected(inst)

    def result_json(self, inst: LedgerInstance, state: LedgerState, answers: Sequence[int]) -> int:
        return state.total
