"""Conway's Game of Life on a bounded board: cells beyond the edge are dead, or (parameter
`topology=torus`, as reasoning-gym's game_of_life plays it) the board wraps around.

Atomic step: one cell of one generation. Its context is the cell's 3×3 neighbourhood, read
from the tape, plus the rules. With the parameter `granularity` a call does more: `row`, one row
of a generation (its context: that row and the rows around it), or `board`, a whole generation
(its context: the previous board); such an answer is a tuple of rows, wrong when any cell is.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from agentloop.errors import ParseError
from agentloop.scenarios._base import Params, Scenario, bits, parse_bit, parse_bit_rows
from agentloop.scenarios._granularity import bundle_verdict, omit_default, whole_calls
from agentloop.scenarios.eca import parse_rows
from agentloop.types import Step

Board = tuple[tuple[int, ...], ...]


class LifeParams(Params):
    rows: int = Field(default=6, ge=3, le=64, description="board height")
    cols: int = Field(default=6, ge=3, le=64, description="board width")
    steps: int = Field(default=1, ge=1, le=200, description="generations to compute")
    density: float = Field(default=0.35, gt=0, lt=1, description="share of live cells at the start")
    topology: Literal["dead", "torus"] = Field(
        default="dead", description="dead: cells beyond the edge are dead; torus: the board wraps around"
    )
    granularity: Literal["cell", "row", "board"] = Field(
        default="cell", description="what one call answers: cell, row (one row of a generation) or board (a generation)"
    )

    @model_serializer(mode="wrap")
    def _omit_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Defaults of later parameters are left out of the dump, so records and episode keys of
        # runs that do not set them stay what they were before the parameters existed (stored
        # experiments resume as they are).
        out = omit_default(handler, self, "cell")
        if out.get("topology") == "dead":
            del out["topology"]
        return out


@dataclass(frozen=True)
class LifeInstance:
    params: LifeParams
    seed: int
    initial: Board


class LifeState(NamedTuple):
    boards: tuple[Board, ...]  # committed generations
    partial: tuple[int, ...]  # cells of the generation being written, row-major


def live_neighbours(board: Board, r: int, c: int, torus: bool = False) -> int:
    n_rows, n_cols = len(board), len(board[0])
    if torus:  # the 8 neighbours modulo the board's size (on a 3-wide board some coincide, as on any torus)
        return sum(
            board[(r + dr) % n_rows][(c + dc) % n_cols] for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc
        )
    return sum(
        board[rr][cc]
        for rr in range(max(r - 1, 0), min(r + 2, n_rows))
        for cc in range(max(c - 1, 0), min(c + 2, n_cols))
        if (rr, cc) != (r, c)
    )


def next_cell(board: Board, r: int, c: int, torus: bool = False) -> int:
    n = live_neighbours(board, r, c, torus)
    return int(n == 3 or (n == 2 and board[r][c] == 1))


def next_board(board: Board, torus: bool = False) -> Board:
    """One generation of the simulator: dead boundary, or wrapping around with `torus`. Pure."""
    return tuple(tuple(next_cell(board, r, c, torus) for c in range(len(board[0]))) for r in range(len(board)))


def _torus(inst: LifeInstance) -> bool:
    return inst.params.topology == "torus"


class Life(Scenario[LifeInstance, LifeState, int]):
    name = "life"
    summary = "Conway's Game of Life: one cell of one generation per step (dead boundary)"
    Params = LifeParams
    max_answer_chars = 16

    def generate(self, params: LifeParams, seed: int) -> LifeInstance:
        rng = random.Random(seed)
        board = tuple(
            tuple(int(rng.random() < params.density) for _ in range(params.cols)) for _ in range(params.rows)
        )
        return LifeInstance(params, seed, board)

    def initial_state(self, inst: LifeInstance) -> LifeState:
        return LifeState((inst.initial,), ())

    def steps(self, inst: LifeInstance) -> list[Step]:
        p = inst.params
        # Steps of whole rows have the key (generation, first row, columns, rows in the call).
        if p.granularity == "row":
            return [
                Step(g * p.rows + r, (g + 1, r, p.cols, 1), f"generation {g + 1}, row {r}")
                for g in range(p.steps)
                for r in range(p.rows)
            ]
        if p.granularity == "board":
            return [Step(g, (g + 1, 0, p.cols, p.rows), f"generation {g + 1}") for g in range(p.steps)]
        cells = p.rows * p.cols
        return [
            Step(g * cells + r * p.cols + c, (g + 1, r, c), f"generation {g + 1}, row {r}, column {c}")
            for g in range(p.steps)
            for r in range(p.rows)
            for c in range(p.cols)
        ]

    def solve(self, inst: LifeInstance, state: LifeState, step: Step) -> Any:
        if len(step.key) == 4:
            _, first, cols, n = step.key
            board = state.boards[-1]
            return tuple(
                tuple(next_cell(board, r, c, _torus(inst)) for c in range(cols)) for r in range(first, first + n)
            )
        _, r, c = step.key
        return next_cell(state.boards[-1], r, c, _torus(inst))

    def check(self, inst: LifeInstance, state: LifeState, step: Step, answer: Any):
        if len(step.key) != 4:
            return super().check(inst, state, step, answer)
        return bundle_verdict(self, inst, step, answer, self.solve(inst, state, step), "cells")

    def apply(self, inst: LifeInstance, state: LifeState, step: Step, answer: Any) -> LifeState:
        partial = state.partial + tuple(self.atoms(inst, step, answer))
        cols = inst.params.cols
        if len(partial) == inst.params.rows * cols:
            board = tuple(partial[i:i + cols] for i in range(0, len(partial), cols))
            return LifeState(state.boards + (board,), ())
        return LifeState(state.boards, partial)

    def is_goal(self, inst: LifeInstance, state: LifeState) -> bool:
        return not state.partial and state.boards[-1] == self._expected(inst)

    def corrupt(self, inst, state, step, answer: Any, rng: random.Random) -> Any:
        if len(step.key) != 4:
            return 1 - answer
        cells = list(self.atoms(inst, step, answer))
        i = rng.randrange(len(cells))
        cells[i] = 1 - cells[i]
        return self.join_atoms(inst, step, cells)

    # --- steps of whole rows: atoms are the cells, row by row --------------------------------------
    def atoms(self, inst: LifeInstance, step: Step, answer: Any) -> Sequence[Any]:
        return tuple(b for row in answer for b in row) if len(step.key) == 4 else (answer,)

    def join_atoms(self, inst: LifeInstance, step: Step, atoms: Sequence[Any]) -> Any:
        if len(step.key) != 4:
            return atoms[0]
        cols = step.key[2]
        return tuple(tuple(atoms[i:i + cols]) for i in range(0, len(atoms), cols))

    def corrupt_atom(self, inst, state, step, answer: Any, i: int, rng: random.Random) -> Any:
        return 1 - self.atoms(inst, step, answer)[i]

    def answer_chars(self, inst: LifeInstance) -> int:
        p = inst.params
        rows = {"cell": 0, "row": 1, "board": p.rows}[p.granularity]
        return self.max_answer_chars if not rows else rows * (p.cols + 4) + 32

    def _expected(self, inst: LifeInstance) -> Board:
        board = inst.initial
        for _ in range(inst.params.steps):
            board = next_board(board, _torus(inst))
        return board

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: LifeInstance) -> str:
        p = inst.params
        edge = (
            "the board wraps around: the row above the top row is the bottom row, and the column left of "
            "the first column is the last column" if _torus(inst) else "cells beyond the edge are dead"
        )
        return (
            f"Conway's Game of Life on a {p.rows}x{p.cols} board; {edge}. "
            "1 is a live cell, 0 a dead one. Count the live cells among the 8 neighbours of a cell:\n"
            "- a live cell with 2 or 3 live neighbours stays alive (1), otherwise it dies (0);\n"
            "- a dead cell with exactly 3 live neighbours becomes alive (1), otherwise it stays dead (0)."
        )

    def show_initial(self, inst: LifeInstance) -> str:
        return "generation 0:\n" + "\n".join(bits(row) for row in inst.initial)

    def oneshot_format(self, inst: LifeInstance) -> str:
        p = inst.params
        return (
            f"Write generations 1 to {p.steps}: for each, a line `generation N:` then its {p.rows} rows, "
            f"one line of {p.cols} digits (0 or 1) each, and nothing else."
        )

    def window(self, inst: LifeInstance, state: LifeState, step: Step) -> str:
        board = state.boards[-1]
        n_rows, n_cols = len(board), len(board[0])
        if len(step.key) == 4:
            _, first, _, n = step.key
            if n == n_rows:
                return "\n".join(bits(row) for row in board)
            rows = range(first - 1, first + n + 1)  # the rows of the call and one on each side
            if _torus(inst):
                return "\n".join(bits(board[rr % n_rows]) for rr in rows)
            return "\n".join(bits(board[rr]) if 0 <= rr < n_rows else "0" * n_cols for rr in rows)
        _, r, c = step.key
        if _torus(inst):
            return "\n".join(
                bits(board[rr % n_rows][cc % n_cols] for cc in range(c - 1, c + 2)) for rr in range(r - 1, r + 2)
            )
        return "\n".join(
            bits(board[rr][cc] if 0 <= rr < n_rows and 0 <= cc < n_cols else 0 for cc in range(c - 1, c + 2))
            for rr in range(r - 1, r + 2)
        )

    def step_prompt(self, inst: LifeInstance, step: Step, window: str | None) -> str:
        if len(step.key) == 4:
            _, first, cols, n = step.key
            if n == inst.params.rows:
                what = f"Write the whole new generation: {n} lines of {cols} digits (0 or 1) each, and nothing else."
                shown = f"The previous generation:\n{window}\n" if window is not None else ""
            else:
                what = (
                    f"Write the new row {first}: one line of {cols} digits (0 or 1), and nothing else." if n == 1
                    else f"Write the new rows {first} to {first + n - 1} in order: one line of {cols} digits "
                    "(0 or 1) each, and nothing else."
                )
                edge = "the board wraps around" if _torus(inst) else "a row beyond the edge is shown as all dead"
                around = (f"row {first} in the middle" if n == 1 else
                          f"rows {first} to {first + n - 1} and one on each side")
                shown = (
                    f"Rows {first - 1} to {first + n} of the previous generation ({around}; {edge}):"
                    f"\n{window}\n" if window is not None else ""
                )
            return f"{step.label}. {shown}{what}"
        if window is None:
            return f"{step.label}: what is its new value? Answer with 0 or 1 only."
        return (
            f"{step.label}. Its 3x3 neighbourhood (the cell is in the centre):\n{window}\n"
            "New value of the centre cell? Answer with 0 or 1 only."
        )

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> Any:
        if len(step.key) == 4:  # (generation, first row, columns, rows): a call of whole rows
            return parse_rows(text, count=step.key[3], width=step.key[2])
        return parse_bit(text)

    def format_answer(self, answer: Any) -> str:
        if isinstance(answer, tuple):
            return "\n".join(bits(row) for row in answer)
        return str(answer)

    def parse_trajectory(self, inst: LifeInstance, text: str) -> list[Any]:
        p = inst.params
        rows = parse_bit_rows(text, p.cols, limit=p.steps * p.rows)
        if not rows:
            raise ParseError("no rows of 0/1 digits found")
        if p.granularity != "cell":  # whole calls only: a board cut short has no answer
            n = 1 if p.granularity == "row" else p.rows
            return whole_calls([tuple(tuple(r) for r in rows[i:i + n]) for i in range(0, len(rows) - n + 1, n)])
        return [b for row in rows for b in row]

    def format_trajectory(self, inst: LifeInstance, answers: Sequence[Any]) -> str:
        p = inst.params
        if p.granularity != "cell":
            answers = [b for a in answers for row in a for b in row]
        lines = []
        for i in range(0, len(answers), p.cols):
            if i % (p.rows * p.cols) == 0:
                lines.append(f"generation {i // (p.rows * p.cols) + 1}:")
            lines.append(bits(answers[i:i + p.cols]))
        return "\n".join(lines)

    def initial_json(self, inst: LifeInstance) -> list[list[int]]:
        return [list(row) for row in inst.initial]

    def expected_json(self, inst: LifeInstance) -> list[list[int]]:
        return [list(row) for row in self._expected(inst)]

    def result_json(self, inst: LifeInstance, state: LifeState, answers) -> list[list[int]]:
        return [list(row) for row in state.boards[-1]]
