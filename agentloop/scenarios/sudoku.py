"""Sudoku, 4×4 and 9×9, with a unique solution that the generator proves.

The generator fills a random grid, then empties cells in a random order, keeping each removal
only while a solution counter (which stops at 2) still finds exactly one solution; so every
instance has one answer and difficulty is set by the number of givens. Atomic step: one cell.
The planner orders the cells most-constrained first (fewest candidates on the correctly filled
grid, ties in reading order), as a person would. Checker: the simulator, since the answer is
unique; a digit that breaks a row, column or box is `illegal`, any other wrong digit `wrong`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

from pydantic import Field, field_validator

from agentloop.errors import AgentloopError, ParseError
from agentloop.scenarios._base import Params, Scenario, lines_with, strip_reply
from agentloop.types import Step

Grid = tuple[int, ...]  # row-major, 0 for an empty cell

_DEFAULT_GIVENS = {4: 8, 9: 30}
# Fewest givens the generator offers. 4 is the least any unique 4x4 puzzle has; for 9x9 it is 17
# (McGuire et al. 2012), but random removal almost never gets below about 21, so 22 is the floor.
_MIN_GIVENS = {4: 4, 9: 22}
_TRIES = 60  # removal orders tried before giving up on a low number of givens
_CELL = re.compile(r"[0-9.]")  # a written cell: an ASCII digit, or a dot for an empty one


class SudokuParams(Params):
    size: int = Field(default=4, description="4 (2x2 boxes) or 9 (3x3 boxes)", json_schema_extra={"enum": [4, 9]})
    givens: int = Field(
        default=0, ge=0, le=80, description="cells given; fewer is harder (0: 8 for 4x4, 30 for 9x9)"
    )

    @field_validator("size")
    @classmethod
    def _size(cls, v: int) -> int:
        if v not in (4, 9):
            raise ValueError("must be 4 or 9")
        return v


@dataclass(frozen=True)
class SudokuInstance:
    params: SudokuParams
    seed: int
    puzzle: Grid
    solution: Grid
    order: tuple[int, ...]  # the empty cells in step order

    @property
    def n(self) -> int:
        return self.params.size


def _box(n: int) -> int:
    return 2 if n == 4 else 3


@lru_cache(maxsize=None)
def _units(n: int) -> tuple[tuple[int, ...], ...]:
    """For each cell, the other cells that share its row, column or box."""
    b = _box(n)
    peers = []
    for cell in range(n * n):
        r, c = divmod(cell, n)
        br, bc = r - r % b, c - c % b
        group = {r * n + j for j in range(n)} | {i * n + c for i in range(n)}
        group |= {(br + i) * n + bc + j for i in range(b) for j in range(b)}
        group.discard(cell)
        peers.append(tuple(sorted(group)))
    return tuple(peers)


def candidates(grid: Grid, n: int, cell: int) -> list[int]:
    """Digits that no peer of `cell` holds."""
    used = {grid[p] for p in _units(n)[cell]}
    return [d for d in range(1, n + 1) if d not in used]


def count_solutions(grid: Grid, n: int, limit: int = 2, rng: random.Random | None = None) -> tuple[int, Grid | None]:
    """(number of solutions up to `limit`, the first one found); backtracking, fewest candidates first."""
    peers = _units(n)
    cells = list(grid)
    found: list[Grid] = []

    def go() -> bool:  # True: stop (limit reached)
        best, best_opts = -1, None
        for i, v in enumerate(cells):
            if v == 0:
                used = {cells[p] for p in peers[i]}
                opts = [d for d in range(1, n + 1) if d not in used]
                if best_opts is None or len(opts) < len(best_opts):
                    best, best_opts = i, opts
                    if len(opts) <= 1:
                        break
        if best_opts is None:
            found.append(tuple(cells))
            return len(found) >= limit
        if rng is not None:
            rng.shuffle(best_opts)
        for d in best_opts:
            cells[best] = d
            if go():
                return True
        cells[best] = 0
        return False

    go()
    return len(found), (found[0] if found else None)


def _plan(puzzle: Grid, solution: Grid, n: int) -> tuple[int, ...]:
    """Empty cells, most constrained first, filling each correctly before choosing the next."""
    grid, order = list(puzzle), []
    empty = {i for i, v in enumerate(puzzle) if v == 0}
    while empty:
        now = tuple(grid)
        cell = min(empty, key=lambda i: (len(candidates(now, n, i)), i))
        order.append(cell)
        grid[cell] = solution[cell]
        empty.discard(cell)
    return tuple(order)


def _fmt_grid(grid: Grid, n: int, spaced: bool = True) -> str:
    b = _box(n)
    lines = []
    for r in range(n):
        cells = [str(v) if v else "." for v in grid[r * n : (r + 1) * n]]
        if spaced:
            lines.append(" | ".join(" ".join(cells[j : j + b]) for j in range(0, n, b)))
        else:
            lines.append("".join(cells))
    return "\n".join(lines)


def _label(n: int, cell: int) -> str:
    r, c = divmod(cell, n)
    return f"row {r + 1}, column {c + 1}"


# --- the rules of a filled cell, one function each; `illegal` reports the first one broken ------
def _not_a_digit(n: int, grid: Grid, cell: int, answer: int) -> str | None:
    return None if 1 <= answer <= n else f"{answer} is not a digit from 1 to {n}"


def _filled(n: int, grid: Grid, cell: int, answer: int) -> str | None:
    return f"{_label(n, cell)} is already filled" if grid[cell] != 0 else None


# In the three unit rules, `answer and`: 0 marks an empty cell, so 0 is in no unit (it breaks
# only the first rule).
def _in_row(n: int, grid: Grid, cell: int, answer: int) -> str | None:
    r = cell // n
    return f"{answer} is already in row {r + 1}" if answer and answer in grid[r * n : (r + 1) * n] else None


def _in_column(n: int, grid: Grid, cell: int, answer: int) -> str | None:
    c = cell % n
    return f"{answer} is already in column {c + 1}" if answer and answer in grid[c::n] else None


def _in_box(n: int, grid: Grid, cell: int, answer: int) -> str | None:
    b, (r, c) = _box(n), divmod(cell, n)
    br, bc = r - r % b, c - c % b
    if answer and any(grid[(br + i) * n + bc + j] == answer for i in range(b) for j in range(b)):
        return f"{answer} is already in the box of {_label(n, cell)}"
    return None


RULES: tuple[Callable[[int, Grid, int, int], str | None], ...] = (_not_a_digit, _filled, _in_row, _in_column, _in_box)


def _parse_digit(text: str) -> int:
    t = strip_reply(text)
    if ":" in t or "=" in t:
        t = t.replace("=", ":").rpartition(":")[2].strip()
    if len(t) == 1 and t in "0123456789":  # ASCII only: '²'.isdigit() is true, int('²') fails
        return int(t)
    raise ParseError(f"expected a single digit, got {text[:40]!r}")


def _grid_rows(text: str, n: int) -> list[list[int]]:
    """The rows of a written grid: lines with n cells (ASCII digits or dots; 0 and . are empty),
    an optional `label:` prefix; lines without any cell are skipped (a few more than the grid's
    rows when their cells are all in the label, as in `parse_bit_rows`). ParseError otherwise."""
    rows: list[list[int]] = []
    for line in lines_with(_CELL, text, at_most=2 * n + 8):
        body = line.rpartition(":")[2] if ":" in line else line
        # Not str.isdigit(): it takes '²', which int() refuses. One cell past n is enough to
        # reject the row, so a megabyte of digits is not read into a list.
        cells = [m[0] for m in islice(_CELL.finditer(body), n + 1)]
        if not cells:
            continue
        if len(cells) != n:
            got = f"more than {n}" if len(cells) > n else str(len(cells))
            raise ParseError(f"a grid row needs {n} cells, got {got}: {line[:40]!r}")
        if len(rows) == n:
            raise ParseError(f"the grid has more than {n} rows")
        rows.append([0 if ch == "." else int(ch) for ch in cells])
    if not rows:
        raise ParseError("no grid found")
    return rows


class Sudoku(Scenario[SudokuInstance, Grid, int]):
    name = "sudoku"
    summary = "4x4 or 9x9 Sudoku with a proven unique solution, one cell per step, most constrained first"
    Params = SudokuParams
    max_answer_chars = 24

    def generate(self, params: SudokuParams, seed: int) -> SudokuInstance:
        n = params.size
        givens = params.givens or _DEFAULT_GIVENS[n]
        if not _MIN_GIVENS[n] <= givens < n * n:
            raise AgentloopError(
                f"sudoku: givens={givens} is out of range for a {n}x{n} puzzle with a unique solution; "
                f"use {_MIN_GIVENS[n]} to {n * n - 1}"
            )
        rng = random.Random(f"sudoku:{n}:{givens}:{seed}")
        for _ in range(_TRIES):
            _, solution = count_solutions((0,) * (n * n), n, limit=1, rng=rng)
            assert solution is not None  # an empty grid always has a solution
            puzzle = list(solution)
            cells = list(range(n * n))
            rng.shuffle(cells)
            left = n * n
            for cell in cells:
                if left == givens:
                    break
                keep, puzzle[cell] = puzzle[cell], 0
                if count_solutions(tuple(puzzle), n)[0] == 1:  # uniqueness, proved by exhaustive search
                    left -= 1
                else:
                    puzzle[cell] = keep
            if left == givens:
                grid = tuple(puzzle)
                return SudokuInstance(params, seed, grid, solution, _plan(grid, solution, n))
        raise AgentloopError(
            f"sudoku: found no {n}x{n} puzzle with only {givens} givens and a unique solution "
            f"in {_TRIES} tries; use more givens"
        )

    def initial_state(self, inst: SudokuInstance) -> Grid:
        return inst.puzzle

    def steps(self, inst: SudokuInstance) -> list[Step]:
        return [Step(i, (cell,), _label(inst.n, cell)) for i, cell in enumerate(inst.order)]

    def solve(self, inst: SudokuInstance, state: Grid, step: Step) -> int:
        return inst.solution[step.key[0]]

    def illegal(self, inst: SudokuInstance, state: Grid, step: Step, answer: int) -> str | None:
        for rule in RULES:
            why = rule(inst.n, state, step.key[0], answer)
            if why is not None:
                return why
        return None

    def apply(self, inst: SudokuInstance, state: Grid, step: Step, answer: int) -> Grid:
        cell = step.key[0]
        return state[:cell] + (answer,) + state[cell + 1 :]

    def is_goal(self, inst: SudokuInstance, state: Grid) -> bool:
        return state == inst.solution

    def corrupt(self, inst: SudokuInstance, state: Grid, step: Step, answer: int, rng: random.Random) -> int:
        """Another digit, preferably one the row, column and box still allow (the likely slip)."""
        others = [d for d in range(1, inst.n + 1) if d != answer]
        legal = [d for d in others if self.illegal(inst, state, step, d) is None]
        return rng.choice(legal or others)

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: SudokuInstance) -> str:
        n, b = inst.n, _box(inst.n)
        return (
            f"Solve a {n}x{n} Sudoku: fill every empty cell (.) with a digit from 1 to {n} so that each row, "
            f"each column and each {b}x{b} box holds every digit exactly once. The puzzle has exactly one "
            "solution. You fill one cell per step; the cells are asked in order, most constrained first. "
            "Rows and columns are numbered from 1, top to bottom and left to right."
        )

    def show_initial(self, inst: SudokuInstance) -> str:
        return _fmt_grid(inst.puzzle, inst.n)

    def oneshot_format(self, inst: SudokuInstance) -> str:
        return f"Write the solved grid: {inst.n} lines of {inst.n} digits, and nothing else."

    def window(self, inst: SudokuInstance, state: Grid, step: Step) -> str:
        return f"The grid now:\n{_fmt_grid(state, inst.n)}"

    def step_prompt(self, inst: SudokuInstance, step: Step, window: str | None) -> str:
        ask = f"Which digit goes in {step.label}? Answer with the digit only."
        return ask if window is None else f"{window}\n{ask}"

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> int:
        return _parse_digit(text)

    def format_answer(self, answer: int) -> str:
        return str(answer)

    def parse_trajectory(self, inst: SudokuInstance, text: str) -> list[int]:
        """A grid (digits or dots, box separators allowed) → the digits of the planned cells.

        Only the empty cells are read; the answers stop at the first planned cell the reply
        leaves empty or does not reach.
        """
        rows = _grid_rows(text, inst.n)
        answers = []
        for cell in inst.order:
            r, c = divmod(cell, inst.n)
            if r >= len(rows) or rows[r][c] == 0:
                break
            answers.append(rows[r][c])
        return answers

    def format_trajectory(self, inst: SudokuInstance, answers: Sequence[int]) -> str:
        grid = list(inst.puzzle)
        for cell, a in zip(inst.order, answers):
            grid[cell] = a
        return _fmt_grid(tuple(grid), inst.n, spaced=False)

    def initial_json(self, inst: SudokuInstance) -> list[str]:
        return _fmt_grid(inst.puzzle, inst.n, spaced=False).splitlines()

    def expected_json(self, inst: SudokuInstance) -> list[str]:
        return _fmt_grid(inst.solution, inst.n, spaced=False).splitlines()

    def result_json(self, inst: SudokuInstance, state: Grid, answers: Sequence[int]) -> list[str]:
        return _fmt_grid(state, inst.n, spaced=False).splitlines()
