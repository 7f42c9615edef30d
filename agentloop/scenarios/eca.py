"""Elementary cellular automata (Wolfram's rules 0–255) on a ring of cells.

Atomic step: one cell of one generation. Its context is the cell's three-cell neighbourhood,
read from the tape, plus the rule written out as a table. With the parameter `granularity` a
call does more: `row`, a whole generation (its context: the previous generation), or `rows:K`,
K generations; such an answer is a tuple of rows, and wrong when any cell is.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from pydantic import Field

from agentloop.errors import ParseError
from agentloop.scenarios._base import Scenario, bits, parse_bit, parse_bit_rows
from agentloop.scenarios._granularity import (
    ChunkedParams, bundle_verdict, chunks, per_call, whole_calls,
)
from agentloop.types import Step

Row = tuple[int, ...]


class EcaParams(ChunkedParams):
    rule: int = Field(default=110, ge=0, le=255, description="Wolfram rule number")
    width: int = Field(default=16, ge=3, le=1024, description="cells in the ring")
    steps: int = Field(default=4, ge=1, le=1000, description="generations to compute")
    granularity: str = Field(
        default="cell",
        description="what one call answers: cell, row (one generation) or rows:K (K generations)",
        json_schema_extra={"allowed": "cell|row|rows:K"},
    )
    granularity_kinds = ("cell", "row", "rows")

    @property
    def rows_per_call(self) -> int | None:
        """Generations per call; None for one cell per call."""
        return per_call(self.granularity, "row", "rows")  # None for `cell`


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


def parse_rows(text: str, count: int, width: int) -> tuple[Row, ...]:
    """Exactly `count` rows of `width` 0/1 digits (labels such as `generation 2:` allowed); ParseError otherwise."""
    # Only a final period needs removing before the rows are read (fences and labels hold no
    # row and are skipped); no full clean-up, which would copy a megabyte reply several times.
    text = text.rstrip()
    if text.endswith("."):
        text = text[:-1]
    rows = parse_bit_rows(text, width, limit=count + 1)
    if len(rows) != count:
        raise ParseError(f"expected {count} row{'s' if count > 1 else ''} of {width} digits, got {len(rows)}")
    return tuple(tuple(r) for r in rows)


def _rows(step: Step) -> bool:
    """A step of whole generations (key: first generation, generations, width), else one cell
    (key: generation, cell). The step says which, so one episode may mix them (planner=llm)."""
    return len(step.key) == 3


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
        w, k = inst.params.width, inst.params.rows_per_call
        if k is not None:  # key: (first generation, generations in the call, width)
            return [
                Step(i, (g + 1, n, w), f"generation {g + 1}" if n == 1 else f"generations {g + 1} to {g + n}")
                for i, (g, n) in enumerate(chunks(inst.params.steps, k))
            ]
        return [
            Step(g * w + c, (g + 1, c), f"generation {g + 1}, cell {c}")
            for g in range(inst.params.steps)
            for c in range(w)
        ]

    def _neighbourhood(self, state: EcaState, cell: int) -> tuple[int, int, int]:
        prev = state.rows[-1]
        return prev[cell - 1], prev[cell], prev[(cell + 1) % len(prev)]

    def solve(self, inst: EcaInstance, state: EcaState, step: Step) -> Any:
        if _rows(step):
            out, row = [], state.rows[-1]
            for _ in range(step.key[1]):
                row = next_row(inst.params.rule, row)
                out.append(row)
            return tuple(out)
        return next_cell(inst.params.rule, *self._neighbourhood(state, step.key[1]))

    def check(self, inst: EcaInstance, state: EcaState, step: Step, answer: Any):
        if not _rows(step):
            return super().check(inst, state, step, answer)
        return bundle_verdict(self, inst, step, answer, self.solve(inst, state, step), "cells")

    def apply(self, inst: EcaInstance, state: EcaState, step: Step, answer: Any) -> EcaState:
        if _rows(step):
            return EcaState(state.rows + tuple(answer), ())
        partial = state.partial + (answer,)
        if len(partial) == inst.params.width:
            return EcaState(state.rows + (partial,), ())
        return EcaState(state.rows, partial)

    def is_goal(self, inst: EcaInstance, state: EcaState) -> bool:
        return not state.partial and state.rows[-1] == self._expected(inst)

    def corrupt(self, inst, state, step, answer: Any, rng: random.Random) -> Any:
        if not _rows(step):
            return 1 - answer
        cells = self.atoms(inst, step, answer)
        return self.join_atoms(inst, step, self._flip(cells, rng.randrange(len(cells))))

    # --- steps of whole generations: atoms are the cells, generation by generation ---------------
    def atoms(self, inst: EcaInstance, step: Step, answer: Any) -> Sequence[Any]:
        if not _rows(step):
            return (answer,)
        return tuple(b for row in answer for b in row)

    def join_atoms(self, inst: EcaInstance, step: Step, atoms: Sequence[Any]) -> Any:
        if not _rows(step):
            return atoms[0]
        w = inst.params.width
        return tuple(tuple(atoms[i:i + w]) for i in range(0, len(atoms), w))

    def corrupt_atom(self, inst, state, step, answer: Any, i: int, rng: random.Random) -> Any:
        if not _rows(step):
            return 1 - answer
        return 1 - self.atoms(inst, step, answer)[i]

    @staticmethod
    def _flip(cells: Sequence[int], i: int) -> tuple[int, ...]:
        return tuple(1 - b if j == i else b for j, b in enumerate(cells))

    def answer_chars(self, inst: EcaInstance) -> int:
        k = inst.params.rows_per_call
        # a row of digits per generation, each with room for a `generation N: ` label
        return self.max_answer_chars if k is None else k * (inst.params.width + 24) + 16

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
        if _rows(step):
            return f"generation {step.key[0] - 1}: {bits(state.rows[-1])}"
        return bits(self._neighbourhood(state, step.key[1]))

    def step_prompt(self, inst: EcaInstance, step: Step, window: str | None) -> str:
        if _rows(step):
            n, w = step.key[1], inst.params.width
            what = (
                f"Write the next generation: one line of {w} digits (0 or 1), and nothing else."
                if n == 1 else
                f"Write the next {n} generations in order, one line of {w} digits (0 or 1) each, and nothing else."
            )
            return f"{step.label}. {what}" if window is None else f"{step.label}. Previous {window}. {what}"
        if window is None:
            return f"{step.label}: what is its new value? Answer with 0 or 1 only."
        return f"{step.label}. Neighbourhood (left cell right): {window}. New cell? Answer with 0 or 1 only."

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> Any:
        if _rows(step):  # (first generation, generations, width): a call of whole rows
            return parse_rows(text, count=step.key[1], width=step.key[2])
        return parse_bit(text)

    def format_answer(self, answer: Any) -> str:
        if isinstance(answer, tuple):
            return "\n".join(bits(row) for row in answer)
        return str(answer)

    def parse_trajectory(self, inst: EcaInstance, text: str) -> list[Any]:
        rows = parse_bit_rows(text, inst.params.width, limit=inst.params.steps)
        if not rows:
            raise ParseError("no rows of 0/1 digits found")
        if inst.params.rows_per_call is not None:  # whole calls only: a call cut short has no answer
            return whole_calls([
                tuple(tuple(r) for r in rows[g:g + n]) for g, n in chunks(inst.params.steps, inst.params.rows_per_call)
                if g + n <= len(rows)
            ])
        return [b for row in rows for b in row]

    def format_trajectory(self, inst: EcaInstance, answers: Sequence[Any]) -> str:
        if inst.params.rows_per_call is not None:
            rows = [row for a in answers for row in a]
            return "\n".join(f"generation {g + 1}: {bits(row)}" for g, row in enumerate(rows))
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
