"""Tower of Hanoi: move n disks from peg 0 to peg 2 in the optimal 2^n − 1 moves.

Atomic step: one move `[disk, from, to]`. As in MAKER (arXiv 2511.09030) the agent is given the
strategy that makes each move a local decision: its context is the current pegs and the
previous move. Illegal moves are rejected with code `illegal` and never committed.
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
from agentloop.types import Step

Move = tuple[int, int, int]  # (disk, from_peg, to_peg); disks 1..n, 1 the smallest
Pegs = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # bottom to top

_MOVE = re.compile(r"\[?\s*(\d+)\s*[,\s]\s*(\d+)\s*[,\s]\s*(\d+)\s*\]?")
_MOVE_REPLY = re.compile(r"(?:move\s*[:=]?\s*)?" + _MOVE.pattern, re.IGNORECASE)


class HanoiParams(Params):
    disks: int = Field(default=4, ge=1, le=20, description="number of disks (2^disks - 1 moves)")


@dataclass(frozen=True)
class HanoiInstance:
    params: HanoiParams
    seed: int

    @property
    def n(self) -> int:
        return self.params.disks


class HanoiState(NamedTuple):
    pegs: Pegs
    last: Move | None


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


def _fmt(move: Move) -> str:
    return f"[{move[0]}, {move[1]}, {move[2]}]"


def _fmt_pegs(pegs: Pegs) -> str:
    return " | ".join(f"peg {i}: [{', '.join(map(str, p))}]" for i, p in enumerate(pegs))


class Hanoi(Scenario[HanoiInstance, HanoiState, Move]):
    name = "hanoi"
    summary = "Tower of Hanoi with MAKER's strategy: one move per step, illegal moves rejected"
    Params = HanoiParams
    max_answer_chars = 32

    def generate(self, params: HanoiParams, seed: int) -> HanoiInstance:
        return HanoiInstance(params, seed)  # the puzzle is fixed by its size; the seed only samples models

    def initial_state(self, inst: HanoiInstance) -> HanoiState:
        return HanoiState((tuple(range(inst.n, 0, -1)), (), ()), None)

    def steps(self, inst: HanoiInstance) -> list[Step]:
        return [Step(i, (i + 1,), f"move {i + 1}") for i in range(2**inst.n - 1)]

    def solve(self, inst: HanoiInstance, state: HanoiState, step: Step) -> Move:
        return maker_move(inst.n, state)

    def illegal(self, inst: HanoiInstance, state: HanoiState, step: Step, answer: Move) -> str | None:
        disk, f, t = answer
        if not (1 <= disk <= inst.n):
            return f"there is no disk {disk} (disks are 1 to {inst.n})"
        if not (0 <= f <= 2 and 0 <= t <= 2) or f == t:
            return f"pegs must be two different numbers among 0, 1, 2, got {f} and {t}"
        src, dst = state.pegs[f], state.pegs[t]
        if not src or src[-1] != disk:
            return f"disk {disk} is not on top of peg {f}"
        if dst and dst[-1] < disk:
            return f"disk {disk} cannot go on the smaller disk {dst[-1]}"
        return None

    def apply(self, inst: HanoiInstance, state: HanoiState, step: Step, answer: Move) -> HanoiState:
        return HanoiState(_move(state.pegs, answer), answer)

    def is_goal(self, inst: HanoiInstance, state: HanoiState) -> bool:
        return len(state.pegs[2]) == inst.n

    def corrupt(self, inst, state: HanoiState, step, answer: Move, rng: random.Random) -> Move:
        wrong = [m for m in _legal_moves(state.pegs) if m != answer]
        if wrong:
            return rng.choice(wrong)
        disk, f, t = answer
        return (disk, f, 3 - f - t)

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: HanoiInstance) -> str:
        order = "0 -> 2 -> 1 -> 0" if inst.n % 2 else "0 -> 1 -> 2 -> 0"
        return (
            f"Tower of Hanoi with {inst.n} disks numbered 1 (smallest) to {inst.n} (largest) on pegs 0, 1, 2. "
            "All disks start on peg 0; the goal is to move them all to peg 2. A move is [disk, from, to]: "
            "the disk must be on top of peg `from`, and may only go on an empty peg or on a larger disk.\n"
            "Strategy: if the previous move did not move disk 1 (or there was none), move disk 1 one peg "
            f"along the cycle {order}; otherwise make the only legal move that does not involve disk 1."
        )

    def show_initial(self, inst: HanoiInstance) -> str:
        return "Pegs (bottom to top): " + _fmt_pegs(self.initial_state(inst).pegs)

    def oneshot_format(self, inst: HanoiInstance) -> str:
        return f"Write all {2**inst.n - 1} moves in order, one per line, as [disk, from, to], and nothing else."

    def window(self, inst: HanoiInstance, state: HanoiState, step: Step) -> str:
        last = _fmt(state.last) if state.last else "none"
        return f"Pegs (bottom to top): {_fmt_pegs(state.pegs)}. Previous move: {last}."

    def step_prompt(self, inst: HanoiInstance, step: Step, window: str | None) -> str:
        head = f"{step.label}." if window is None else f"{step.label}. {window}"
        return f"{head} What is the next move? Answer with [disk, from, to] only."

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> Move:
        m = _MOVE_REPLY.fullmatch(strip_reply(text))
        if not m:
            raise ParseError(f"expected one move [disk, from, to], got {text[:40]!r}")
        return int(m[1]), int(m[2]), int(m[3])

    def format_answer(self, answer: Move) -> str:
        return _fmt(answer)

    def parse_trajectory(self, inst: HanoiInstance, text: str) -> list[Move]:
        def move(line: str) -> Move:
            m = _MOVE.fullmatch(line)
            if not m:
                raise ParseError(f"not a move [disk, from, to]: {line[:40]!r}")
            return int(m[1]), int(m[2]), int(m[3])

        return parse_lines(text, move, "moves")

    def format_trajectory(self, inst: HanoiInstance, answers: Sequence[Move]) -> str:
        return "\n".join(_fmt(m) for m in answers)

    def to_json_answer(self, answer: Move) -> list[int]:
        return list(answer)

    def initial_json(self, inst: HanoiInstance) -> list[list[int]]:
        return [list(p) for p in self.initial_state(inst).pegs]

    def expected_json(self, inst: HanoiInstance) -> list[list[int]]:
        state, moves = self.initial_state(inst), []
        for step in self.steps(inst):
            move = maker_move(inst.n, state)
            moves.append(list(move))
            state = HanoiState(_move(state.pegs, move), move)
        return moves

    def result_json(self, inst: HanoiInstance, state: HanoiState, answers: Sequence[Move]) -> list[list[int]]:
        return [list(m) for m in answers]
