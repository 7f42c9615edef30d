"""Crosswords: answer the clues of a small crossing grid, one word per step (a puzzle the essay names).

The clues are agentloop's own (`data/crossword-clues.tsv`, 114 common words of 3 to 7 letters,
written for this project; nothing is downloaded). The generator draws the words with the seed
and lays them out as a crossword: the first across, each next one crossing a word already
placed at a shared letter, never touching another word side by side. The steps follow the
order of placement, so every word after the first crosses an earlier one: with a tape, the
window shows the letters the earlier answers put in its squares.

One clue has one answer here (the word the grid was built from), so the checker is the
simulator: an answer of the wrong length, or one that contradicts a letter already in the grid,
is `illegal` (never written); another word that fits is `wrong`. A wrong word written into the
grid puts wrong letters in the way of the words that cross it: the error propagates.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

from pydantic import Field

from agentloop.errors import AgentloopError
from agentloop.scenarios._base import Params, Scenario, parse_lines
from agentloop.scenarios._words import parse_word
from agentloop.types import Step, Verdict

Answers = tuple[str, ...]  # the words written so far, in step order
_TRIES = 200  # layouts tried per instance before giving up (a handful suffice in practice)


@lru_cache(maxsize=1)
def clues() -> dict[str, str]:
    """word -> clue, from the package's own list."""
    out: dict[str, str] = {}
    for line in (files("agentloop.scenarios") / "data" / "crossword-clues.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            word, clue = line.split("\t", 1)
            out[word] = clue.strip()
    return out


class CrosswordParams(Params):
    words: int = Field(default=5, ge=2, le=8, description="words in the grid (each crossing an earlier one)")


@dataclass(frozen=True)
class Entry:
    word: str
    row: int
    col: int
    across: bool
    number: int  # the crossword number of its first square

    @property
    def name(self) -> str:
        return f"{self.number} {'across' if self.across else 'down'}"

    def cells(self) -> list[tuple[int, int]]:
        return [(self.row, self.col + i) if self.across else (self.row + i, self.col) for i in range(len(self.word))]


@dataclass(frozen=True)
class CrosswordInstance:
    params: CrosswordParams
    seed: int
    entries: tuple[Entry, ...]  # in step order (the order of placement)
    rows: int
    cols: int


def _fits(grid: dict[tuple[int, int], str], runs: set[tuple[int, int, bool]], word: str, r: int, c: int, across: bool) -> bool:
    """Whether `word` can go at (r, c): every square empty or holding its letter of a word in the
    other direction (`runs`: the squares each direction uses), at least one crossing, the squares
    before and after it empty, and no new letter beside another word."""
    dr, dc = (0, 1) if across else (1, 0)
    if (r - dr, c - dc) in grid or (r + dr * len(word), c + dc * len(word)) in grid:
        return False
    crossings = 0
    for i, ch in enumerate(word):
        cell = (r + dr * i, c + dc * i)
        have = grid.get(cell)
        if have is not None:
            if have != ch or (*cell, across) in runs:
                return False
            crossings += 1
            continue
        side = [(cell[0] + dc, cell[1] + dr), (cell[0] - dc, cell[1] - dr)]  # perpendicular neighbours
        if any(s in grid for s in side):
            return False
    return crossings > 0


def _layout(pool: list[str], n: int, rng: random.Random) -> list[tuple[str, int, int, bool]] | None:
    grid: dict[tuple[int, int], str] = {}
    runs: set[tuple[int, int, bool]] = set()
    placed: list[tuple[str, int, int, bool]] = []

    def put(word: str, r: int, c: int, across: bool) -> None:
        for i, ch in enumerate(word):
            cell = (r, c + i) if across else (r + i, c)
            grid[cell] = ch
            runs.add((*cell, across))
        placed.append((word, r, c, across))

    put(pool[0], 0, 0, True)
    for word in pool[1:]:
        if len(placed) == n:
            break
        options = []
        for other, r0, c0, across0 in placed:
            for i, ch in enumerate(other):
                for j, wch in enumerate(word):
                    if ch != wch:
                        continue
                    r, c = (r0 - j, c0 + i) if across0 else (r0 + i, c0 - j)
                    if _fits(grid, runs, word, r, c, not across0):
                        options.append((r, c, not across0))
        if options:
            put(word, *rng.choice(sorted(options)))
    return placed if len(placed) == n else None


def _number(placed: list[tuple[str, int, int, bool]]) -> tuple[tuple[Entry, ...], int, int]:
    """Shift the layout to (0, 0) and number the starting squares row by row, as crosswords do."""
    r0 = min(r for _, r, _, _ in placed)
    c0 = min(c for _, _, c, _ in placed)
    starts = sorted({(r - r0, c - c0) for _, r, c, _ in placed})
    number = {cell: i + 1 for i, cell in enumerate(starts)}
    entries = tuple(Entry(w, r - r0, c - c0, a, number[(r - r0, c - c0)]) for w, r, c, a in placed)
    rows = max(e.row + (1 if e.across else len(e.word)) for e in entries)
    cols = max(e.col + (len(e.word) if e.across else 1) for e in entries)
    return entries, rows, cols


class Crossword(Scenario[CrosswordInstance, Answers, str]):
    name = "crossword"
    summary = "a small crossword from agentloop's own clues, one word per step; crossing letters on the tape"
    Params = CrosswordParams
    checker = "simulator"
    max_answer_chars = 32

    def generate(self, params: CrosswordParams, seed: int) -> CrosswordInstance:
        rng = random.Random(f"crossword:{params.words}:{seed}")
        words = sorted(clues())
        for _ in range(_TRIES):
            rng.shuffle(words)
            placed = _layout(words, params.words, rng)
            if placed is not None:
                entries, rows, cols = _number(placed)
                return CrosswordInstance(params, seed, entries, rows, cols)
        raise AgentloopError(f"crossword: no layout of {params.words} words for seed {seed}; try another seed")

    def initial_state(self, inst: CrosswordInstance) -> Answers:
        return ()

    def steps(self, inst: CrosswordInstance) -> list[Step]:
        return [Step(i, (e.number, int(e.across)), e.name) for i, e in enumerate(inst.entries)]

    def solve(self, inst: CrosswordInstance, state: Answers, step: Step) -> str:
        return inst.entries[step.index].word

    def letters(self, inst: CrosswordInstance, state: Answers) -> dict[tuple[int, int], str]:
        """The grid's letters after the answers written so far."""
        grid: dict[tuple[int, int], str] = {}
        for entry, word in zip(inst.entries, state):
            grid.update(zip(entry.cells(), word))
        return grid

    def squares(self, inst: CrosswordInstance, state: Answers, entry: Entry) -> list[str | None]:
        """What the squares of `entry` hold after the answers so far (None: empty)."""
        grid = self.letters(inst, state)
        return [grid.get(cell) for cell in entry.cells()]

    def illegal(self, inst: CrosswordInstance, state: Answers, step: Step, answer: str) -> str | None:
        entry = inst.entries[step.index]
        if len(answer) != len(entry.word):
            return f"{answer!r} has {len(answer)} letters; {entry.name} has {len(entry.word)} squares"
        for i, have in enumerate(self.squares(inst, state, entry)):
            if have is not None and have != answer[i]:
                return f"{answer!r} puts {answer[i]!r} in square {i + 1}, which already holds {have!r} from a crossing word"
        return None

    def check(self, inst: CrosswordInstance, state: Answers, step: Step, answer: str) -> Verdict:
        why = self.illegal(inst, state, step, answer)
        if why is not None:
            return Verdict.reject("illegal", why, observed=answer)
        right = inst.entries[step.index].word
        if answer != right:
            return Verdict.reject("wrong", f"{answer!r} fits but is not the answer to {step.label}", expected=right, observed=answer)
        return Verdict.accept(answer)

    def apply(self, inst: CrosswordInstance, state: Answers, step: Step, answer: str) -> Answers:
        return state + (answer,)

    def corrupt(self, inst: CrosswordInstance, state: Answers, step: Step, answer: str, rng: random.Random) -> str:
        """Another word of the list that fits the squares (the likely slip: `wrong`), else the
        answer with one letter changed."""
        have = self.squares(inst, state, inst.entries[step.index])
        fits = [w for w in sorted(clues()) if w != answer and len(w) == len(have)
                and all(h is None or h == ch for h, ch in zip(have, w))]
        if fits:
            return rng.choice(fits)
        i = rng.randrange(len(answer))
        return answer[:i] + rng.choice([ch for ch in "abcdefghijklmnopqrstuvwxyz" if ch != answer[i]]) + answer[i + 1 :]

    # --- prompts ----------------------------------------------------------------------------
    def grid_text(self, inst: CrosswordInstance, state: Answers) -> str:
        """The grid: a letter, `_` for an empty square of a word, `#` for no square."""
        letters = self.letters(inst, state)
        squares = {cell for e in inst.entries for cell in e.cells()}
        return "\n".join(
            " ".join(letters.get((r, c), "_") if (r, c) in squares else "#" for c in range(inst.cols))
            for r in range(inst.rows)
        )

    def _clue(self, entry: Entry) -> str:
        return f"{entry.name} ({len(entry.word)} letters, starting at row {entry.row + 1}, column {entry.col + 1}): {clues()[entry.word]}"

    def rules(self, inst: CrosswordInstance) -> str:
        return (
            "Solve a small crossword. Each clue's answer is one common English word, written in the grid "
            "across (left to right) or down (top to bottom) from its numbered square; where two words cross "
            "they share a letter. You answer one clue per step, in the order asked."
        )

    def show_initial(self, inst: CrosswordInstance) -> str:
        listed = "\n".join(self._clue(e) for e in inst.entries)
        return f"The grid (rows top to bottom, `_` a square to fill, `#` no square):\n{self.grid_text(inst, ())}\n\nClues:\n{listed}"

    def oneshot_format(self, inst: CrosswordInstance) -> str:
        order = ", ".join(e.name for e in inst.entries)
        return f"Write the {len(inst.entries)} answers, one word per line in this order: {order}; nothing else."

    def window(self, inst: CrosswordInstance, state: Answers, step: Step) -> str:
        entry = inst.entries[step.index]
        pattern = " ".join(h or "_" for h in self.squares(inst, state, entry))
        return f"The grid so far:\n{self.grid_text(inst, state)}\nThe squares of {entry.name} now read: {pattern}"

    def step_prompt(self, inst: CrosswordInstance, step: Step, window: str | None) -> str:
        entry = inst.entries[step.index]
        ask = f"Clue {self._clue(entry)}\nAnswer with the {len(entry.word)}-letter word only."
        return ask if window is None else f"{window}\n{ask}"

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> str:
        return parse_word(text)

    def format_answer(self, answer: str) -> str:
        return answer

    def parse_trajectory(self, inst: CrosswordInstance, text: str) -> list[str]:
        return parse_lines(text, parse_word, "answers", limit=len(inst.entries))

    def format_trajectory(self, inst: CrosswordInstance, answers: Sequence[str]) -> str:
        return "\n".join(answers)

    def initial_json(self, inst: CrosswordInstance) -> dict:
        return {
            "grid": self.grid_text(inst, ()).splitlines(),
            "clues": [{"name": e.name, "row": e.row, "col": e.col, "length": len(e.word), "clue": clues()[e.word]} for e in inst.entries],
        }

    def expected_json(self, inst: CrosswordInstance) -> list[str]:
        return [e.word for e in inst.entries]

    def result_json(self, inst: CrosswordInstance, state: Answers, answers: Sequence[str]) -> list[str]:
        return list(state)
