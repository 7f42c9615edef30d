"""reasoning-gym's tasks as agentloop scenarios (the `[gym]` extra; docs/interop.md).

Every instance is reasoning-gym's: its generator draws it from the scenario's parameters (its
own difficulty parameters, validated) and the seed, and its own `score_answer` decides whether
the final answer solves it (`is_goal`, and so the episode's success).

Where agentloop has the same puzzle, the scenario takes reasoning-gym's instance and plays it
step by step with agentloop's simulator, whose verdicts are the per-step checker:

- `rg/ab` — A::B, one leftmost rewrite per step (agentloop's `ab`);
- `rg/game_of_life` — one cell of one generation per step, on a torus as reasoning-gym plays
  it (agentloop's `life` with `topology=torus`);
- `rg/mini_sudoku` — one cell per step, most constrained first (agentloop's 4x4 `sudoku`);
- `rg/tower_of_hanoi` — one move per step, reasoning-gym's move format and peg names, the
  3-peg recursive rule (agentloop's `hanoi`).

Every other task is one step whose answer is the whole answer, judged by `score_answer`
(`WholeTask`): oneshot, tape, vote, verify and full run it; stepwise needs a decomposition and
says so. reasoning_gym is imported on the first instance, never at `import agentloop`.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from pydantic import Field, ValidationInfo, create_model, field_validator, model_validator

from agentloop.errors import AgentloopError, ParseError
from agentloop.scenarios._base import Params, Scenario, parse_lines, strip_reply
from agentloop.scenarios.ab import Ab, AbInstance, fmt_seq, normal_form
from agentloop.scenarios.hanoi import optimal_move
from agentloop.scenarios.life import Life, LifeInstance, LifeParams
from agentloop.scenarios.sudoku import Sudoku, SudokuInstance, SudokuParams, _plan
from agentloop.types import Step, Verdict

INSTALL = "pip install 'agentloop[gym]'"
# The tasks with a step decomposition here (the others are whole-answer tasks).
DECOMPOSED = ("ab", "game_of_life", "mini_sudoku", "tower_of_hanoi")
# Registered by name (entry points in pyproject.toml). tower_of_hanoi has only a few dozen distinct
# instances (disks × start peg × target peg): the contract tests know its instance space.
BY_NAME = DECOMPOSED


def available() -> bool:
    """Whether reasoning-gym is installed (looked up without importing it)."""
    return importlib.util.find_spec("reasoning_gym") is not None


def _summary(text: str) -> str:
    return text if available() else f"{text} (needs the [gym] extra: {INSTALL})"


def _rg() -> Any:
    try:
        import reasoning_gym
    except ImportError:
        raise AgentloopError(f"reasoning-gym tasks need the [gym] extra: {INSTALL}") from None
    return reasoning_gym


def task_names() -> list[str]:
    """Every task reasoning-gym registers."""
    return sorted(_rg().factory.DATASETS)


_DATASETS: dict[tuple[str, str, int], Any] = {}


def _dataset(task: str, config: dict[str, Any], seed: int) -> Any:
    """reasoning-gym's dataset of one item for (task, config, seed), kept for its checker; its
    item 0 is the instance (reasoning-gym seeds item i with `seed + i`)."""
    key = (task, _config_key(config), seed)
    if key not in _DATASETS:
        rg = _rg()
        try:
            ds = rg.create_dataset(task, seed=seed, size=1, **config)
        except (AssertionError, TypeError, ValueError) as exc:  # reasoning-gym validates with asserts
            raise AgentloopError(f"rg/{task}: reasoning-gym refuses the parameters: {exc}") from None
        if len(_DATASETS) >= 512:
            _DATASETS.clear()
        _DATASETS[key] = ds
    return _DATASETS[key]


def _config_key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


@dataclass(frozen=True)
class RgItem:
    """reasoning-gym's item (question, answer, metadata) and how to draw it again."""

    task: str
    config: str  # the dataset's config, as JSON (identity)
    seed: int
    entry: dict[str, Any] = field(hash=False)
    values: dict[str, Any] = field(hash=False, compare=False, repr=False)  # the config itself

    @classmethod
    def draw(cls, task: str, config: dict[str, Any], seed: int) -> RgItem:
        return cls(task, _config_key(config), seed, _dataset(task, config, seed)[0], dict(config))

    @property
    def question(self) -> str:
        return str(self.entry["question"])

    @property
    def answer(self) -> str | None:
        a = self.entry.get("answer")
        return None if a is None else str(a)

    def score(self, answer: str | None) -> float:
        """reasoning-gym's own score of `answer` (0 to 1; 0 also when its checker fails)."""
        try:
            return float(_dataset(self.task, self.values, self.seed).score_answer(answer, self.entry))
        except Exception:
            return 0.0


def solved(score: float) -> bool:
    return score >= 1.0 - 1e-9


class _RgScenario:
    """What every rg/ scenario shares: its reasoning-gym task and item."""

    rg_task: ClassVar[str]
    # The optional extra these scenarios need, and whether it is installed: what a registry-wide
    # test needs to skip them without it (and fail under CI), as tests/conftest.py's requires_extra does.
    extra: ClassVar[str] = "gym"
    extra_available: ClassVar[bool] = available()

    def rg_config(self, params: Params) -> dict[str, Any]:
        """The reasoning-gym config for these parameters (default: the parameters as they are)."""
        return dict(params)

    def item(self, params: Params, seed: int) -> RgItem:
        return RgItem.draw(self.rg_task, self.rg_config(params), seed)


def _at_least(v: int, info: ValidationInfo, lower: str) -> int:
    """A maximum parameter checked against its minimum (the error names the maximum)."""
    if lower in info.data and v < info.data[lower]:
        raise ValueError(f"less than {lower}={info.data[lower]}")
    return v


# --- rg/ab --------------------------------------------------------------------------------------
class RgAbParams(Params):
    length: int = Field(default=10, ge=1, le=64, description="tokens in the program (reasoning-gym's length)")


@dataclass(frozen=True)
class RgAbInstance(AbInstance):
    item: RgItem


_PROGRAM = re.compile(r"following program:\s*\n\s*\n\s*(.*?)\s*\n", re.S)


class RgAb(_RgScenario, Ab):
    """reasoning-gym's A::B programs, one leftmost rewrite per step (agentloop's ab)."""

    name = "rg/ab"
    summary = _summary("reasoning-gym's A::B: its programs and checker, one leftmost rewrite per step")
    Params = RgAbParams
    rg_task = "ab"

    def generate(self, params: RgAbParams, seed: int) -> RgAbInstance:
        item = self.item(params, seed)
        m = _PROGRAM.search(item.question)
        if m is None:
            raise AgentloopError("rg/ab: reasoning-gym's question no longer shows the program where expected")
        return RgAbInstance(params, seed, tuple(m[1].split()), item)  # type: ignore[arg-type]

    def steps(self, inst: RgAbInstance) -> list[Step]:
        n = normal_form(inst.initial)[1]
        if n == 0:  # already in normal form: one step, to say so by copying it
            return [Step(0, (0,), "the normal form")]
        return [Step(i, (i + 1,), f"rewrite {i + 1}") for i in range(n)]

    def step_prompt(self, inst: RgAbInstance, step: Step, window: str | None) -> str:
        if step.key == (0,):  # the window already says that no pair faces
            head = "The sequence is already in normal form." if window is None else window
            return f"{head} Answer with the whole sequence, unchanged."
        return super().step_prompt(inst, step, window)

    def is_goal(self, inst: RgAbInstance, state: tuple[str, ...]) -> bool:
        return solved(inst.item.score(" ".join(state)))

    def expected_json(self, inst: RgAbInstance) -> str:
        return fmt_seq(tuple((inst.item.answer or "").split()))


# --- rg/game_of_life ------------------------------------------------------------------------------
class RgLifeParams(Params):
    grid_size_x: int = Field(default=10, ge=3, le=64, description="board rows (reasoning-gym's grid_size_x)")
    grid_size_y: int = Field(default=10, ge=3, le=64, description="board columns (reasoning-gym's grid_size_y)")
    filled_cells: int = Field(default=10, ge=0, le=4096, description="live cells drawn at random (a cell drawn twice counts once)")
    simulation_steps: int = Field(default=1, ge=1, le=200, description="generations to compute")

    @field_validator("filled_cells")
    @classmethod
    def _fits(cls, v: int, info: ValidationInfo) -> int:
        cells = info.data.get("grid_size_x", 3) * info.data.get("grid_size_y", 3)
        if v > cells:
            raise ValueError(f"more than the board's {cells} cells")
        return v


@dataclass(frozen=True)
class RgLifeInstance(LifeInstance):
    item: RgItem


class RgLife(_RgScenario, Life):
    """reasoning-gym's Game of Life boards, one cell of one generation per step, on a torus."""

    name = "rg/game_of_life"
    summary = _summary("reasoning-gym's Game of Life (wrapping board): one cell of one generation per step")
    Params = RgLifeParams
    rg_task = "game_of_life"

    def generate(self, params: RgLifeParams, seed: int) -> RgLifeInstance:
        item = self.item(params, seed)
        # The board is the question's last paragraph: a JSON array of rows, then a full stop.
        board = json.loads(item.question.rstrip().rsplit("\n\n", 1)[-1].rstrip("."))
        life = LifeParams(rows=params.grid_size_x, cols=params.grid_size_y, steps=params.simulation_steps, topology="torus")
        return RgLifeInstance(life, seed, tuple(tuple(int(v) for v in row) for row in board), item)

    def is_goal(self, inst: RgLifeInstance, state: Any) -> bool:
        return not state.partial and solved(inst.item.score(json.dumps([list(r) for r in state.boards[-1]])))

    def expected_json(self, inst: RgLifeInstance) -> list[list[int]]:
        return json.loads(inst.item.answer or "[]")


# --- rg/mini_sudoku -------------------------------------------------------------------------------
class RgSudokuParams(Params):
    min_empty: int = Field(default=8, ge=1, le=12, description="fewest empty cells (reasoning-gym's min_empty)")
    max_empty: int = Field(default=12, ge=1, le=12, description="most empty cells (reasoning-gym's max_empty)")

    @field_validator("max_empty")
    @classmethod
    def _ordered(cls, v: int, info: ValidationInfo) -> int:
        return _at_least(v, info, "min_empty")


@dataclass(frozen=True)
class RgSudokuInstance(SudokuInstance):
    item: RgItem


class RgSudoku(_RgScenario, Sudoku):
    """reasoning-gym's 4x4 Sudoku puzzles, one cell per step, most constrained first."""

    name = "rg/mini_sudoku"
    summary = _summary("reasoning-gym's 4x4 Sudoku: one cell per step, most constrained first")
    Params = RgSudokuParams
    rg_task = "mini_sudoku"

    def generate(self, params: RgSudokuParams, seed: int) -> RgSudokuInstance:
        item = self.item(params, seed)
        meta = item.entry["metadata"]
        puzzle = tuple(int(v) for row in meta["puzzle"] for v in row)
        solution = tuple(int(v) for row in meta["solution"] for v in row)
        inner = SudokuParams(size=4, givens=sum(1 for v in puzzle if v))
        return RgSudokuInstance(inner, seed, puzzle, solution, _plan(puzzle, solution, 4), item)

    def is_goal(self, inst: RgSudokuInstance, state: tuple[int, ...]) -> bool:
        text = "\n".join(" ".join(str(v) for v in state[r * 4 : r * 4 + 4]) for r in range(4))
        return solved(inst.item.score(text))


# --- rg/tower_of_hanoi ------------------------------------------------------------------------------
Move = tuple[int, int, int]  # (disk, from peg, to peg), reasoning-gym's peg numbers (1 to 3)
_NUM = r"([0-9]{1,9})"
_RG_MOVE = re.compile(rf"(?:move\s+)?disk\s+{_NUM}\s+from\s+peg\s+{_NUM}\s+to\s+peg\s+{_NUM}", re.IGNORECASE)


class RgHanoiParams(Params):
    min_disks: int = Field(default=3, ge=1, le=16, description="fewest disks (reasoning-gym's min_disks)")
    max_disks: int = Field(default=7, ge=1, le=16, description="most disks (reasoning-gym's max_disks)")

    @field_validator("max_disks")
    @classmethod
    def _ordered(cls, v: int, info: ValidationInfo) -> int:
        return _at_least(v, info, "min_disks")


@dataclass(frozen=True)
class RgHanoiInstance:
    params: RgHanoiParams
    seed: int
    n: int
    start: int  # reasoning-gym's peg numbers
    target: int
    item: RgItem

    @property
    def via(self) -> int:
        return 6 - self.start - self.target


class RgHanoiState(NamedTuple):
    pegs: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # pegs 1, 2, 3; bottom to top
    moves: tuple[Move, ...]


def _fmt_move(m: Move) -> str:
    return f"Move disk {m[0]} from Peg {m[1]} to Peg {m[2]}"


def _parse_move(text: str) -> Move:
    m = _RG_MOVE.fullmatch(text)
    if not m:
        raise ParseError(f"expected one move 'Move disk X from Peg Y to Peg Z', got {text[:40]!r}")
    return int(m[1]), int(m[2]), int(m[3])


def _legal(state: RgHanoiState) -> list[Move]:
    p = state.pegs
    return [
        (p[f][-1], f + 1, t + 1)
        for f in range(3)
        for t in range(3)
        if f != t and p[f] and (not p[t] or p[t][-1] > p[f][-1])
    ]


class RgHanoi(_RgScenario, Scenario[RgHanoiInstance, RgHanoiState, Move]):
    """reasoning-gym's Tower of Hanoi (3 pegs), one move per step in its own move format."""

    name = "rg/tower_of_hanoi"
    summary = _summary("reasoning-gym's Tower of Hanoi (3 pegs): one move per step, in its move format")
    Params = RgHanoiParams
    rg_task = "tower_of_hanoi"
    max_answer_chars = 48

    def rg_config(self, params: RgHanoiParams) -> dict[str, Any]:
        # Only 3 pegs: the step rule here is the 3-peg recursive one (4-peg instances run as a
        # whole-answer task: gym_scenario("tower_of_hanoi", whole=True)).
        return {**params.model_dump(), "min_pegs": 3, "max_pegs": 3}

    def generate(self, params: RgHanoiParams, seed: int) -> RgHanoiInstance:
        item = self.item(params, seed)
        meta = item.entry["metadata"]
        return RgHanoiInstance(params, seed, int(meta["num_disks"]), int(meta["start_peg"]), int(meta["target_peg"]), item)

    def initial_state(self, inst: RgHanoiInstance) -> RgHanoiState:
        pegs: list[tuple[int, ...]] = [(), (), ()]
        pegs[inst.start - 1] = tuple(range(inst.n, 0, -1))
        return RgHanoiState((pegs[0], pegs[1], pegs[2]), ())

    def steps(self, inst: RgHanoiInstance) -> list[Step]:
        return [Step(i, (i + 1,), f"move {i + 1}") for i in range(2**inst.n - 1)]

    def solve(self, inst: RgHanoiInstance, state: RgHanoiState, step: Step) -> Move:
        """agentloop's hanoi rule (the next move of the shortest solution, from any position),
        with the start peg as its peg 0, the target as its peg 2."""
        to_rg = (inst.start, inst.via, inst.target)
        m = optimal_move(tuple(state.pegs[p - 1] for p in to_rg))  # type: ignore[arg-type]
        if m is None:  # at the goal: the plan never asks then, but a move is owed; any legal one
            return _legal(state)[0]
        return m[0], to_rg[m[1]], to_rg[m[2]]

    def illegal(self, inst: RgHanoiInstance, state: RgHanoiState, step: Step, answer: Move) -> str | None:
        disk, f, t = answer
        if not 1 <= disk <= inst.n:
            return f"there is no disk {disk} (disks are 1 to {inst.n})"
        bad = [p for p in (f, t) if not 1 <= p <= 3]
        if bad:
            return f"there is no Peg {bad[0]} (pegs are 1, 2, 3)"
        if f == t:
            return f"a move needs two different pegs, got Peg {f} twice"
        src, dst = state.pegs[f - 1], state.pegs[t - 1]
        if not src:
            return f"Peg {f} is empty"
        if src[-1] != disk:
            return f"disk {disk} is not on top of Peg {f}"
        if dst and dst[-1] < disk:
            return f"disk {disk} cannot go on the smaller disk {dst[-1]}"
        return None

    def apply(self, inst: RgHanoiInstance, state: RgHanoiState, step: Step, answer: Move) -> RgHanoiState:
        disk, f, t = answer
        pegs = list(state.pegs)
        pegs[f - 1] = pegs[f - 1][:-1]
        pegs[t - 1] = pegs[t - 1] + (disk,)
        return RgHanoiState((pegs[0], pegs[1], pegs[2]), state.moves + (answer,))

    def is_goal(self, inst: RgHanoiInstance, state: RgHanoiState) -> bool:
        return solved(inst.item.score("\n".join(_fmt_move(m) for m in state.moves)))

    def corrupt(self, inst: RgHanoiInstance, state: RgHanoiState, step: Step, answer: Move, rng: random.Random) -> Move:
        wrong = [m for m in _legal(state) if m != answer]
        if wrong:
            return rng.choice(wrong)
        disk, f, t = answer
        return disk, f, 6 - f - t

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: RgHanoiInstance) -> str:
        s, t = inst.start, inst.target
        return (
            f"Tower of Hanoi with {inst.n} disks numbered 1 (smallest) to {inst.n} (largest) and 3 pegs, Peg 1 to "
            f"Peg 3. All disks start on Peg {s}; move them all to Peg {t}. Only one disk moves at a time: the top "
            "disk of a peg, onto an empty peg or a larger disk. Write a move as 'Move disk X from Peg Y to Peg Z'.\n"
            f"Strategy (it gives the shortest solution): take Peg {t} as the target and go through the disks from "
            "the largest down. Skip each disk already on the target. A disk D that is not on the target must move "
            "there from its peg P, and before that every smaller disk must be on the third peg (neither P nor the "
            "target): that third peg becomes the target, and you go on with the smaller disks. The next move is "
            "the move of the last disk D found this way, from its peg to its target."
        )

    def _pegs(self, state: RgHanoiState) -> str:
        return " | ".join(f"Peg {i + 1}: [{', '.join(map(str, p))}]" for i, p in enumerate(state.pegs))

    def show_initial(self, inst: RgHanoiInstance) -> str:
        return "Pegs (bottom to top): " + self._pegs(self.initial_state(inst))

    def oneshot_format(self, inst: RgHanoiInstance) -> str:
        return f"Write all {2**inst.n - 1} moves in order, one per line, as 'Move disk X from Peg Y to Peg Z', and nothing else."

    def window(self, inst: RgHanoiInstance, state: RgHanoiState, step: Step) -> str:
        last = _fmt_move(state.moves[-1]) if state.moves else "none"
        return f"Pegs (bottom to top): {self._pegs(state)}. Previous move: {last}."

    def step_prompt(self, inst: RgHanoiInstance, step: Step, window: str | None) -> str:
        head = f"{step.label}." if window is None else f"{step.label}. {window}"
        return f"{head} What is the next move? Answer with 'Move disk X from Peg Y to Peg Z' only."

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> Move:
        return _parse_move(strip_reply(text))

    def format_answer(self, answer: Move) -> str:
        return _fmt_move(answer)

    def parse_trajectory(self, inst: RgHanoiInstance, text: str) -> list[Move]:
        return parse_lines(text, _parse_move, "moves", limit=2**inst.n - 1)

    def format_trajectory(self, inst: RgHanoiInstance, answers: Sequence[Move]) -> str:
        return "\n".join(_fmt_move(m) for m in answers)

    def to_json_answer(self, answer: Move) -> str:
        return _fmt_move(answer)

    def initial_json(self, inst: RgHanoiInstance) -> dict[str, Any]:
        return {"disks": inst.n, "start_peg": inst.start, "target_peg": inst.target}

    def expected_json(self, inst: RgHanoiInstance) -> list[str]:
        return (inst.item.answer or "").splitlines()

    def result_json(self, inst: RgHanoiInstance, state: RgHanoiState, answers: Sequence[Move]) -> list[str]:
        return [_fmt_move(m) for m in state.moves]


# --- every other task: the whole answer as one step ---------------------------------------------
NO_DECOMPOSITION = (
    "{name} has no step decomposition (its whole answer is one step), so the stepwise condition, a "
    "conversation of steps, does not apply; run it with oneshot, tape, vote, verify or full"
)
_ANSWER_TAG = re.compile(r"<answer>\s?(.*?)\s?</answer>", re.S)
MAX_ANSWER = 20_000  # characters read from a reply; no reasoning-gym answer comes near it


@dataclass(frozen=True)
class WholeInstance:
    params: Any
    seed: int
    item: RgItem


class WholeTask(_RgScenario, Scenario[WholeInstance, "str | None", str]):
    """A reasoning-gym task whose whole answer is one step, judged by reasoning-gym's checker.

    Build one with `gym_scenario(task)`; the class attribute `rg_task` names the task.
    """

    checker = "rules"  # reasoning-gym's score_answer: it may accept answers other than its own
    max_answer_chars = 4000
    rg_task: ClassVar[str] = ""

    def generate(self, params: Params, seed: int) -> WholeInstance:
        return WholeInstance(params, seed, self.item(params, seed))

    def initial_state(self, inst: WholeInstance) -> str | None:
        return None

    def steps(self, inst: WholeInstance) -> list[Step]:
        return [Step(0, (0,), "the answer")]

    def solve(self, inst: WholeInstance, state: str | None, step: Step) -> str:
        """reasoning-gym's own answer (what simulated models reply)."""
        if inst.item.answer is None:
            raise AgentloopError(f"{self.name}: reasoning-gym gives no reference answer for this task (only its checker)")
        return inst.item.answer

    def check(self, inst: WholeInstance, state: str | None, step: Step, answer: str) -> Verdict:
        score = inst.item.score(answer)
        if solved(score):
            return Verdict.accept(answer)
        return Verdict.reject(
            "wrong", f"reasoning-gym's checker scores this answer {score:.2f} of 1", expected=inst.item.answer, observed=answer
        )

    def apply(self, inst: WholeInstance, state: str | None, step: Step, answer: str) -> str:
        return answer

    def is_goal(self, inst: WholeInstance, state: str | None) -> bool:
        return state is not None and solved(inst.item.score(state))

    def corrupt(self, inst: WholeInstance, state: str | None, step: Step, answer: str, rng: random.Random) -> str:
        candidates = [answer + "0", answer[:-1], "x" + answer, answer + " x"]
        for wrong in candidates:
            if wrong.strip() and wrong != answer and not solved(inst.item.score(wrong)):
                return wrong
        return answer + " (wrong)"

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: WholeInstance) -> str:
        return (
            "Answer the question. Think as you need to, then give the final answer between <answer> and "
            "</answer> tags, in the format the question asks for, and nothing else inside the tags."
        )

    def show_initial(self, inst: WholeInstance) -> str:
        return inst.item.question

    def window(self, inst: WholeInstance, state: str | None, step: Step) -> str:
        return inst.item.question

    def step_prompt(self, inst: WholeInstance, step: Step, window: str | None) -> str:
        if window is None:
            raise AgentloopError(NO_DECOMPOSITION.format(name=self.name))
        return window

    def oneshot_format(self, inst: WholeInstance) -> str:
        return "Give the final answer between <answer> and </answer> tags."

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> str:
        text = text[:MAX_ANSWER]
        tagged = _ANSWER_TAG.findall(text)
        answer = tagged[-1].strip() if tagged else strip_reply(text)
        if not answer:
            raise ParseError("no answer found (an empty reply, or empty <answer> tags)")
        return answer

    def format_answer(self, answer: str) -> str:
        return answer

    def parse_trajectory(self, inst: WholeInstance, text: str) -> list[str]:
        return [self.parse(text, self.steps(inst)[0])]

    def format_trajectory(self, inst: WholeInstance, answers: Sequence[str]) -> str:
        return answers[0] if answers else ""

    def initial_json(self, inst: WholeInstance) -> str:
        return inst.item.question

    def expected_json(self, inst: WholeInstance) -> str | None:
        return inst.item.answer

    def result_json(self, inst: WholeInstance, state: str | None, answers: Sequence[str]) -> str | None:
        return state


def _params_model(task: str) -> type[Params]:
    """The task's reasoning-gym config fields as Params (its defaults; `seed` and `size` are
    agentloop's), validated by reasoning-gym's own `validate`."""
    _, config_cls = _rg().factory.DATASETS[task]
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(config_cls):
        if f.name in ("seed", "size") or not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            continue
        kind = type(default) if isinstance(default, (bool, int, float, str, enum.Enum)) else Any
        fields[f.name] = (kind, Field(default=default, description=f"reasoning-gym's {f.name}"))

    def check(self: Params) -> Params:
        try:
            config = config_cls(**self.model_dump())
            if hasattr(config, "validate"):
                config.validate()
        except (AssertionError, TypeError, ValueError) as exc:
            raise ValueError(str(exc) or "reasoning-gym refuses these parameters") from None
        return self

    return create_model(  # type: ignore[call-overload, no-any-return]
        f"Rg_{task}_Params", __base__=Params, __validators__={"_rg": model_validator(mode="after")(check)}, **fields
    )


_CLASSES: dict[tuple[str, bool], type[Scenario]] = {}
_DECOMPOSED_CLASSES: dict[str, type[Scenario]] = {
    "ab": RgAb, "game_of_life": RgLife, "mini_sudoku": RgSudoku, "tower_of_hanoi": RgHanoi,
}


def gym_scenario(task: str, *, whole: bool = False) -> type[Scenario]:
    """The scenario class of reasoning-gym's `task`: the step-by-step one where there is one
    (ab, game_of_life, mini_sudoku, tower_of_hanoi), else — or with `whole=True` — the task's
    whole answer as one step. AgentloopError naming the install command without the [gym] extra."""
    if not whole and task in _DECOMPOSED_CLASSES:
        return _DECOMPOSED_CLASSES[task]
    key = (task, whole)
    if key not in _CLASSES:
        if task not in _rg().factory.DATASETS:
            raise AgentloopError(f"reasoning-gym has no task {task!r}; it has {len(task_names())} (agentloop.interop.rg.task_names())")
        first = (_rg().factory.DATASETS[task][0].__doc__ or task).strip().splitlines()[0]
        _CLASSES[key] = type(
            f"Rg_{task}",
            (WholeTask,),
            {
                "__module__": __name__,
                "__doc__": f"reasoning-gym's {task}: {first}",
                "name": f"rg/{task}",
                "summary": f"reasoning-gym's {task}, the whole answer as one step: {first}",
                "rg_task": task,
                "Params": _params_model(task),
            },
        )
    return _CLASSES[key]
