"""Word squares: an n×n grid whose rows and columns are all words (the seed's first test).

The first row is given (drawn by the seed from a square the generator has found, so every
instance has a solution); the agent writes the other rows top to bottom, one row per step.
With `symmetric` the square is a classic word square, row i equal to column i, so row i must
begin with the letters column i already has.

Many squares are right, so the checker is of kind `rules`: a row is accepted when it is a word
of the list, every column can still be continued into a word, and some completion of the whole
square still exists (a search over the word list). A square with dead columns is never on
track again. A well-formed word that the list does not know is refused by the parser, so the
loop asks again rather than ending the episode: the list's gaps are not the agent's mistakes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pydantic import Field

from agentloop.errors import AgentloopError, ParseError
from agentloop.scenarios._base import Params, Scenario
from agentloop.scenarios._words import (
    next_letters, parse_listed_word, parse_word_lines, word_set, words, wrong_length_word,
)
from agentloop.types import Step, Verdict

Rows = tuple[str, ...]  # the rows written so far, the given first row included

# Bound on the generator's search per first word: a few first words lead to long fruitless
# searches, and another first word is cheaper than finishing them.
_GEN_NODES = 20_000
_GEN_TRIES = 200


class WordsquareParams(Params):
    size: int = Field(default=4, ge=3, le=5, description="rows and columns of the square (words of this length)")
    symmetric: bool = Field(default=False, description="classic word square: row i equals column i")


@dataclass(frozen=True)
class WordsquareInstance:
    params: WordsquareParams
    seed: int
    solution: Rows  # one complete square the generator found; its first row is the given one

    @property
    def n(self) -> int:
        return self.params.size

    @property
    def symmetric(self) -> bool:
        return self.params.symmetric

    @property
    def first(self) -> str:
        return self.solution[0]


def candidates(n: int, symmetric: bool, rows: Rows, at: int | None = None) -> Iterator[str]:
    """Words (in alphabetical order) that may be row `at` (default: the next row): every column
    can still become a word.

    Walks the row's letters left to right, intersecting what the row's own prefix allows with
    what each column allows at that position, so dead branches are cut at the first bad letter.
    Rows written out of order (`EMPTY` between written ones, planner=llm) are allowed for.
    """
    nxt = next_letters(n)
    k = len(rows) if at is None else at
    if k == len(rows) and EMPTY not in rows:  # the usual case: every column is a prefix
        cols = columns(rows, n)
        if any(c not in nxt for c in cols):
            return
        col_letters = [nxt[c] for c in cols]
    else:
        col_letters = [_letters_at(n, pattern, k) for pattern in column_patterns(rows, n)]
        if not all(col_letters):
            return
    fixed = {j: rows[j][k] for j in range(min(len(rows), n)) if rows[j]} if symmetric else {}

    def walk(prefix: str) -> Iterator[str]:
        j = len(prefix)
        if j == n:
            yield prefix
            return
        allowed = nxt.get(prefix, frozenset()) & col_letters[j]
        if j in fixed:
            allowed &= {fixed[j]}
        for ch in sorted(allowed):
            yield from walk(prefix + ch)

    yield from walk("")


# A row not written yet, when rows are written out of order (the planner agent chooses the row).
EMPTY = ""


def place(rows: Rows, at: int, word: str) -> Rows:
    """`rows` with row `at` written (rows between stay EMPTY; none trails)."""
    out = list(rows) + [EMPTY] * (at + 1 - len(rows))
    out[at] = word
    while out and out[-1] == EMPTY:
        out.pop()
    return tuple(out)


def column_patterns(rows: Rows, n: int) -> list[str]:
    """Column j as written so far, with `.` for a row not written yet (what `columns` gives when
    the rows are written top to bottom)."""
    return ["".join(r[j] if r else "." for r in rows) for j in range(n)]


@lru_cache(maxsize=None)
def _by_letter(n: int) -> dict[tuple[int, str], frozenset[str]]:
    out: dict[tuple[int, str], set[str]] = {}
    for w in words(n):
        for i, ch in enumerate(w):
            out.setdefault((i, ch), set()).add(w)
    return {k: frozenset(v) for k, v in out.items()}


@lru_cache(maxsize=65536)
def _matching(n: int, pattern: str) -> frozenset[str]:
    """The n-letter words that agree with `pattern` (`.`: any letter; shorter: the rest any)."""
    sets = sorted((_by_letter(n).get((i, ch), frozenset()) for i, ch in enumerate(pattern) if ch != "."), key=len)
    if not sets:
        return word_set(n)
    out = sets[0]
    for other in sets[1:]:
        if not out:
            break
        out = out & other
    return out


@lru_cache(maxsize=65536)
def _letters_at(n: int, pattern: str, at: int) -> frozenset[str]:
    """The letters that may stand at position `at` of a column written as `pattern`."""
    p = (pattern + "." * n)[:n]
    p = p[:at] + "." + p[at + 1:]
    return frozenset(w[at] for w in _matching(n, p))


def _search(n: int, symmetric: bool, rows: Rows, order: random.Random | None, budget: list[int]) -> Rows | None:
    """A completion of `rows` to a full square, depth first; None when none exists (or out of budget)."""
    if len(rows) == n and EMPTY not in rows:
        return rows
    at = rows.index(EMPTY) if EMPTY in rows else len(rows)  # the first row not written
    options = list(candidates(n, symmetric, rows, at))
    if order is not None:
        order.shuffle(options)
    for w in options:
        budget[0] -= 1
        if budget[0] < 0:
            return None
        done = _search(n, symmetric, place(rows, at, w), order, budget)
        if done is not None:
            return done
    return None


@lru_cache(maxsize=4096)
def completion(n: int, symmetric: bool, rows: Rows) -> Rows | None:
    """The alphabetically first completion of `rows`, or None when the goal is unreachable."""
    if any(r != EMPTY and (len(r) != n or r not in word_set(n)) for r in rows):
        return None
    return _search(n, symmetric, rows, None, [10**9])


def columns(rows: Rows, n: int) -> list[str]:
    return ["".join(r[j] for r in rows) for j in range(n)]


def _dead(col: str, n: int) -> bool:
    """Whether column `col` (`.` for a row not written yet) can no longer be (or become) an
    n-letter word of the list."""
    if "." in col:
        return not _matching(n, col)
    return col not in word_set(n) if len(col) == n else col not in next_letters(n)


class Wordsquare(Scenario[WordsquareInstance, Rows, str]):
    name = "wordsquare"
    summary = "fill an n x n grid whose rows and columns are all words, one row per step (rules checker)"
    Params = WordsquareParams
    checker = "rules"
    max_answer_chars = 32

    def generate(self, params: WordsquareParams, seed: int) -> WordsquareInstance:
        n, sym = params.size, params.symmetric
        rng = random.Random(f"wordsquare:{n}:{sym}:{seed}")
        pool = list(words(n))
        for _ in range(_GEN_TRIES):
            budget = [_GEN_NODES]
            found = _search(n, sym, (rng.choice(pool),), rng, budget)
            if found is not None:
                return WordsquareInstance(params, seed, found)
        raise AgentloopError(f"wordsquare: found no {n}x{n} square for seed {seed}; try another seed or size")

    def initial_state(self, inst: WordsquareInstance) -> Rows:
        return (inst.first,)

    def steps(self, inst: WordsquareInstance) -> list[Step]:
        return [Step(r - 1, (r,), f"row {r + 1}") for r in range(1, inst.n)]

    def solve(self, inst: WordsquareInstance, state: Rows, step: Step) -> str:
        k = step.key[0]  # the row (== len(state) unless rows are written out of order)
        if all(r in (EMPTY, inst.solution[i]) for i, r in enumerate(state)):
            return inst.solution[k]
        done = completion(inst.n, inst.symmetric, state)
        if done is not None:
            return done[k]
        # No right answer exists from a broken square; the generator's row is what a correct
        # agent would have written, and the checker will reject it or call it wrong.
        return inst.solution[k] if k < inst.n else inst.solution[-1]

    def illegal(self, inst: WordsquareInstance, state: Rows, step: Step, answer: str) -> str | None:
        n = inst.n
        if len(answer) != n:
            return f"{answer!r} has {len(answer)} letters, a row needs {n}"
        if answer not in word_set(n):  # the parser refuses these first; kept so none is ever committed
            return f"{answer!r} is not in the word list"
        k = step.key[0]
        if k < len(state) and state[k] != EMPTY:
            return f"row {k + 1} is already written"
        if inst.symmetric and k < n and EMPTY not in state and k == len(state):
            need = "".join(r[k] for r in state)
            if not answer.startswith(need):
                return f"in a symmetric square row {k + 1} must begin with {need!r} (column {k + 1} so far)"
        elif inst.symmetric:
            for j, r in enumerate(state):
                if r and answer[j] != r[k]:
                    return f"in a symmetric square letter {j + 1} of row {k + 1} must be {r[k]!r} (row {j + 1})"
        return None

    def check(self, inst: WordsquareInstance, state: Rows, step: Step, answer: str) -> Verdict:
        """Legal, every column still a word prefix, and some completion exists; never shows one."""
        why = self.illegal(inst, state, step, answer)
        if why is not None:
            return Verdict.reject("illegal", why, observed=answer)
        n, rows = inst.n, place(state, step.key[0], answer)
        expected = self.solve(inst, state, step)
        for j, col in enumerate(column_patterns(rows, n)):
            if _dead(col, n):
                what = "is not a word" if len(col) == n else "is not the start of any word"
                return Verdict.reject("wrong", f"column {j + 1} would read {col!r}, which {what}",
                                      expected=expected, observed=answer)
        if completion(n, inst.symmetric, rows) is None:
            return Verdict.reject("wrong", f"no way to complete the square after {answer!r}",
                                  expected=expected, observed=answer)
        return Verdict.accept(answer)

    def apply(self, inst: WordsquareInstance, state: Rows, step: Step, answer: str) -> Rows:
        return place(state, step.key[0], answer)

    def on_track(self, inst: WordsquareInstance, state: Rows, true_state: Rows) -> bool:
        """Still possible to finish: some completion of the agent's own square exists."""
        return completion(inst.n, inst.symmetric, state) is not None

    def is_goal(self, inst: WordsquareInstance, state: Rows) -> bool:
        n, vocab = inst.n, word_set(inst.n)
        if len(state) != n or not all(r in vocab for r in state):
            return False
        cols = columns(state, n)
        return all(c in vocab for c in cols) and (not inst.symmetric or cols == list(state))

    def corrupt(self, inst: WordsquareInstance, state: Rows, step: Step, answer: str, rng: random.Random) -> str:
        """A word of the list that kills a column (the likely slip), else a listed word of the wrong
        length (illegal). Never an unlisted word: the parser refuses those."""
        n = inst.n
        pool = [w for w in words(n) if w != answer and self.illegal(inst, state, step, w) is None]
        rng.shuffle(pool)
        for w in pool[:200]:
            if any(_dead(c, n) for c in column_patterns(place(state, step.key[0], w), n)):
                return w
        return wrong_length_word(answer, rng)

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: WordsquareInstance) -> str:
        n = inst.n
        kind = (
            "a classic word square: row i is the same word as column i"
            if inst.symmetric
            else "every row, read left to right, and every column, read top to bottom, is a word"
        )
        return (
            f"Build a {n}x{n} word square of common English {n}-letter words: {kind}. "
            f"Row 1 is given. You write the other rows, one row per step, top to bottom. "
            "Choose each row so that every column can still be finished as a word."
        )

    def show_initial(self, inst: WordsquareInstance) -> str:
        rest = "\n".join(f"row {r + 1}: " + "." * inst.n for r in range(1, inst.n))
        return f"row 1: {inst.first}\n{rest}"

    def oneshot_format(self, inst: WordsquareInstance) -> str:
        n = inst.n
        return f"Write the whole square, {n} lines of one {n}-letter word each, starting with row 1, and nothing else."

    def window(self, inst: WordsquareInstance, state: Rows, step: Step) -> str:
        k = len(state)
        if EMPTY in state or step.key[0] != k:
            return self._window_out_of_order(inst, state, step.key[0])
        rows = "\n".join(f"row {i + 1}: {r}" for i, r in enumerate(state))
        cols = ", ".join(f"column {j + 1} starts {c!r}" for j, c in enumerate(columns(state, inst.n)))
        text = f"The square so far:\n{rows}\nSo far {cols}."
        if inst.symmetric and k < inst.n:
            text += f" Row {k + 1} must begin with {''.join(r[k] for r in state)!r}."
        return text

    def _window_out_of_order(self, inst: WordsquareInstance, state: Rows, k: int) -> str:
        """The square when rows are written out of order (planner=llm): `.` marks a letter of a
        row not written yet."""
        n = inst.n
        padded = list(state) + [EMPTY] * (n - len(state))
        rows = "\n".join(f"row {i + 1}: {r or '.' * n}" for i, r in enumerate(padded))
        cols = ", ".join(f"column {j + 1} reads {(c + '.' * n)[:n]!r}" for j, c in enumerate(column_patterns(state, n)))
        text = f"The square so far (. is a letter of a row not written yet):\n{rows}\nSo far {cols}."
        if inst.symmetric:
            need = "".join(r[k] if r else "." for r in padded)
            text += f" Row {k + 1} must read {need!r} where its letters are known."
        return text

    def step_prompt(self, inst: WordsquareInstance, step: Step, window: str | None) -> str:
        ask = f"What is {step.label}? Answer with one {inst.n}-letter word only."
        return ask if window is None else f"{window}\n{ask}"

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> str:
        return parse_listed_word(text)

    def format_answer(self, answer: str) -> str:
        return answer

    def parse_trajectory(self, inst: WordsquareInstance, text: str) -> list[str]:
        rows = parse_word_lines(text, "rows", limit=inst.n)
        if rows[0] != inst.first:
            raise ParseError(f"the square must start with the given row 1 {inst.first!r}")
        return rows[1:]

    def format_trajectory(self, inst: WordsquareInstance, answers: Sequence[str]) -> str:
        return "\n".join([inst.first, *answers])

    def initial_json(self, inst: WordsquareInstance) -> dict:
        return {"size": inst.n, "symmetric": inst.symmetric, "first_row": inst.first}

    def expected_json(self, inst: WordsquareInstance) -> list[str]:
        return list(inst.solution)  # one right square among many

    def result_json(self, inst: WordsquareInstance, state: Rows, answers: Sequence[str]) -> list[str]:
        return list(state)
