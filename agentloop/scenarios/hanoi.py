"""Tower of Hanoi: move n disks onto peg 2 in the fewest moves.

Two starts (parameter `start`). `classic`: all disks on peg 0, as in MAKER (arXiv 2511.09030),
whose strategy makes each move a local decision and is given to the agent: disk 1 on alternate
moves, along a fixed cycle. `random` (the default): every disk on a peg chosen by the seed, a
legal position by construction (each peg holds its disks largest at the bottom); the agent is
given the standard recursive rule, which finds the next move of the shortest solution from any
legal position. Atomic step: one move `[disk, from, to]`; its context is the current pegs and
the previous move. Illegal moves are rejected with code `illegal` and never committed.

With the parameter `granularity=moves:K` a call answers K moves at once (the last call of a
plan may have fewer); the answer is a tuple of moves, rejected as `illegal` when any move is
illegal where it is made (nothing of it is committed), else `wrong` when any move differs.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import Field

from agentloop.errors import ParseError
from agentloop.scenarios._base import Scenario, parse_lines, strip_reply
from agentloop.scenarios._granularity import (
    ChunkedParams, atoms_wrong_reason, bundle_verdict, chunks, per_call, whole_calls,
)
from agentloop.types import Step, Verdict

Move = tuple[int, int, int]  # (disk, from_peg, to_peg); disks 1..n, 1 the smallest
Pegs = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # bottom to top
GOAL = 2  # the peg every disk must end on

# One number: ASCII digits only (`\d` would also take '٣', which int() reads) and at most nine
# of them (int() refuses strings of more than 4,300 digits; no disk or peg needs ten).
_NUM = r"([0-9]{1,9})"
# Between numbers: a comma with optional spaces around it, or spaces. The two alternatives
# cannot both match the same text, so a long run of spaces costs linear time, never cubic.
_SEP = r"(?:\s*,\s*|\s+)"
_MOVE = re.compile(rf"(?:\[\s*)?{_NUM}{_SEP}{_NUM}{_SEP}{_NUM}(?:\s*\])?")
_MOVE_REPLY = re.compile(rf"(?:move\s*(?:[:=]\s*)?)?{_MOVE.pattern}", re.IGNORECASE)


class HanoiParams(ChunkedParams):
    disks: int = Field(default=4, ge=1, le=20, description="number of disks (at most 2^disks - 1 moves)")
    start: Literal["random", "classic"] = Field(
        default="random", description="random: each disk on a seeded peg; classic: all disks on peg 0"
    )
    granularity: str = Field(
        default="move", description="what one call answers: move, or moves:K (K moves)",
        json_schema_extra={"allowed": "move|moves:K"},
    )
    granularity_kinds = ("move", "move", "moves")

    @property
    def moves_per_call(self) -> int:
        return per_call(self.granularity, "move", "moves") or 1


@dataclass(frozen=True)
class HanoiInstance:
    params: HanoiParams
    seed: int
    start: Pegs

    @property
    def n(self) -> int:
        return self.params.disks

    @property
    def classic(self) -> bool:
        return self.params.start == "classic"


class HanoiState(NamedTuple):
    pegs: Pegs
    last: Move | None


def _pegs_of(where: Sequence[int]) -> Pegs:
    """The position where disk d (1-based) is on peg where[d - 1]; legal by construction."""
    pegs: list[list[int]] = [[], [], []]
    for disk in range(len(where), 0, -1):  # largest first, so each peg is stacked bottom to top
        pegs[where[disk - 1]].append(disk)
    return (tuple(pegs[0]), tuple(pegs[1]), tuple(pegs[2]))


def _scrambler(count: int) -> int:
    """A multiplier coprime to `count` near count/φ: seed ↦ seed·a mod count is then a
    permutation of 0..count-1 whose consecutive values are far apart (Fibonacci hashing)."""
    a = max(1, round(count * 0.6180339887498949))
    while math.gcd(a, count) != 1:
        a += 1
    return a


def random_start(n: int, seed: int) -> Pegs:
    """The seed's start position: never the goal, and distinct for any 3^n - 1 consecutive seeds.

    Positions are numbered by their base-3 digits (digit d-1 = the peg of disk d); the goal, all
    on peg 2, is the largest number, 3^n - 1, and is left out. Seed s takes number s·a mod
    (3^n - 1), a permutation, so 20 seeds give 20 different puzzles whenever there are 20 (a
    random draw would repeat some: 4 disks have 80 starts). Seed 0 gives number 0, the classic start.
    """
    count = 3**n - 1
    index = seed * _scrambler(count) % count
    return _pegs_of([index // 3**d % 3 for d in range(n)])


def classic_start(n: int) -> Pegs:
    return (tuple(range(n, 0, -1)), (), ())


def _out_of_place(pegs: Pegs) -> list[Move]:
    """The standard recursive solution, unrolled: from the largest disk down, each disk that is
    not on its target, as the move (disk, its peg, target) it must eventually make.

    The first target is the goal peg. Before disk D can move from P to its target T, every
    smaller disk must be on the third peg, 3 - P - T, which becomes the target of the smaller
    disks. The last entry is the next move of the shortest solution.
    """
    where = {disk: i for i, peg in enumerate(pegs) for disk in peg}
    target, out = GOAL, []
    for disk in range(len(where), 0, -1):
        if where[disk] != target:
            out.append((disk, where[disk], target))
            target = 3 - where[disk] - target
    return out


def optimal_move(pegs: Pegs) -> Move | None:
    """The next move of the shortest solution from `pegs` (None at the goal)."""
    plan = _out_of_place(pegs)
    return plan[-1] if plan else None


def moves_needed(pegs: Pegs) -> int:
    """Length of the shortest solution: 2^(D-1) for each out-of-place disk D (its own move, then
    the D-1 smaller disks moved back onto it as a tower)."""
    return sum(2 ** (disk - 1) for disk, _, _ in _out_of_place(pegs))


def optimal_solution(pegs: Pegs) -> list[Move]:
    """Every move of the shortest solution from `pegs`, in order (linear in its length)."""
    moves: list[Move] = []
    for disk, src, dst in reversed(_out_of_place(pegs)):  # innermost level first
        moves.append((disk, src, dst))
        _tower(disk - 1, 3 - src - dst, dst, moves)  # the smaller disks, now on the third peg
    return moves


def _tower(k: int, src: int, dst: int, out: list[Move]) -> None:
    """Append the classic transfer of disks 1..k from `src` to `dst` (recursion depth k ≤ 20)."""
    if k:
        via = 3 - src - dst
        _tower(k - 1, src, via, out)
        out.append((k, src, dst))
        _tower(k - 1, via, dst, out)


def _cycle(n: int) -> tuple[int, int, int]:
    """Where disk 1 goes next from peg i: 0→2→1→0 for odd n, 0→1→2→0 for even n."""
    return (2, 0, 1) if n % 2 else (1, 2, 0)


def maker_move(n: int, state: HanoiState) -> Move:
    """The strategy move from any state: disk 1 on alternate moves, else the only other legal move."""
    pegs = state.pegs
    small = next((i for i in range(3) if pegs[i] and pegs[i][-1] == 1), None)
    if small is None:  # disk 1 is always on top of some peg in legal play
        raise ValueError(f"no peg has disk 1 on top: {pegs}")
    if state.last is None or state.last[0] != 1:
        return (1, small, _cycle(n)[small])
    a, b = (i for i in range(3) if i != small)
    ta, tb = (pegs[a][-1] if pegs[a] else None), (pegs[b][-1] if pegs[b] else None)
    if ta is None and tb is None:
        return (1, small, _cycle(n)[small])
    if tb is None or (ta is not None and ta < tb):
        return (ta, a, b)
    return (tb, b, a)


def _legal_moves(pegs: Pegs) -> list[Move]:
    return [
        (pegs[f][-1], f, t)
        for f in range(3)
        for t in range(3)
        if f != t and pegs[f] and (not pegs[t] or pegs[t][-1] > pegs[f][-1])
    ]


def _move(pegs: Pegs, move: Move) -> Pegs:
    disk, f, t = move
    out = list(pegs)
    out[f] = pegs[f][:-1]
    out[t] = pegs[t] + (disk,)
    return (out[0], out[1], out[2])


# --- the rules of a move, one function each; `illegal` reports the first one broken ------------
def _no_such_disk(n: int, pegs: Pegs, move: Move) -> str | None:
    disk = move[0]
    return None if 1 <= disk <= n else f"there is no disk {disk} (disks are 1 to {n})"


def _no_such_peg(n: int, pegs: Pegs, move: Move) -> str | None:
    bad = [p for p in move[1:] if not 0 <= p <= 2]
    return f"there is no peg {bad[0]} (pegs are 0, 1, 2)" if bad else None


def _same_peg(n: int, pegs: Pegs, move: Move) -> str | None:
    return f"a move needs two different pegs, got {move[1]} twice" if move[1] == move[2] else None


def _empty_source(n: int, pegs: Pegs, move: Move) -> str | None:
    f = move[1]
    return f"peg {f} is empty" if 0 <= f <= 2 and not pegs[f] else None


def _not_on_top(n: int, pegs: Pegs, move: Move) -> str | None:
    disk, f, _ = move
    if 0 <= f <= 2 and pegs[f] and pegs[f][-1] != disk:
        return f"disk {disk} is not on top of peg {f}"
    return None


def _onto_smaller(n: int, pegs: Pegs, move: Move) -> str | None:
    disk, _, t = move
    if 0 <= t <= 2 and pegs[t] and pegs[t][-1] < disk:
        return f"disk {disk} cannot go on the smaller disk {pegs[t][-1]}"
    return None


RULES: tuple[Callable[[int, Pegs, Move], str | None], ...] = (
    _no_such_disk, _no_such_peg, _same_peg, _empty_source, _not_on_top, _onto_smaller,
)


def _fmt(move: Move) -> str:
    return f"[{move[0]}, {move[1]}, {move[2]}]"


def _fmt_pegs(pegs: Pegs) -> str:
    return " | ".join(f"peg {i}: [{', '.join(map(str, p))}]" for i, p in enumerate(pegs))


def _parse_move(pattern: re.Pattern[str], text: str) -> Move:
    m = pattern.fullmatch(text)
    if not m:
        raise ParseError(f"expected one move [disk, from, to], got {text[:40]!r}")
    return int(m[1]), int(m[2]), int(m[3])


class MoveSteps(Sequence[Step]):
    """The plan's `n` moves as steps, each made when asked for: 20 disks are a million moves,
    and a million Step objects held at once would be ~200 MB."""

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        j = i + self._n if i < 0 else i
        if not 0 <= j < self._n:
            raise IndexError(f"move {i} of {self._n}")
        return Step(j, (j + 1,), f"move {j + 1}")

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


class Hanoi(Scenario[HanoiInstance, HanoiState, Move]):
    name = "hanoi"
    summary = "Tower of Hanoi from a random or the classic start: one move per step, illegal moves rejected"
    Params = HanoiParams
    max_answer_chars = 32

    def generate(self, params: HanoiParams, seed: int) -> HanoiInstance:
        n = params.disks
        start = classic_start(n) if params.start == "classic" else random_start(n, seed)
        return HanoiInstance(params, seed, start)

    def initial_state(self, inst: HanoiInstance) -> HanoiState:
        return HanoiState(inst.start, None)

    def steps(self, inst: HanoiInstance) -> Sequence[Step]:
        total, k = moves_needed(inst.start), inst.params.moves_per_call
        if k > 1:  # key: (first move, moves in the call)
            return [
                Step(i, (m + 1, n), f"move {m + 1}" if n == 1 else f"moves {m + 1} to {m + n}")
                for i, (m, n) in enumerate(chunks(total, k))
            ]
        return MoveSteps(total)  # one move a step: made on demand (a million at 20 disks)

    def solve(self, inst: HanoiInstance, state: HanoiState, step: Step) -> Any:
        if len(step.key) == 2:
            moves = []
            for _ in range(step.key[1]):
                moves.append(self._next(inst, state))
                state = HanoiState(_move(state.pegs, moves[-1]), moves[-1])
            return tuple(moves)
        return self._next(inst, state)

    def _next(self, inst: HanoiInstance, state: HanoiState) -> Move:
        """The move of the strategy the rules give: MAKER's from the classic start, else the
        recursive rule (the two agree on the classic start's shortest solution)."""
        if inst.classic:
            return maker_move(inst.n, state)
        # At the goal nothing is left to do; the plan never asks then (no solution is shorter
        # than the plan), but a move is still owed, so any legal one.
        return optimal_move(state.pegs) or _legal_moves(state.pegs)[0]

    def illegal(self, inst: HanoiInstance, state: HanoiState, step: Step, answer: Any) -> str | None:
        if len(step.key) == 2:  # each move where it is made, after the ones before it
            for j, move in enumerate(answer):
                why = self._illegal_move(inst, state.pegs, move)
                if why is not None:
                    return f"move {step.key[0] + j}: {why}"
                state = HanoiState(_move(state.pegs, move), move)
            return None
        return self._illegal_move(inst, state.pegs, answer)

    @staticmethod
    def _illegal_move(inst: HanoiInstance, pegs: Pegs, move: Move) -> str | None:
        for rule in RULES:
            why = rule(inst.n, pegs, move)
            if why is not None:
                return why
        return None

    def check(self, inst: HanoiInstance, state: HanoiState, step: Step, answer: Any) -> Verdict:
        if len(step.key) != 2:
            return super().check(inst, state, step, answer)
        expected = self.solve(inst, state, step)
        why = self.illegal(inst, state, step, answer)
        if why is not None:  # the right moves too, so the record can count the moves that were right
            return Verdict.reject(
                "illegal", f"{why} ({atoms_wrong_reason(answer, expected, 'moves', step)})",
                expected=self.to_json_answer(expected), observed=self.to_json_answer(answer),
            )
        return bundle_verdict(self, inst, step, answer, expected, "moves")

    def apply(self, inst: HanoiInstance, state: HanoiState, step: Step, answer: Any) -> HanoiState:
        if len(step.key) == 2:
            for move in answer:
                state = HanoiState(_move(state.pegs, move), move)
            return state
        return HanoiState(_move(state.pegs, answer), answer)

    def is_goal(self, inst: HanoiInstance, state: HanoiState) -> bool:
        return len(state.pegs[GOAL]) == inst.n

    def corrupt(self, inst, state: HanoiState, step, answer: Any, rng: random.Random) -> Any:
        if len(step.key) == 2:
            i = rng.randrange(len(answer))
            return answer[:i] + (self.corrupt_atom(inst, state, step, answer, i, rng),) + answer[i + 1:]
        return self._corrupt_move(state, answer, rng)

    # --- calls of several moves: atoms are the moves -------------------------------------------------
    def atoms(self, inst: HanoiInstance, step: Step, answer: Any) -> Sequence[Any]:
        return tuple(answer) if len(step.key) == 2 else (answer,)

    def join_atoms(self, inst: HanoiInstance, step: Step, atoms: Sequence[Any]) -> Any:
        return tuple(atoms) if len(step.key) == 2 else atoms[0]

    def corrupt_atom(self, inst, state: HanoiState, step, answer: Any, i: int, rng: random.Random) -> Any:
        if len(step.key) != 2:
            return self._corrupt_move(state, answer, rng)
        for move in answer[:i]:  # the position move i is made from, after the right moves before it
            state = HanoiState(_move(state.pegs, move), move)
        return self._corrupt_move(state, answer[i], rng)

    def answer_chars(self, inst: HanoiInstance) -> int:
        return self.max_answer_chars * inst.params.moves_per_call

    @staticmethod
    def _corrupt_move(state: HanoiState, answer: Move, rng: random.Random) -> Move:
        wrong = [m for m in _legal_moves(state.pegs) if m != answer]
        if wrong:
            return rng.choice(wrong)
        disk, f, t = answer
        return (disk, f, 3 - f - t)

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: HanoiInstance) -> str:
        n = inst.n
        head = (
            f"Tower of Hanoi with {n} disks numbered 1 (smallest) to {n} (largest) on pegs 0, 1, 2. "
            + ("All disks start on peg 0" if inst.classic else "The disks start as shown")
            + "; the goal is to move them all to peg 2. A move is [disk, from, to]: the disk must be on "
            "top of peg `from`, and may only go on an empty peg or on a larger disk.\n"
        )
        if inst.classic:
            order = "0 -> 2 -> 1 -> 0" if n % 2 else "0 -> 1 -> 2 -> 0"
            return head + (
                "Strategy: if the previous move did not move disk 1 (or there was none), move disk 1 one peg "
                f"along the cycle {order}; otherwise make the only legal move that does not involve disk 1."
            )
        return head + (
            "Strategy (it gives the shortest solution): to find the next move, take peg 2 as the target and "
            "go through the disks from the largest down. Skip each disk already on the target. A disk D that "
            "is not on the target must move there from its peg P, and before that every smaller disk must be "
            "on the third peg (neither P nor the target): that third peg becomes the target, and you go on "
            "with the smaller disks. The next move is the move of the last disk D found this way, from its "
            "peg to its target."
        )

    def show_initial(self, inst: HanoiInstance) -> str:
        return "Pegs (bottom to top): " + _fmt_pegs(self.initial_state(inst).pegs)

    def oneshot_format(self, inst: HanoiInstance) -> str:
        return f"Write all {moves_needed(inst.start)} moves in order, one per line, as [disk, from, to], and nothing else."

    def window(self, inst: HanoiInstance, state: HanoiState, step: Step) -> str:
        last = _fmt(state.last) if state.last else "none"
        return f"Pegs (bottom to top): {_fmt_pegs(state.pegs)}. Previous move: {last}."

    def step_prompt(self, inst: HanoiInstance, step: Step, window: str | None) -> str:
        head = f"{step.label}." if window is None else f"{step.label}. {window}"
        if len(step.key) == 2 and step.key[1] > 1:
            return f"{head} What are the next {step.key[1]} moves? Answer with one [disk, from, to] per line, in order, only."
        return f"{head} What is the next move? Answer with [disk, from, to] only."

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> Any:
        if len(step.key) == 2:  # exactly step.key[1] moves, one a line
            n = step.key[1]
            moves = parse_lines(text, lambda line: _parse_move(_MOVE_REPLY, line), "moves", limit=n + 1)
            if len(moves) != n:
                raise ParseError(f"expected {n} moves, one a line, got {len(moves)}")
            return tuple(moves)
        return _parse_move(_MOVE_REPLY, strip_reply(text))

    def format_answer(self, answer: Any) -> str:
        if answer and isinstance(answer[0], tuple):
            return "\n".join(_fmt(m) for m in answer)
        return _fmt(answer)

    def parse_trajectory(self, inst: HanoiInstance, text: str) -> list[Any]:
        moves = parse_lines(text, lambda line: _parse_move(_MOVE, line), "moves", limit=moves_needed(inst.start))
        k = inst.params.moves_per_call
        if k > 1:  # whole calls only: a call cut short has no answer
            return whole_calls([tuple(moves[m:m + n]) for m, n in chunks(moves_needed(inst.start), k) if m + n <= len(moves)])
        return moves

    def format_trajectory(self, inst: HanoiInstance, answers: Sequence[Any]) -> str:
        return "\n".join(_fmt(m) for m in self._flat(inst, answers))

    def _flat(self, inst: HanoiInstance, answers: Sequence[Any]) -> list[Move]:
        return [m for a in answers for m in a] if inst.params.moves_per_call > 1 else list(answers)

    def to_json_answer(self, answer: Any) -> list[Any]:
        if answer and isinstance(answer[0], (tuple, list)):
            return [list(m) for m in answer]
        return list(answer)

    def initial_json(self, inst: HanoiInstance) -> list[list[int]]:
        return [list(p) for p in self.initial_state(inst).pegs]

    def expected_json(self, inst: HanoiInstance) -> list[list[int]]:
        # Both strategies give the shortest solution from the start (one rule, not one simulation
        # per strategy: a million moves at 20 disks).
        return [list(m) for m in optimal_solution(inst.start)]

    def result_json(self, inst: HanoiInstance, state: HanoiState, answers: Sequence[Any]) -> list[list[int]]:
        return [list(m) for m in self._flat(inst, answers)]
