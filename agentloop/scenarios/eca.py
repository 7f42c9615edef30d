"""Elementary cellular automata (Wolfram's rules 0–255) on a ring of cells.

Atomic step: one cell of one generation. Its context is the cell's three-cell neighbourhood,
read from the tape, plus the rule written out as a table.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pydantic import Field

from agentloop.errors import ParseError
from agentloop.scenarios._base import Params, Scenario, bits, parse_bit, parse_bit_rows
from agentloop.types import Step

Row = tuple[int, ...]


class EcaParams(Params):
    rule: int = Field(default=110, ge=0, le=255, description="Wolfram rule number")
    width: int = Field(default=16, ge=3, le=1024, description="cells in the ring")
    steps: int = Field(default=4, ge=1, le=1000, description="generations to compute")


@dataclass(frozen=True)
class EcaInstance:
    params: EcaParams
    seed: int
    initial: Row


class EcaState(NamedTuple):
    rows: tuple[Row, ...]  # committed generations, generation 0 first
    partial: Row  # cells of the generation being written


def next_cell(rule: int, left: int, centre: int, right: int) -> int:
    return (rule >> (left << 2 | centre << 1 | right)) & 1


def next_row(rule: int, row: Sequence[int]) -> Row:
    """One generation of the simulator, wrap-around boundary. Pure."""
    w = len(row)
    return tuple(next_cell(rule, row[i - 1], row[i], row[(i + 1) % w]) for i in range(w))


def rule_table(rule: int) -> str:
    return "\n".join(f"{p:03b} -> {next_cell(rule, p >> 2, p >> 1 & 1, p & 1)}" for p in range(7, -1, -1))


class Eca(Scenario[EcaInstance, EcaState, int]):
    name = "eca"
    summary = "elementary cellular automaton: one cell of one generation per step (wrap-around)"
    Params = EcaParams
    max_answer_chars = 16

    def generate(self, params: EcaParams, seed: int) -> EcaInstance:
        rng = random.Random(seed)
        return EcaInstance(params, seed, tuple(rng.randint(0, 1) for _ in range(params.width)))

    def initial_state(self, inst: EcaInstance) -> EcaState:
        return EcaState((inst.initial,), ())

    def steps(self, inst: EcaInstance) -> list[Step]:
        w = inst.params.width
        return [
            Step(g * w + c, (g + 1, c), f"generation {g + 1}, cell {c}")
            for g in range(inst.params.steps)
            for c in range(w)
        ]

    def _neighbourhood(self, state: EcaState, cell: int) -> tuple[int, int, int]:
        prev = state.rows[-1]
        return prev[cell - 1], prev[cell], prev[(cell + 1) % len(prev)]

    def solve(self, inst: EcaInstance, state: EcaState, step: Step) -> int:
        return next_cell(inst.params.rule, *self._neighbourhood(state, step.key[1]))

    def apply(self, inst: EcaInstance, state: EcaState, step: Step, answer: int) -> EcaState:
        partial = state.partial + (answer,)
        if len(partial) == inst.params.width:
            return EcaState(state.rows + (partial,), ())
        return EcaState(state.rows, partial)

    def is_goal(self, inst: EcaInstance, state: EcaState) -> bool:
        return not state.partial and state.rows[-1] == self._expected(inst)

    def corrupt(self, inst, state, step, answer: int, rng: random.Random) -> int:
        return 1 - answer

    def _expected(self, inst: EcaInstance) -> Row:
        row = inst.initial
        for _ in range(inst.params.steps):
            row = next_row(inst.params.rule, row)
        return row

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: EcaInstance) -> str:
        return (
            f"Elementary cellular automaton, rule {inst.params.rule}, on a ring of {inst.params.width} cells "
            "(the first and last cells are neighbours). Each cell's new value depends on three cells of "
            "the previous generation: its left neighbour, itself and its right neighbour.\n"
            "Rule table (left cell right -> new cell):\n" + rule_table(inst.params.rule)
        )

    def show_initial(self, inst: EcaInstance) -> str:
        return f"generation 0: {bits(inst.initial)}"

    def oneshot_format(self, inst: EcaInstance) -> str:
        return (
            f"Write generations 1 to {inst.params.steps}, one line each, as "
            f"`generation N: ` followed by {inst.params.width} digits (0 or 1), and nothing else."
        )

    def window(self, inst: EcaInstance, state: EcaState, step: Step) -> str:
        return bits(self._neighbourhood(state, step.key[1]))

    def step_prompt(self, inst: EcaInstance, step: Step, window: str | None) -> str:
        if window is None:
            return f"{step.label}: what is its new value? Answer with 0 or 1 only."
        return f"{step.label}. Neighbourhood (left cell right): {window}. New cell? Answer with 0 or 1 only."

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> int:
        return parse_bit(text)

    def format_answer(self, answer: int) -> str:
        return str(answer)

    def parse_trajectory(self, inst: EcaInstance, text: str) -> list[int]:
        rows = parse_bit_rows(text, inst.params.width, limit=inst.params.steps)
        if not rows:
            raise ParseError("no rows of 0/1 digits found")
        return [b for row in rows for b in row]

    def format_trajectory(self, inst: EcaInstance, answers: Sequence[int]) -> str:
        w = inst.params.width
        return "\n".join(
            f"generation {g + 1}: {bits(answers[g * w:(g + 1) * w])}" for g in range((len(answers) + w - 1) // w)
        )

    def initial_json(self, inst: EcaInstance) -> list[int]:
        return list(inst.initial)

    def expected_json(self, inst: EcaInstance) -> list[int]:
        return list(self._expected(inst))

    def result_json(self, inst: EcaInstance, state: EcaState, answers) -> list[int]:
        return list(state.rows[-1])
