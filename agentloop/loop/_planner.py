"""The planner agent (condition `planner = "llm"`): the model decomposes the task itself.

With the fixed planner the loop works through the scenario's own list of steps, computed by
code. Here the model is asked, before the steps it governs, to make the decisions that list
made for it, and each proposal is judged against the simulator before anything is run:

- hanoi, by recursive subgoals. The goal "disks 1..n onto peg 2" is broken into "disks 1..n-1
  onto the spare peg, disk n from its peg to peg 2, disks 1..n-1 onto peg 2"; each tower subgoal
  is broken down the same way when its turn comes, and each single-disk subgoal is one atomic
  step for the worker (whose question names the subgoal). A decomposition is right when it is
  the one the recursive rule gives from the agent's current position.
- sudoku, by choosing the next cell: right when its digit can be decided from the grid as it
  stands (only one candidate, or the only place in a row, column or box for some digit; when no
  cell is decidable, any of the most constrained cells).
- word squares, by choosing the next row to write (rows may then be written out of order):
  right when it is a most constrained row, the one the fewest words fit given the letters the
  columns already have.
- eca and life, by choosing the granularity: how much the next call does, one cell or K whole
  rows (eca: generations) from where the work stands; right when it can be done from there (rows
  start at a row's first cell and stay within what remains). The chunk is then asked and checked
  atom by atom as a fixed granularity of that shape is.

A wrong or impossible proposal gets the verdict code `plan`; the step record carries the
proposals made for it (`StepRecord.plans`) and whether the plan that chose it was right
(`plan_ok`), so planner error is measured apart from worker error. Under `verify` with the
oracle checker the planner re-plans on rejection, up to `max_retries` times; otherwise a wrong
proposal that can be followed is followed (the agent cannot know), and one that cannot ends
the episode. Scripted models answer planning questions from the right proposal passed as a
`Hint` (role `plan`), so `scripted/noisy -M error=e` plans wrong at rate e, and `-M plan_error=q`
sets the planner's rate apart from the worker's.
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentloop.errors import AgentloopError, ParseError
from agentloop.models import Hint, Message
from agentloop.scenarios import Scenario
from agentloop.scenarios._base import strip_reply
from agentloop.types import PlanAttempt, Step, Verdict

# The most planning decisions before one atomic step (hanoi needs at most one per disk).
MAX_DECISIONS_PER_STEP = 64


@dataclass
class Decision:
    """One question to the planner, with everything needed to judge and simulate its answer."""

    goal: str  # what is being decided, for the record
    question: str  # the user message
    right: Any  # the simulator's right proposal (scripted models answer it; records show it)
    parse: Callable[[str], Any]  # reply text → proposal; ParseError when there is none
    render: Callable[[Any], str]  # proposal → the reply text a perfect planner writes
    to_json: Callable[[Any], Any]
    judge: Callable[[Any], tuple[Verdict, bool]]  # (verdict, whether the proposal can be followed)
    corrupt: Callable[[random.Random], Any]  # a plausible wrong proposal


@dataclass
class Leaf:
    """The atomic step the plan arrived at: the worker's step, the answer the plan implies (None:
    the plan leaves the answer to the worker) and whether the plan is right here (locally, as a
    step is: judged from the agent's own state)."""

    step: Step
    intent: Any = None
    plan_ok: bool = True


class ScenarioPlanner(ABC):
    """Planning state for one episode of one scenario."""

    def __init__(self, sc: Scenario, inst: Any) -> None:
        self.sc, self.inst = sc, inst

    @abstractmethod
    def next(self, state: Any, i: int) -> Decision | Leaf:
        """The next question for the planner, or the atomic step `i` when the plan has one ready."""

    @abstractmethod
    def follow(self, proposal: Any, right: bool) -> None:
        """Act on a (followable) proposal."""

    def finished(self, state: Any) -> bool:
        """Whether the plan has covered the whole task (a planner of chunks ends before the fixed list)."""
        return False

    def answer_chars(self, step: Step) -> int | None:
        """The red-flag length of an answer to the planned `step`; None: the scenario's."""
        return None

    def steps_total(self, state: Any, taken: int, fixed: int) -> int:
        """The episode's length in steps for its record, after `taken` steps ended at `state`
        (`fixed`: the scenario's own list)."""
        return fixed

    @abstractmethod
    def snapshot(self) -> Any:
        """The planning state between two steps, as JSON (for a checkpoint)."""

    @abstractmethod
    def resume(self, snap: Any) -> None:
        """Continue from `snapshot()`'s value."""


# --- hanoi -------------------------------------------------------------------------------------
Goal = tuple  # ("tower", k, peg): disks 1..k onto peg; ("disk", d, from, to): one move

_TOWER = re.compile(r"tower\s*([0-9]{1,3})\s*(?:to|->|onto|on)\s*(?:peg\s*)?([0-9]{1,3})", re.IGNORECASE)
_DISK = re.compile(
    r"disk\s*([0-9]{1,3})\s*from\s*(?:peg\s*)?([0-9]{1,3})\s*(?:to|->|onto)\s*(?:peg\s*)?([0-9]{1,3})", re.IGNORECASE
)
_SUBGOAL = re.compile(f"{_TOWER.pattern}|{_DISK.pattern}", re.IGNORECASE)


def _render_goal(g: Goal) -> str:
    return f"tower {g[1]} to {g[2]}" if g[0] == "tower" else f"disk {g[1]} from {g[2]} to {g[3]}"


def _say(g: Goal) -> str:
    if g[0] == "disk":
        return f"move disk {g[1]} from peg {g[2]} to peg {g[3]}"
    return f"move disk 1 onto peg {g[2]}" if g[1] == 1 else f"move disks 1 to {g[1]} onto peg {g[2]}"


def parse_subgoals(text: str) -> list[Goal]:
    """`tower K to P` and `disk D from A to B` lines (in order) → subgoals; ParseError if none."""
    body = strip_reply(text)[:4000]
    out: list[Goal] = []
    for m in _SUBGOAL.finditer(body):
        if m[1] is not None:
            out.append(("tower", int(m[1]), int(m[2])))
        else:
            out.append(("disk", int(m[3]), int(m[4]), int(m[5])))
        if len(out) > 8:
            break
    if not out:
        raise ParseError(f"expected subgoals as `tower K to P` or `disk D from A to B` lines, got {text[:40]!r}")
    return out


class HanoiPlanner(ScenarioPlanner):
    def __init__(self, sc: Scenario, inst: Any) -> None:
        super().__init__(sc, inst)
        self.n = inst.n
        self.stack: list[Goal] = []  # pending subgoals, the next on top

    @staticmethod
    def _where(pegs) -> dict[int, int]:
        return {disk: p for p, peg in enumerate(pegs) for disk in peg}

    def right_decomposition(self, pegs, goal: Goal) -> list[Goal]:
        """The recursive rule's breakdown of "disks 1..k onto t" from `pegs`."""
        _, k, t = goal
        p = self._where(pegs)[k]
        if p == t:
            return [("tower", k - 1, t)]
        return [("tower", k - 1, 3 - p - t), ("disk", k, p, t), ("tower", k - 1, t)]

    def next(self, state: Any, i: int) -> Decision | Leaf:
        pegs, where = state.pegs, self._where(state.pegs)
        for _ in range(4 * self.n + 8):
            if not self.stack:
                self.stack.append(("tower", self.n, 2))
            goal = self.stack[-1]
            if goal[0] == "disk":
                self.stack.pop()
                step = Step(i, (i + 1,), f"move {i + 1} (the plan's subgoal: {_say(goal)})")
                intent = (goal[1], goal[2], goal[3])
                # Right when it is the simulator's move from here: a plan made before a worker's
                # slip is stale after it, whoever made the decomposition.
                return Leaf(step, intent=intent, plan_ok=intent == self.sc.solve(self.inst, state, step))
            _, k, t = goal
            if all(where.get(d) == t for d in range(1, k + 1)):
                self.stack.pop()
                if not self.stack and all(where[d] == 2 for d in where):  # done, and a move is still owed
                    return Leaf(Step(i, (i + 1,), f"move {i + 1}"), intent=None, plan_ok=True)
                continue
            if k == 1:  # one disk: the subgoal is the move itself, nothing to decide
                self.stack.pop()
                self.stack.append(("disk", 1, where[1], t))
                continue
            return self._decision(pegs, goal)
        raise AgentloopError("hanoi planner: no step reached (a bug)")  # pragma: no cover

    def _decision(self, pegs, goal: Goal) -> Decision:
        right = self.right_decomposition(pegs, goal)
        _, k, t = goal
        shown = " | ".join(f"peg {i}: [{', '.join(map(str, p))}]" for i, p in enumerate(pegs))
        question = (
            f"Plan the moves; do not make them. Pegs (bottom to top): {shown}.\n"
            f"Goal: {_say(goal)}.\nBreak this goal into at most 3 smaller subgoals, in the order they are done. "
            f"Write one subgoal per line, either `tower K to P` (move disks 1 to K, as a tower, onto peg P; K "
            f"below {k}) or `disk D from A to B` (move the single disk D from peg A to peg B). Answer with the "
            "subgoal lines only."
        )

        def judge(prop: list[Goal]) -> tuple[Verdict, bool]:
            why = self._impossible(prop, k)
            if why is not None:
                return Verdict.reject("plan", why, expected=_json(right), observed=_json(prop)), False
            if prop == right:
                return Verdict.accept(_json(prop)), True
            return Verdict.reject(
                "plan", f"this breakdown does not lead to {_say(goal)} by the shortest way from this position",
                expected=_json(right), observed=_json(prop),
            ), True

        return Decision(
            goal=_say(goal), question=question, right=right, parse=parse_subgoals,
            render=lambda prop: "\n".join(_render_goal(g) for g in prop), to_json=_json, judge=judge,
            corrupt=lambda rng: self._corrupt(pegs, goal, right, rng),
        )

    @staticmethod
    def _impossible(prop: list[Goal], k: int) -> str | None:
        """Why a breakdown cannot be followed at all (each subgoal must be smaller than the goal)."""
        if len(prop) > 3:
            return f"a breakdown has at most 3 subgoals, got {len(prop)}"
        for g in prop:
            pegs = g[2:]
            if any(not 0 <= p <= 2 for p in pegs):
                return f"{_render_goal(g)!r} names a peg other than 0, 1, 2"
            if g[0] == "tower" and not 1 <= g[1] < k:
                return f"{_render_goal(g)!r} is not smaller than the goal (towers of 1 to {k - 1} disks)"
            if g[0] == "disk" and (not 1 <= g[1] <= k or g[2] == g[3]):
                return f"{_render_goal(g)!r} is not a move of one of the disks 1 to {k}"
        return None

    def _corrupt(self, pegs, goal: Goal, right: list[Goal], rng: random.Random) -> list[Goal]:
        """A plausible wrong breakdown: the same shape with the pegs confused."""
        _, k, t = goal
        p = self._where(pegs)[k]
        options = [[("tower", k - 1, t)]]
        for a in range(3):
            for b in range(3):
                if a != p and b != p:
                    options.append([("tower", k - 1, a), ("disk", k, p, b), ("tower", k - 1, b)])
        options = [o for o in options if o != right]
        return rng.choice(options)

    def follow(self, proposal: list[Goal], right: bool) -> None:
        self.stack.pop()
        self.stack.extend(reversed(proposal))

    def snapshot(self) -> Any:
        return [list(g) for g in self.stack]

    def resume(self, snap: Any) -> None:
        self.stack = [(str(g[0]), *(int(x) for x in g[1:])) for g in snap]


def _json(prop: list[Goal]) -> list[list]:
    return [list(g) for g in prop]


# --- sudoku ------------------------------------------------------------------------------------
_CELL = re.compile(r"row\s*([0-9]{1,3})\s*[,;]?\s*(?:and\s*)?col(?:umn)?\s*([0-9]{1,3})", re.IGNORECASE)


class SudokuPlanner(ScenarioPlanner):
    def __init__(self, sc: Scenario, inst: Any) -> None:
        super().__init__(sc, inst)
        self.chosen: tuple[int, bool] | None = None  # the cell chosen for the next step, and whether rightly

    def decidable(self, grid) -> list[int]:
        """Cells whose digit follows from the grid as it stands: one candidate, or the only place
        in a row, column or box for a digit; when there are none, the most constrained cells."""
        from agentloop.scenarios.sudoku import candidates

        n = self.inst.n
        empty = [c for c, v in enumerate(grid) if v == 0]
        cands = {c: candidates(grid, n, c) for c in empty}
        found = {c for c in empty if len(cands[c]) == 1}
        for unit in _unit_groups(n):
            for d in range(1, n + 1):
                places = [c for c in unit if grid[c] == 0 and d in cands[c]]
                if len(places) == 1 and d not in (grid[c] for c in unit):
                    found.add(places[0])
        if not found and empty:
            least = min(len(cands[c]) for c in empty)
            found = {c for c in empty if len(cands[c]) == least}
        return sorted(found)

    def next(self, state: Any, i: int) -> Decision | Leaf:
        if self.chosen is not None:
            from agentloop.scenarios.sudoku import _label

            cell, ok = self.chosen
            self.chosen = None
            return Leaf(Step(i, (cell,), _label(self.inst.n, cell)), intent=None, plan_ok=ok)
        return self._decision(state)

    def _decision(self, grid) -> Decision:
        from agentloop.scenarios.sudoku import _fmt_grid, candidates

        n = self.inst.n
        good = self.decidable(grid)
        right = _rc(n, good[0])
        question = (
            f"The grid now:\n{_fmt_grid(grid, n)}\nWhich empty cell should be filled next? Choose one whose digit "
            "can already be decided from the grid as it is (it has only one possible digit, or it is the only "
            "place in its row, column or box for some digit). Do not give the digit. Answer with "
            "`row R, column C` only."
        )

        def judge(rc: tuple[int, int]) -> tuple[Verdict, bool]:
            r, c = rc
            seen = f"row {r}, column {c}"
            if not (1 <= r <= n and 1 <= c <= n):
                return Verdict.reject("plan", f"there is no {seen} (rows and columns are 1 to {n})",
                                      expected=list(right), observed=[r, c]), False
            cell = (r - 1) * n + c - 1
            if grid[cell] != 0:
                return Verdict.reject("plan", f"{seen} is already filled", expected=list(right), observed=[r, c]), False
            if cell in good:
                return Verdict.accept([r, c]), True
            options = len(candidates(grid, n, cell))
            return Verdict.reject("plan", f"{seen} cannot be decided yet ({options} digits are still possible there)",
                                  expected=list(right), observed=[r, c]), True

        def parse(text: str) -> tuple[int, int]:
            m = _CELL.search(strip_reply(text)[:2000])
            if m is None:
                raise ParseError(f"expected `row R, column C`, got {text[:40]!r}")
            return int(m[1]), int(m[2])

        def corrupt(rng: random.Random) -> tuple[int, int]:
            # A cell that cannot be decided yet; when every empty cell can, another of them (the
            # slip then does no harm); only with one cell left, a filled one.
            empty = [c for c, v in enumerate(grid) if v == 0 and c not in good]
            others = [c for c in good if c != good[0]]
            return _rc(n, rng.choice(empty or others or [c for c, v in enumerate(grid) if v != 0]))

        return Decision(
            goal="the next cell to fill", question=question, right=right, parse=parse,
            render=lambda rc: f"row {rc[0]}, column {rc[1]}", to_json=list, judge=judge, corrupt=corrupt,
        )

    def follow(self, proposal: tuple[int, int], right: bool) -> None:
        self.chosen = ((proposal[0] - 1) * self.inst.n + proposal[1] - 1, right)

    def snapshot(self) -> Any:
        return None if self.chosen is None else list(self.chosen)

    def resume(self, snap: Any) -> None:
        self.chosen = None if snap is None else (int(snap[0]), bool(snap[1]))


def _rc(n: int, cell: int) -> tuple[int, int]:
    """A cell index as (row, column), 1-based."""
    return cell // n + 1, cell % n + 1


# --- word squares ------------------------------------------------------------------------------
_ROW = re.compile(r"row\s*([0-9]{1,3})", re.IGNORECASE)
# Candidate words counted per row, at most (a row this open is not the most constrained anyway).
_COUNT_CAP = 400


class WordsquarePlanner(ScenarioPlanner):
    def __init__(self, sc: Scenario, inst: Any) -> None:
        super().__init__(sc, inst)
        self.chosen: tuple[int, bool] | None = None  # the row (0-based) chosen for the next step, and whether rightly

    def open_rows(self, rows) -> dict[int, int]:
        """Each row not written yet → how many words still fit it (up to a cap)."""
        from itertools import islice

        from agentloop.scenarios.wordsquare import EMPTY, candidates

        n, sym = self.inst.n, self.inst.symmetric
        empty = [r for r in range(1, n) if r >= len(rows) or rows[r] == EMPTY]
        return {r: sum(1 for _ in islice(candidates(n, sym, rows, r), _COUNT_CAP)) for r in empty}

    def next(self, state: Any, i: int) -> Decision | Leaf:
        if self.chosen is not None:
            r, ok = self.chosen
            self.chosen = None
            return Leaf(Step(i, (r,), f"row {r + 1}"), intent=None, plan_ok=ok)
        return self._decision(state)

    def _decision(self, rows) -> Decision:
        n = self.inst.n
        fits = self.open_rows(rows)
        least = min(fits.values())
        good = sorted(r for r, c in fits.items() if c == least)
        right = good[0] + 1
        shown = "\n".join(f"row {i + 1}: {r or '.' * n}" for i, r in enumerate(list(rows) + [""] * (n - len(rows))))
        question = (
            f"The square so far (. is a letter of a row not written yet):\n{shown}\nWhich row should be written "
            "next? Choose the most constrained one: the row that the fewest words fit, given the letters the "
            "columns already have. Do not write the word. Answer with `row R` only."
        )

        def judge(r: int) -> tuple[Verdict, bool]:
            if not 1 <= r <= n:
                return Verdict.reject("plan", f"there is no row {r} (rows are 1 to {n})", expected=right, observed=r), False
            if r - 1 not in fits:
                return Verdict.reject("plan", f"row {r} is already written", expected=right, observed=r), False
            if r - 1 in good:
                return Verdict.accept(r), True
            return Verdict.reject("plan", f"{_words(fits[r - 1])} fit row {r}; another row is more constrained",
                                  expected=right, observed=r), True

        def parse(text: str) -> int:
            m = _ROW.search(strip_reply(text)[:2000])
            if m is None:
                raise ParseError(f"expected `row R`, got {text[:40]!r}")
            return int(m[1])

        def corrupt(rng: random.Random) -> int:
            # A less constrained row; when all are alike, another of them (no harm done); only with
            # one row left, row 1, which is given (a plan that cannot be followed).
            worse = [r for r in fits if r not in good]
            others = [r for r in good if r != good[0]]
            return rng.choice(worse or others) + 1 if worse or others else 1

        return Decision(goal="the next row to write", question=question, right=right, parse=parse,
                        render=lambda r: f"row {r}", to_json=int, judge=judge, corrupt=corrupt)

    def follow(self, proposal: int, right: bool) -> None:
        self.chosen = (proposal - 1, right)

    def snapshot(self) -> Any:
        return None if self.chosen is None else list(self.chosen)

    def resume(self, snap: Any) -> None:
        self.chosen = None if snap is None else (int(snap[0]), bool(snap[1]))


def _words(count: int) -> str:
    if count >= _COUNT_CAP:
        return f"{_COUNT_CAP} or more words"
    return "1 word" if count == 1 else f"{count} words"


def _unit_groups(n: int) -> list[list[int]]:
    from agentloop.scenarios.sudoku import _box

    b = _box(n)
    rows = [[r * n + c for c in range(n)] for r in range(n)]
    cols = [[r * n + c for r in range(n)] for c in range(n)]
    boxes = [[(br + i) * n + bc + j for i in range(b) for j in range(b)] for br in range(0, n, b) for bc in range(0, n, b)]
    return rows + cols + boxes


# --- eca and life: the granularity ------------------------------------------------------------
Chunk = tuple  # ("cell", 1): the next cell; ("row", K): K whole rows (eca: generations) from where the work stands

_CHUNK = re.compile(r"(?:\b([0-9]{1,4})\s*)?\b(cells?|board|rows?|generations?)\b(?:\s*([0-9]{1,4}))?", re.IGNORECASE)


def parse_chunk(text: str) -> Chunk:
    """`cell`, `row`, `rows K` (or `K rows`), `generations K` or `board` → ("cell", 1), ("row", K) or ("board", 0);
    ParseError when none is there."""
    m = _CHUNK.search(strip_reply(text)[:2000])
    if m is None:
        raise ParseError(f"expected `cell`, `rows K` or `board`, got {text[:40]!r}")
    unit, count = m[2].lower(), m[3] or m[1]  # `rows 2` or `2 rows`
    if unit.startswith("cell"):
        return ("cell", int(count) if count else 1)
    if unit == "board":
        return ("board", 0)
    return ("row", int(count) if count else 1)


def render_chunk(c: Chunk) -> str:
    return "cell" if c[0] == "cell" and c[1] == 1 else "board" if c[0] == "board" else f"{c[0]}s {c[1]}"


class ChunkPlanner(ScenarioPlanner):
    """The model chooses how much the next call does: one cell, or K whole rows from where the work
    stands (eca: K generations; life: K rows of the generation, `board` the whole one). A choice is
    right when it can be done from here: a chunk of rows must start at a row's beginning and stay
    within what remains; anything else is code `plan` and cannot be followed. The scripted planner's
    right choice is one row where a row can start, else one cell."""

    unit = "row"
    has_board = False  # `board` (a whole generation from its first row) is a choice

    def __init__(self, sc: Scenario, inst: Any) -> None:
        super().__init__(sc, inst)
        self.chosen: list | None = None  # the chunk chosen for the next step (JSON), or None

    @abstractmethod
    def position(self, state: Any) -> tuple[int, int, int]:
        """(cells into the current row, whole rows left, cells per row) of the work as it stands."""

    @abstractmethod
    def chunk_step(self, state: Any, i: int, chunk: Chunk) -> Step:
        """Step `i` doing `chunk` from `state` (a chunk already judged possible)."""

    @abstractmethod
    def describe(self, state: Any) -> str:
        """Where the work stands, for the planner's question."""

    def _normal(self, chunk: Chunk, state: Any) -> Chunk:
        return chunk

    def why_not(self, state: Any, chunk: Chunk) -> str | None:
        """Why `chunk` cannot be done next from `state`, or None."""
        into, left, _ = self.position(state)
        if chunk[0] == "board" and not self.has_board:
            return f"{self.sc.name} has no board: the choices are `cell` and `rows K`"
        kind, n = self._normal(chunk, state)
        if kind == "cell":
            return None if n == 1 else f"a chunk of cells is one cell, got {n}"
        if into:
            return (f"the current {self.unit} is under way ({into} cells written): a chunk of {self.unit}s "
                    f"starts at a {self.unit}'s first cell")
        if not 1 <= n <= left:
            return f"{n} {self.unit}s is not within what remains (1 to {left})"
        return None

    def right(self, state: Any) -> Chunk:
        return ("cell", 1) if self.position(state)[0] else ("row", 1)

    def next(self, state: Any, i: int) -> Decision | Leaf:
        if self.chosen is not None:
            chunk = (str(self.chosen[0]), int(self.chosen[1]))
            self.chosen = None
            return Leaf(self.chunk_step(state, i, self._normal(chunk, state)), intent=None, plan_ok=True)
        return self._decision(state)

    def _decision(self, state: Any) -> Decision:
        right = self.right(state)
        into, left, w = self.position(state)
        question = (
            f"{self.describe(state)}\nHow much should the next call do? Answer `cell` (the next cell only) or, "
            f"when a {self.unit} can start here, `rows K` (the next K whole {self.unit}s, K from 1 to {left}). "
            "Do not do the work. Answer with the choice only."
        )

        def judge(chunk: Chunk) -> tuple[Verdict, bool]:
            why = self.why_not(state, chunk)
            if why is not None:
                return Verdict.reject("plan", why, expected=list(right), observed=list(chunk)), False
            return Verdict.accept(list(chunk)), True

        def corrupt(rng: random.Random) -> Chunk:
            # A chunk that cannot be done: rows mid-row, or more rows than remain.
            return ("row", rng.randint(1, 3)) if into else ("row", left + rng.randint(1, 3))

        return Decision(goal="the size of the next step", question=question, right=right, parse=parse_chunk,
                        render=render_chunk, to_json=list, judge=judge, corrupt=corrupt)

    def follow(self, proposal: Chunk, right: bool) -> None:
        self.chosen = list(proposal)

    def finished(self, state: Any) -> bool:
        into, left, _ = self.position(state)
        return not into and not left

    def steps_total(self, state: Any, taken: int, fixed: int) -> int:
        # The sizes are chosen as the episode goes: the steps taken, and what is left counted at
        # the scripted planner's size (the rest of the row under way, then a step per row).
        into, left, w = self.position(state)
        return taken + (w - into if into else 0) + left

    def snapshot(self) -> Any:
        return self.chosen

    def resume(self, snap: Any) -> None:
        self.chosen = None if snap is None else [str(snap[0]), int(snap[1])]


class EcaPlanner(ChunkPlanner):
    unit = "generation"

    def position(self, state: Any) -> tuple[int, int, int]:
        done = len(state.rows) - 1
        return len(state.partial), self.inst.params.steps - done - bool(state.partial), self.inst.params.width

    def chunk_step(self, state: Any, i: int, chunk: Chunk) -> Step:
        g, w = len(state.rows), self.inst.params.width
        if chunk[0] == "cell":
            c = len(state.partial)
            return Step(i, (g, c), f"generation {g}, cell {c}")
        n = chunk[1]
        return Step(i, (g, n, w), f"generation {g}" if n == 1 else f"generations {g} to {g + n - 1}")

    def describe(self, state: Any) -> str:
        p, g = self.inst.params, len(state.rows)
        return (f"The task: generations 1 to {p.steps} of {p.width} cells each. Generations 0 to {g - 1} are "
                f"done; of generation {g}, {len(state.partial)} of {p.width} cells are written.")

    def answer_chars(self, step: Step) -> int | None:
        return step.key[1] * (self.inst.params.width + 24) + 16 if len(step.key) == 3 else None


class LifePlanner(ChunkPlanner):
    unit = "row"
    has_board = True

    def position(self, state: Any) -> tuple[int, int, int]:
        p = self.inst.params
        into = len(state.partial) % p.cols
        left_now = p.rows - len(state.partial) // p.cols - bool(into)
        return into, left_now if len(state.boards) - 1 < p.steps else 0, p.cols

    def _normal(self, chunk: Chunk, state: Any) -> Chunk:
        return ("row", self.inst.params.rows) if chunk[0] == "board" else chunk

    def chunk_step(self, state: Any, i: int, chunk: Chunk) -> Step:
        p, g = self.inst.params, len(state.boards)
        r, c = divmod(len(state.partial), p.cols)
        if chunk[0] == "cell":
            return Step(i, (g, r, c), f"generation {g}, row {r}, column {c}")
        n = chunk[1]
        label = f"generation {g}" if n == p.rows else f"generation {g}, row {r}" if n == 1 else (
            f"generation {g}, rows {r} to {r + n - 1}")
        return Step(i, (g, r, p.cols, n), label)

    def describe(self, state: Any) -> str:
        p, g = self.inst.params, len(state.boards)
        return (f"The task: generations 1 to {p.steps} of a {p.rows}x{p.cols} board. Generations 0 to {g - 1} "
                f"are done; of generation {g}, {len(state.partial)} of {p.rows * p.cols} cells are written "
                f"(row by row), and `board` (the whole generation) is also a choice at its first row.")

    def answer_chars(self, step: Step) -> int | None:
        return step.key[3] * (self.inst.params.cols + 4) + 32 if len(step.key) == 4 else None


# --- registry ----------------------------------------------------------------------------------
def _planners() -> dict[str, tuple[type[Scenario], Callable[[Scenario, Any], ScenarioPlanner]]]:
    """Scenario name → (the scenario's class, its planner)."""
    from agentloop.scenarios.eca import Eca
    from agentloop.scenarios.hanoi import Hanoi
    from agentloop.scenarios.life import Life
    from agentloop.scenarios.sudoku import Sudoku
    from agentloop.scenarios.wordsquare import Wordsquare

    return {"hanoi": (Hanoi, HanoiPlanner), "sudoku": (Sudoku, SudokuPlanner),
            "wordsquare": (Wordsquare, WordsquarePlanner), "eca": (Eca, EcaPlanner), "life": (Life, LifePlanner)}


def planner_for(sc: Scenario, inst: Any) -> ScenarioPlanner:
    """The planner agent's state for one episode of `sc` (an AgentloopError when it has none)."""
    check_planner(sc, inst.params)
    return _planners()[sc.name][1](sc, inst)


def check_planner(sc: Scenario, params: Any = None) -> None:
    """One line saying why `planner=llm` cannot run on `sc` with `params`, or nothing."""
    from agentloop.scenarios.eca import Eca
    from agentloop.scenarios.hanoi import Hanoi
    from agentloop.scenarios.life import Life

    planners = _planners()
    if sc.name not in planners or not isinstance(sc, planners[sc.name][0]):
        raise AgentloopError(
            f"planner=llm is not available for scenario {sc.name!r}; it plans: {', '.join(planners)}"
        )
    if isinstance(sc, Hanoi) and params is not None and params.moves_per_call != 1:
        raise AgentloopError(
            f"planner=llm plans hanoi one move per step; granularity={params.granularity} asks for several"
        )
    if isinstance(sc, (Eca, Life)) and params is not None and params.granularity != "cell":
        raise AgentloopError(
            f"planner=llm chooses the granularity of {sc.name} step by step; granularity={params.granularity} fixes it"
        )


# --- checkpoints -------------------------------------------------------------------------------
_COUNTERS = ("plan_decisions", "plans", "plan_errors", "planned_right", "planned_right_ok")


def plan_checkpoint(ep) -> dict[str, Any] | None:
    """The planner's part of an episode checkpoint: its state and counters (None: fixed planner)."""
    if ep.planner is None:
        return None
    return {"state": ep.planner.snapshot(), **{k: getattr(ep, k) for k in _COUNTERS}}


def plan_restore(ep, cp: dict[str, Any] | None) -> None:
    """Continue the planner from `plan_checkpoint`'s value (ValueError/KeyError/IndexError/TypeError
    when it does not read: the caller then starts the episode over)."""
    if ep.planner is None:
        return
    if cp is None:
        raise ValueError("the checkpoint has no planner state")
    counters = {k: int(cp[k]) for k in _COUNTERS}
    ep.planner.resume(cp["state"])
    for k, v in counters.items():
        setattr(ep, k, v)


# --- asking ------------------------------------------------------------------------------------
@dataclass
class PlanOutcome:
    """What planning before one step came to: the step (None when the plan failed), the
    proposals, and the code that ended the episode (`plan` or `format`) when it failed."""

    leaf: Leaf | None
    plans: list[PlanAttempt] = field(default_factory=list)
    code: str | None = None


def plan_messages(ep, decision: Decision, feedback: Verdict | None) -> list[Message]:
    question = decision.question
    if feedback is not None:
        question += f"\n\nYour previous plan was rejected: {feedback.reason}. Plan again."
    return [{"role": "system", "content": ep.rules}, {"role": "user", "content": question}]


def plan_next(ep, i: int) -> PlanOutcome:
    """Ask the planner until step `i` is known (re-planning on rejection under verify)."""
    from agentloop.loop._worker import _safely, _sampled, cot_read, cot_render, cot_suffix

    cond = ep.condition
    replan_checked = cond.verify and cond.checker == "oracle"  # the simulator checks plans and re-plans
    replan = cond.max_retries if replan_checked else 0
    out = PlanOutcome(None)
    for _ in range(MAX_DECISIONS_PER_STEP):
        item = ep.planner.next(ep.tape.state, i)
        if isinstance(item, Leaf):
            out.leaf = item
            return out
        d = item
        ep.plan_decisions += 1
        feedback: Verdict | None = None
        for attempt in range(replan + 1):
            hint = None
            if ep.model.simulated:
                render = lambda xs, d=d: d.render(xs[0])  # noqa: E731
                hint = Hint(answers=(d.right,), render=cot_render(render) if cond.cot else render,
                            corrupt=lambda j, rng, d=d: d.corrupt(rng),
                            key=f"{ep.hint_key}:plan:{ep.plan_decisions}:{attempt}", role="plan")
            messages = plan_messages(ep, d, feedback)
            if cond.cot:
                messages[-1] = {"role": "user", "content": messages[-1]["content"] + cot_suffix()}
            read = lambda text, d=d: _safely(ep, lambda t: d.parse(cot_read(ep, t)), text)  # noqa: E731
            # A planning request's seed is named by the decision (a negative step), never a worker step's.
            p = _sampled(ep, Step(-ep.plan_decisions, (), d.goal), attempt, messages, hint, read,
                         k=cond.k if cond.vote else 1, max_samples=cond.max_samples if cond.vote else 1 + cond.format_retries,
                         to_json=d.to_json)
            ep.format_retries += p.red_flags
            if p.problem is not None:
                v = Verdict.reject("format", f"could not read a plan ({p.problem})", observed=p.text[:200] or None)
                out.plans.append(PlanAttempt(goal=d.goal, prompt=p.prompt, replies=p.replies, verdict=v, followed=False))
                out.code = "format"
                return out
            v, followable = d.judge(p.answer)
            ep.plans += 1
            ep.plan_errors += not v.ok
            # Follow a right proposal; re-plan a wrong one while the simulator checks and retries are
            # left; then follow a wrong one only when nothing checks it and it can be followed at all.
            retry = not v.ok and attempt < replan
            follow = v.ok or (not retry and followable and not replan_checked)
            out.plans.append(PlanAttempt(goal=d.goal, proposal=d.to_json(p.answer), prompt=p.prompt,
                                         replies=p.replies, verdict=v, followed=follow))
            if follow:
                ep.planner.follow(p.answer, v.ok)
                break
            if not retry:
                out.code = "plan"
                return out
            feedback = v
    raise AgentloopError("the planner made too many decisions for one step (a bug)")  # pragma: no cover
