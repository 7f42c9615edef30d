"""TextArena's single-player games as agentloop scenarios (the `[arena]` extra; docs/interop.md).

The game is TextArena's own environment: one step is one turn, the agent's reply is one move
(`[A C]`, `[3 4 7]`, `[2 5 e]`), the environment's invalid-move signal is the `illegal` verdict
(an illegal move is never committed), and its reward is success (`is_goal`: reward 1).

Most games have no oracle: they `check` and do not `solve`, so an episode is on track while every
committed move was accepted, and simulated models (`scripted/*`) cannot play them. Crosswords and
Sudoku do (`_FillGame`): TextArena accepts only the right value in an empty cell, so the plan is
one turn per empty cell and the environment's hidden solution answers each; they pass the
registry-wide contract tests and are registered by name (`ta/Crosswords-v0`, `ta/Sudoku-v0`), as
is Tower of Hanoi, whose oracle is agentloop's recursive rule (`ta/TowerOfHanoi-v0`).

State. A TextArena environment is a mutable object; a scenario's state must be an immutable
value. The state here is the tuple of moves committed so far, and the environment is rebuilt by
replaying them into a fresh `reset(seed=...)`: `_replay` keeps (in an LRU cache) the environment
after each prefix of moves and extends a copy of it, so a move costs one environment step and a
deep copy, and nothing a caller holds is ever mutated. TextArena seeds Python's global `random`
on reset; every call into it saves and restores that state, so a game never disturbs the caller.

For the games without an oracle, the turn limit is the environment's own (`max_turns` of its registration), or the `max_turns`
parameter when it is lower. (TextArena tests its limit before counting the move, so its own games
would take one move more; the plan stops at the limit, and a game not won by then has failed.)
The loop's plan has one step per turn and no early stop: once the
game is won, each remaining turn is a no-op (any readable move is accepted and ignored); once it
is lost (out of turns), the next move is illegal and the episode ends as failed.

textarena is imported on the first instance, never at `import agentloop`.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from agentloop.errors import AgentloopError, ParseError
from agentloop.scenarios._base import Params, Scenario, parse_lines
from agentloop.scenarios.hanoi import optimal_move
from agentloop.types import Step, Verdict

INSTALL = "pip install 'agentloop[arena]'"
PIN = "0.7.4"
# Games checked offline with textarena 0.7.4 (make, reset, a full game with no network).
OFFLINE = ("Crosswords-v0", "Sudoku-v0", "TowerOfHanoi-v0", "Minesweeper-v0")
# Games that cannot run here, and why.
UNAVAILABLE = {
    "Wordle-v0": "needs nltk's 'words' corpus, which textarena downloads on reset (nltk.download) and "
    "which is not bundled; TextArena offers no way to pass a word list instead, so it is not served "
    "agentloop's own (agentloop's `wordle` scenario plays Wordle offline)",
}


def available() -> bool:
    """Whether textarena is installed (looked up without importing it)."""
    return importlib.util.find_spec("textarena") is not None


def _summary(text: str) -> str:
    return text if available() else f"{text} (needs the [arena] extra: {INSTALL})"


def _ta() -> Any:
    try:
        import textarena
    except ImportError:
        raise AgentloopError(f"TextArena games need the [arena] extra: {INSTALL}") from None
    return textarena


class _KeepRandom:
    """Save and restore Python's global random state around TextArena calls (it reseeds it)."""

    def __enter__(self) -> None:
        self.saved = random.getstate()

    def __exit__(self, *exc: Any) -> None:
        random.setstate(self.saved)


def env_spec(env_id: str) -> dict[str, Any]:
    """The keyword arguments TextArena registered `env_id` with (its `max_turns` among them)."""
    if env_id in UNAVAILABLE:
        raise AgentloopError(f"ta/{env_id} is unavailable: {UNAVAILABLE[env_id]}")
    ta = _ta()
    from textarena.envs.registration import ENV_REGISTRY

    if env_id not in ENV_REGISTRY:
        raise AgentloopError(f"TextArena has no environment {env_id!r} (textarena {getattr(ta, '__version__', '?')})")
    return dict(ENV_REGISTRY[env_id].kwargs)


@dataclass(frozen=True)
class Played:
    """What the environment says after a sequence of moves (an immutable summary)."""

    board: str  # the latest board observation
    news: str  # what the environment said since the last move (the move's effect), without the board
    done: bool
    reward: float | None
    reason: str | None  # why the game ended, when it did
    turn: int


@functools.lru_cache(maxsize=64)
def _env_after(env_id: str, seed: int, max_turns: int, moves: tuple[str, ...]) -> Any:
    """The raw (unwrapped) environment after `moves`; never mutated once cached (callers copy).
    A move the environment rejects raises `_Invalid`."""
    with _KeepRandom():
        if not moves:
            env = _ta().make(f"{env_id}-raw", max_turns=max_turns)
            env.reset(num_players=1, seed=seed)
            return env
        env = copy.deepcopy(_env_after(env_id, seed, max_turns, moves[:-1]))
        if env.state.done:
            raise _Invalid("the game is over")
        why = _step(env, moves[-1])
    if why is not None:
        raise _Invalid(why)
    return env


class _Invalid(Exception):
    pass


def _step(env: Any, move: str) -> str | None:
    """Play `move` on `env`; the environment's reason when it signals an invalid move."""
    st = env.state
    seen = len(st.observations[0])
    env.step(move)
    if st.error_count > 0 or st.game_info.get(0, {}).get("invalid_move"):
        for _, msg, _kind in reversed(st.observations[0][seen:]):
            if "invalid move" in msg.lower():
                return msg.split("Reason:", 1)[-1].split("Please resubmit")[0].strip() or msg
        return str(st.game_info.get(0, {}).get("reason") or "invalid move")
    return None


def played(env_id: str, seed: int, max_turns: int, moves: tuple[str, ...]) -> Played:
    env = _env_after(env_id, seed, max_turns, moves)
    st = env.state
    kinds = _ta().ObservationType
    obs = st.observations[0]
    board = next((m for _, m, k in reversed(obs) if k == kinds.GAME_BOARD), "")
    last = max((i for i, (_, _, k) in enumerate(obs) if k == kinds.PLAYER_ACTION), default=len(obs) - 1)
    news = "\n".join(m for _, m, k in obs[last + 1 :] if k not in (kinds.GAME_BOARD, kinds.PLAYER_ACTION, kinds.PROMPT))
    reward = (st.rewards or {}).get(0)
    return Played(board, news, bool(st.done), reward, st.game_info.get(0, {}).get("reason"), int(st.turn))


def _prompt(env_id: str, seed: int, max_turns: int) -> str:
    env = _env_after(env_id, seed, max_turns, ())
    kinds = _ta().ObservationType
    return next((m for _, m, k in env.state.observations[0] if k == kinds.PROMPT), "")


class ArenaParams(Params):
    # Default 0: the environment's own turn limit; a positive value lowers it (never raises it).
    max_turns: int = Field(0, ge=0, le=1000, description="turn limit; 0: the environment's own")


@dataclass(frozen=True)
class ArenaInstance:
    env_id: str
    seed: int
    max_turns: int


Moves = tuple[str, ...]
_ANY_STEP = Step(0, (1,), "turn 1")  # parse does not depend on the step


class ArenaGame(Scenario[ArenaInstance, Moves, str]):
    """A TextArena single-player game, one move per turn, judged by the environment."""

    env_id: ClassVar[str] = ""
    # The move inside the brackets; groups are normalised by `_norm`. Default: anything short.
    move_pattern: ClassVar[re.Pattern[str]] = re.compile(r"\[([^\[\]\n]{1,40})\]")
    move_example: ClassVar[str] = "[...]"
    Params = ArenaParams
    checker = "simulator"
    max_answer_chars = 32
    # The optional extra, and whether it is installed (as the rg/* scenarios declare it).
    extra: ClassVar[str] = "arena"
    extra_available: ClassVar[bool] = available()

    # --- instance and game -------------------------------------------------------------
    def generate(self, params: ArenaParams, seed: int) -> ArenaInstance:
        own = int(env_spec(self.env_id).get("max_turns") or 100)
        turns = min(own, params.max_turns) if params.max_turns else own
        return ArenaInstance(self.env_id, seed, turns)

    def _played(self, inst: ArenaInstance, moves: Moves) -> Played:
        return played(inst.env_id, inst.seed, inst.max_turns, moves)

    def initial_state(self, inst: ArenaInstance) -> Moves:
        return ()

    def steps(self, inst: ArenaInstance) -> list[Step]:
        return [Step(i, (i + 1,), f"turn {i + 1}") for i in range(inst.max_turns)]

    def illegal(self, inst: ArenaInstance, state: Moves, step: Step, answer: str) -> str | None:
        now = self._played(inst, state)
        if now.done:
            return None if self._won(now) else f"the game is over: {now.reason}"
        try:
            _env_after(inst.env_id, inst.seed, inst.max_turns, (*state, answer))
        except _Invalid as exc:
            return str(exc)
        return None

    def check(self, inst: ArenaInstance, state: Moves, step: Step, answer: str) -> Verdict:
        why = self.illegal(inst, state, step, answer)
        if why is not None:
            return Verdict.reject("illegal", why, observed=answer)
        return Verdict.accept(answer)

    def apply(self, inst: ArenaInstance, state: Moves, step: Step, answer: str) -> Moves:
        if self._played(inst, state).done:
            return state  # the game is won: a move after it is a no-op
        return (*state, answer)

    @staticmethod
    def _won(p: Played) -> bool:
        return p.done and p.reward is not None and p.reward >= 1

    def is_goal(self, inst: ArenaInstance, state: Moves) -> bool:
        return self._won(self._played(inst, state))

    # --- prompts ---------------------------------------------------------------------------
    def rules(self, inst: ArenaInstance) -> str:
        return (
            f"{_prompt(inst.env_id, inst.seed, inst.max_turns).strip()}\n\n"
            f"Each turn, reply with exactly one move in brackets, like {self.move_example}, and nothing else. "
            f"You have {inst.max_turns} turns."
        )

    def show_initial(self, inst: ArenaInstance) -> str:
        return self._played(inst, ()).board

    def window(self, inst: ArenaInstance, state: Moves, step: Step) -> str:
        p = self._played(inst, state)
        parts = [p.news] if p.news else []
        parts.append(p.board)
        if p.done:
            parts.append(f"The game is over: {p.reason}")
        return "\n".join(parts)

    def observation(self, inst: ArenaInstance, state: Moves, step: Step) -> str | None:
        return self.window(inst, state, step)

    def step_prompt(self, inst: ArenaInstance, step: Step, window: str | None) -> str:
        head = f"{window}\n\n" if window else ""
        return f"{head}Turn {step.index + 1} of {inst.max_turns}. Your move (one move in brackets, like {self.move_example}):"

    # --- answers ----------------------------------------------------------------------------
    def _norm(self, m: re.Match[str]) -> str:
        return "[" + " ".join(m.group(0)[1:-1].split()) + "]"

    def parse(self, text: str, step: Step) -> str:
        moves = {self._norm(m) for m in self.move_pattern.finditer(text[:4000])}
        if not moves:
            raise ParseError(f"no move like {self.move_example} found")
        if len(moves) > 1:
            raise ParseError(f"several different moves ({', '.join(sorted(moves)[:3])}); one move per turn")
        return moves.pop()

    def oneshot_format(self, inst: ArenaInstance) -> str:
        return (f"Write every move of the game at once, one move per line in brackets, like {self.move_example}, "
                f"at most {inst.max_turns} lines (stop when the game is won), and nothing else. "
                "You will not see the board between moves.")

    def parse_trajectory(self, inst: ArenaInstance, text: str) -> list[str]:
        """The moves, one a line; when they win the game before the turn limit, the turns left
        are filled with no-ops (the last move again), as the plan has a step for every turn."""
        turns = len(self.steps(inst))
        moves = parse_lines(text, lambda line: self.parse(line, _ANY_STEP), "moves", limit=turns)
        try:
            won = self._won(self._played(inst, tuple(moves)))
        except _Invalid:
            won = False
        return moves + [moves[-1]] * (turns - len(moves)) if won else moves

    def format_trajectory(self, inst: ArenaInstance, answers: Sequence[str]) -> str:
        return "\n".join(answers)

    def initial_json(self, inst: ArenaInstance) -> Any:
        # The board, not the seed: seeds that give the same game give the same initial record.
        return {"env": inst.env_id, "max_turns": inst.max_turns, "board": self.show_initial(inst)}

    def result_json(self, inst: ArenaInstance, state: Moves, answers: Sequence[str]) -> Any:
        p = self._played(inst, state)
        return {"moves": list(state), "done": p.done, "reward": p.reward, "reason": p.reason}

    def expected_json(self, inst: ArenaInstance) -> Any:
        """The game the oracle plays, as `result_json` records it (None for a game without one)."""
        return self.result_json(inst, self.true_final_state(inst), ()) if type(self).can_solve() else None


class _FillGame(ArenaGame):
    """A game in which every legal move fills one empty cell with its right value (TextArena
    rejects a wrong letter or digit, and a filled cell): the plan is one turn per empty cell
    (capped by the turn limit), so the game is won exactly when every step was legal, and the
    environment's hidden solution is an oracle (`solve`: the first empty cell, row by row)."""

    def _cells(self, inst: ArenaInstance, moves: Moves) -> list[tuple[int, int, str]]:
        """The empty cells after `moves`, row by row, each with its right value."""
        raise NotImplementedError

    def _move(self, r: int, c: int, value: str) -> str:
        """The move that writes `value` at (r, c), as the game reads it."""
        return f"[{r} {c} {value}]"

    def _others(self, value: str) -> list[str]:
        """The wrong values for a cell whose right value is `value`."""
        raise NotImplementedError

    def steps(self, inst: ArenaInstance) -> list[Step]:
        n = min(len(self._cells(inst, ())), inst.max_turns)
        return [Step(i, (i + 1,), f"turn {i + 1}") for i in range(n)]

    def solve(self, inst: ArenaInstance, state: Moves, step: Step) -> str:
        r, c, value = self._cells(inst, state)[0]
        return self._move(r, c, value)

    def on_track(self, inst: ArenaInstance, state: Moves, true_state: Moves) -> bool:
        # Every committed move filled a cell rightly (the only legal moves); the order is free.
        return True

    def corrupt(self, inst: ArenaInstance, state: Moves, step: Step, answer: str, rng: random.Random) -> str:
        """The same cell with a wrong value (TextArena rejects it)."""
        r, c, value = next((r, c, v) for r, c, v in self._cells(inst, state) if self._move(r, c, v) == answer)
        return self._move(r, c, rng.choice(self._others(value)))


class Crosswords(_FillGame):
    """TextArena's Crosswords-v0: fill the grid one letter per turn from the clues."""

    env_id = "Crosswords-v0"
    name = "ta/Crosswords-v0"
    summary = _summary("TextArena Crosswords-v0: fill a crossword one letter per turn, judged by TextArena")
    move_pattern = re.compile(r"\[\s*(\d{1,2})[\s,]+(\d{1,2})[\s,]+([A-Za-z])\s*\]")
    move_example = "[row column letter], e.g. [2 5 e]"

    def _norm(self, m: re.Match[str]) -> str:
        return f"[{int(m[1])} {int(m[2])} {m[3].upper()}]"

    def _cells(self, inst: ArenaInstance, moves: Moves) -> list[tuple[int, int, str]]:
        gs = _env_after(inst.env_id, inst.seed, inst.max_turns, moves).state.game_state
        return [(r, c, gs["solution"][r][c].upper()) for r, row in enumerate(gs["board"]) for c, cell in enumerate(row) if cell == "_"]

    def _others(self, value: str) -> list[str]:
        return [ch for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if ch != value]


class Sudoku(_FillGame):
    """TextArena's Sudoku-v0: a 9x9 Sudoku, one cell per turn, judged by TextArena."""

    env_id = "Sudoku-v0"
    name = "ta/Sudoku-v0"
    summary = _summary("TextArena Sudoku-v0: a 9x9 Sudoku, one cell per turn, judged by TextArena")
    move_pattern = re.compile(r"\[\s*([1-9])[\s,]+([1-9])[\s,]+([1-9])\s*\]")
    move_example = "[row column number], e.g. [3 4 7]"

    def _norm(self, m: re.Match[str]) -> str:
        return f"[{m[1]} {m[2]} {m[3]}]"

    def _cells(self, inst: ArenaInstance, moves: Moves) -> list[tuple[int, int, str]]:
        env = _env_after(inst.env_id, inst.seed, inst.max_turns, moves)
        board = env.state.game_state["board"]
        return [(r + 1, c + 1, str(env.full_grid[r][c])) for r in range(9) for c in range(9) if board[r][c] == 0]

    def _others(self, value: str) -> list[str]:
        return [d for d in "123456789" if d != value]


class TowerOfHanoi(ArenaGame):
    """TextArena's TowerOfHanoi-v0 (and its -medium/-hard/... variants): move the tower from A to
    C, one move per turn. TextArena judges each move's legality and the win; agentloop's recursive
    rule (`agentloop.scenarios.hanoi.optimal_move`) is the oracle, so the plan is the shortest
    solution (2^n - 1 moves, within the turn limit) and a legal move off it is `wrong`."""

    env_id = "TowerOfHanoi-v0"
    name = "ta/TowerOfHanoi-v0"
    summary = _summary("TextArena TowerOfHanoi-v0: 3 disks from A to C, one move per turn, judged by TextArena")
    move_pattern = re.compile(r"\[\s*([ABCabc])[\s,]+([ABCabc])\s*\]")
    move_example = "[source target], e.g. [A C]"
    PEGS = "ABC"

    def _norm(self, m: re.Match[str]) -> str:
        return f"[{m[1].upper()} {m[2].upper()}]"

    def _pegs(self, inst: ArenaInstance, moves: Moves) -> tuple[tuple[int, ...], ...]:
        towers = _env_after(inst.env_id, inst.seed, inst.max_turns, moves).state.game_state["towers"]
        return tuple(tuple(towers[p]) for p in self.PEGS)

    def steps(self, inst: ArenaInstance) -> list[Step]:
        n = min(2 ** len(self._pegs(inst, ())[0]) - 1, inst.max_turns)
        return [Step(i, (i + 1,), f"turn {i + 1}") for i in range(n)]

    def solve(self, inst: ArenaInstance, state: Moves, step: Step) -> str:
        move = optimal_move(self._pegs(inst, state))  # type: ignore[arg-type]
        if move is None:  # at the goal; the plan never asks then, but a move is owed: a no-op
            return "[A C]"
        return f"[{self.PEGS[move[1]]} {self.PEGS[move[2]]}]"

    def check(self, inst: ArenaInstance, state: Moves, step: Step, answer: str) -> Verdict:
        verdict = super().check(inst, state, step, answer)
        if verdict.ok and not self._played(inst, state).done:
            right = self.solve(inst, state, step)
            if answer != right:
                return Verdict.reject("wrong", f"legal, but the shortest solution moves {right}", expected=right, observed=answer)
        return verdict

    def corrupt(self, inst: ArenaInstance, state: Moves, step: Step, answer: str, rng: random.Random) -> str:
        """Another move between the pegs (legal or not): never the shortest solution's."""
        return rng.choice([f"[{a} {b}]" for a in self.PEGS for b in self.PEGS if a != b and f"[{a} {b}]" != answer])


class Minesweeper(ArenaGame):
    """TextArena's Minesweeper-v0: reveal every safe cell of an 8x8 board, one cell per turn."""

    env_id = "Minesweeper-v0"
    name = "ta/Minesweeper-v0"
    summary = _summary("TextArena Minesweeper-v0: reveal the safe cells of an 8x8 board, one per turn")
    move_pattern = re.compile(r"\[\s*(\d)[\s,]+(\d)\s*\]")
    move_example = "[row column], e.g. [3 2]"

    def _norm(self, m: re.Match[str]) -> str:
        return f"[{m[1]} {m[2]}]"


GAMES: dict[str, type[ArenaGame]] = {c.env_id: c for c in (Crosswords, Sudoku, TowerOfHanoi, Minesweeper)}


@functools.lru_cache(maxsize=None)
def arena_scenario(env_id: str) -> type[ArenaGame]:
    """The scenario class of TextArena's single-player `env_id`: a tuned one for the games above,
    a generic one (any bracketed move) for the others. AgentloopError when it is unavailable."""
    if env_id in GAMES:
        return GAMES[env_id]
    if env_id.startswith("TowerOfHanoi-v0-"):  # the bigger towers: the same game, more disks
        env_spec(env_id)
        return _game_class(TowerOfHanoi, env_id, f"TextArena's {env_id}: the tower from A to C, one move per turn.",
                           summary=_summary(f"TextArena {env_id}: Tower of Hanoi, one move per turn"))
    if env_id in UNAVAILABLE:
        raise AgentloopError(f"ta/{env_id} is unavailable: {UNAVAILABLE[env_id]}")
    env_spec(env_id)  # unknown → one-line error (and the extra's install line without it)
    return _game_class(ArenaGame, env_id, f"TextArena's {env_id}, one bracketed move per turn, judged by TextArena.")


def _game_class(base: type[ArenaGame], env_id: str, doc: str, **attrs: Any) -> type[ArenaGame]:
    """A scenario class for `env_id`, played like `base`."""
    return type(env_id.replace("-", "_"), (base,), {
        "__doc__": doc, "env_id": env_id, "name": f"ta/{env_id}", "__module__": __name__, **attrs,
    })
