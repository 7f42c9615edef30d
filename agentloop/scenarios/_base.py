"""The shape every scenario has. A scenario knows nothing of models, tapes or graphs.

A built-in scenario defines every method (see `eca.py`). A user's own task needs only the
required ones: `initial_state`, `steps`, `step_prompt`, `parse`, `apply`, and `solve` (the right
answer to a step; a task whose steps have several right answers overrides `check` too).
Everything else has a default, and what a default cannot do says so with an AgentloopError
naming the method to define: `oneshot` needs `oneshot_format`, `parse_trajectory` and
`format_trajectory`; simulated models that make mistakes (`scripted/noisy`, `scripted/faulty`)
need `corrupt`. A class with `check` and no `solve` must define `is_goal`; the loop still calls
`solve` to follow the true state.
"""

from __future__ import annotations

import inspect
import json
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from agentloop.errors import AgentloopError, ParseError
from agentloop.types import CheckerKind, Step, Verdict

I = TypeVar("I")  # instance
S = TypeVar("S")  # state
A = TypeVar("A")  # atomic answer


class Params(BaseModel):
    """Base of every scenario's parameters: validated, immutable, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Instance:
    """The default instance: the parameters and the seed (for tasks fixed by their parameters,
    or that draw their randomness from `seed` in `initial_state`)."""

    params: Any
    seed: int


class Scenario(ABC, Generic[I, S, A]):
    """A family of puzzles: generator, simulator, decomposer, prompts, parser, corrupter.

    States and instances are immutable; `apply` returns a new state and never mutates its input.
    `name` defaults to the class name in lower case and `summary` to the docstring's first line.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = Params  # no parameters
    checker: ClassVar[CheckerKind] = "simulator"
    # Votes longer than this are red-flagged (MAKER: long answers signal confusion).
    max_answer_chars: ClassVar[int] = 64

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Each class its own name (a subclass is another task in the records); the summary is
        # the class's own docstring's first line, or what it inherited.
        if "name" not in vars(cls):
            cls.name = cls.__name__.lower()
        if "summary" not in vars(cls) and cls.__doc__:
            cls.summary = inspect.cleandoc(cls.__doc__).partition("\n")[0]

    @classmethod
    def can_solve(cls) -> bool:
        """Whether the task has an oracle (`solve`); without one the loop judges by `check` alone."""
        return _defines(cls, "solve")

    @classmethod
    def missing_methods(cls) -> list[str]:
        """The required methods this class does not define (empty: it can run)."""
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        if not _defines(cls, "solve"):
            if not _defines(cls, "check"):
                missing.append("solve or check")
            elif not _defines(cls, "is_goal"):  # the default compares with the state solve reaches
                missing.append("is_goal (without solve)")
        return missing

    # --- instance and simulator -------------------------------------------------------
    def generate(self, params: Any, seed: int) -> I:
        """The instance for (params, seed); the same pair always gives the same instance.
        Default: `Instance(params, seed)`."""
        return Instance(params, seed)  # type: ignore[return-value]

    @abstractmethod
    def initial_state(self, inst: I) -> S: ...

    @abstractmethod
    def steps(self, inst: I) -> Sequence[Step]:
        """The decomposer: the ordered atomic steps of the whole task."""

    def solve(self, inst: I, state: S, step: Step) -> A:
        """The right answer to `step` from `state` (the oracle; for rules scenarios, one right answer)."""
        raise self._lacks(
            "solve", "the right answer to a step from a state, with which the loop follows the true state "
            "and simulated models answer"
        )

    @abstractmethod
    def apply(self, inst: I, state: S, step: Step, answer: A) -> S:
        """The state after committing `answer`; `answer` must be legal."""

    def illegal(self, inst: I, state: S, step: Step, answer: A) -> str | None:
        """Why `answer` cannot be committed at all, or None when it is legal."""
        return None

    def check(self, inst: I, state: S, step: Step, answer: A) -> Verdict:
        """Legality, then local correctness against the simulator."""
        why = self.illegal(inst, state, step, answer)
        if why is not None:
            return Verdict.reject("illegal", why, observed=self.to_json_answer(answer))
        expected = self.solve(inst, state, step)
        if answer == expected:
            return Verdict.accept(self.to_json_answer(answer))
        return Verdict.reject(
            "wrong",
            f"{self.format_answer(answer)} is not the correct answer for {step.label}",
            expected=self.to_json_answer(expected),
            observed=self.to_json_answer(answer),
        )

    def on_track(self, inst: I, state: S, true_state: S) -> bool:
        """Whether the agent's committed state is still the true one."""
        return state == true_state

    def is_goal(self, inst: I, state: S) -> bool:
        """Whether the task is done. Default: the state is the simulator's final state."""
        return state == self.true_final_state(inst)

    def true_final_state(self, inst: I) -> S:
        """The state after every step answered by `solve`."""
        state = self.initial_state(inst)
        for step in self.steps(inst):
            state = self.apply(inst, state, step, self.solve(inst, state, step))
        return state

    def corrupt(self, inst: I, state: S, step: Step, answer: A, rng: random.Random) -> A:
        """A plausible wrong answer (used by simulated models); must differ from `answer`."""
        raise self._lacks(
            "corrupt", "a plausible wrong answer, which simulated models that make mistakes "
            "(scripted/noisy, scripted/faulty) need; scripted/oracle and real models run without it"
        )

    # --- steps bigger than one atomic unit (the `granularity` parameter) -----------------------
    def atoms(self, inst: I, step: Step, answer: Any) -> Sequence[Any]:
        """The atomic answers `answer` (or its JSON form) is made of: one for an atomic step (the
        default), several for a step that does more per call (a row of cells, k moves).

        Simulated models slip per atom (`corrupt_atom`), and a multi-atom verdict counts them."""
        return (answer,)

    def join_atoms(self, inst: I, step: Step, atoms: Sequence[Any]) -> A:
        """The answer made of `atoms`, the inverse of `atoms`. Default: the one atom."""
        return atoms[0]

    def corrupt_atom(self, inst: I, state: S, step: Step, answer: A, i: int, rng: random.Random) -> Any:
        """A plausible wrong value for atom `i` of the right `answer`. Default: `corrupt` (one atom)."""
        return self.corrupt(inst, state, step, answer, rng)

    def answer_chars(self, inst: I) -> int:
        """Votes longer than this are red-flagged; default `max_answer_chars` (a bigger step may allow more)."""
        return self.max_answer_chars

    # --- prompts -------------------------------------------------------------------------
    def rules(self, inst: I) -> str:
        """What the task is and how one step works; the system message of every condition.
        Default: the class docstring."""
        doc = type(self).__doc__
        return inspect.cleandoc(doc) if doc else self.summary or f"Task {self.name}: answer each question exactly as asked."

    def show_initial(self, inst: I) -> str:
        """The initial state, written out (used when there is no tape to read it from)."""
        return as_text(self.initial_state(inst))

    def oneshot_format(self, inst: I) -> str:
        """How to write the whole trajectory in one reply."""
        raise self._lacks("oneshot_format", _ONESHOT)

    def window(self, inst: I, state: S, step: Step) -> str:
        """The small part of the committed state that `step` needs, read from the tape.
        Default: the whole state, written out."""
        return as_text(state)

    @abstractmethod
    def step_prompt(self, inst: I, step: Step, window: str | None) -> str:
        """The question for one step; `window` is None when the agent has no tape."""

    def observation(self, inst: I, state: S, step: Step) -> str | None:
        """What the environment tells the agent once `step` is committed, or None (the default).

        Only scenarios with hidden information have one (Wordle's colours). Without a tape the
        loop adds it to the conversation; with one, `window` shows it.
        """
        return None

    # --- answers ---------------------------------------------------------------------------
    @abstractmethod
    def parse(self, text: str, step: Step) -> A:
        """Model text → answer; raises ParseError on anything that is not exactly one answer."""

    def format_answer(self, answer: A) -> str:
        """Answer → the reply text the parser accepts (what a perfect model would write).
        Default: `str(answer)`."""
        return str(answer)

    def parse_trajectory(self, inst: I, text: str) -> list[A]:
        """A whole-task reply → its atomic answers in step order (may be shorter than the plan)."""
        raise self._lacks("parse_trajectory", _ONESHOT)

    def format_trajectory(self, inst: I, answers: Sequence[A]) -> str:
        raise self._lacks("format_trajectory", _ONESHOT)

    # --- JSON views for records -----------------------------------------------------------
    def to_json_answer(self, answer: A) -> Any:
        return answer

    def initial_json(self, inst: I) -> Any:
        return as_json(self.initial_state(inst))

    def result_json(self, inst: I, state: S, answers: Sequence[A]) -> Any:
        """The agent's final result (`answer` in the record), from its state and committed answers."""
        return as_json(state)

    def expected_json(self, inst: I) -> Any:
        """The right final result for the record; default: the state `solve` reaches (None without solve)."""
        return as_json(self.true_final_state(inst)) if _defines(type(self), "solve") else None

    def _lacks(self, method: str, why: str) -> AgentloopError:
        return AgentloopError(f"scenario {self.name!r} does not define {method}: {why}")


_ONESHOT = "the oneshot condition needs oneshot_format, parse_trajectory and format_trajectory"


def _defines(cls: type, method: str) -> bool:
    """Whether `cls` overrides `method` of the base Scenario."""
    return getattr(cls, method) is not getattr(Scenario, method)


def as_json(value: Any) -> Any:
    """A JSON-friendly copy of a state or answer (tuples → lists, dataclasses and pydantic
    models → dicts, anything else unknown → its str)."""
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, fallback=str)


def as_text(value: Any) -> str:
    """A state written out for a prompt: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(as_json(value), ensure_ascii=False)


# A code-fence line: three or more backticks and an optional info string (```json, ```text).
_FENCE = re.compile(r"`{3,}[A-Za-z0-9_+-]*")
_ASCII_DIGIT = re.compile(r"[0-9]")
# The line breaks of str.splitlines, as the body of a regex character class.
_BREAKS = r"\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029"
# A line with content, from its first non-space character to its end. The regex engine skips
# blank lines, so a megabyte of them costs no Python loop.
_LINE = re.compile(rf"\S[^{_BREAKS}]*")


def content_lines(text: str) -> Iterator[str]:
    """The lines of `text` that are neither blank nor code fences, without leading whitespace."""
    for m in _LINE.finditer(text):
        line = m[0]
        if not (line[0] == "`" and _FENCE.fullmatch(line.rstrip())):
            yield line


_OTHER_BREAKS = re.compile(r"[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def lines_with(pattern: re.Pattern[str], text: str, at_most: int | None = None) -> Iterator[str]:
    """The lines of `text` in which `pattern` matches, for parsers that skip all other lines;
    ParseError when there are more than `at_most`.

    The regex engine jumps from match to match, so the other lines (a reply may be a megabyte
    of prose) cost no Python loop, and `at_most` bounds the loop over the matching ones. Line
    breaks are those of str.splitlines.
    """
    text = _OTHER_BREAKS.sub("\n", text)
    pos, seen = 0, 0
    while (m := pattern.search(text, pos)) is not None:
        seen += 1
        if at_most is not None and seen > at_most:
            raise ParseError(f"more than {at_most} lines that could be rows; no answer has that many")
        start = max(text.rfind("\n", pos, m.start()) + 1, pos)
        end = text.find("\n", m.end())
        end = len(text) if end < 0 else end
        yield text[start:end]
        pos = end + 1


def strip_reply(text: str) -> str:
    """Common reply clean-up before strict parsing: whitespace, a code fence (with its info
    string), a trailing period."""
    t = text.strip()
    if t.startswith("```"):
        first, newline, rest = t.partition("\n")
        if newline and _FENCE.fullmatch(first.strip()) and rest.strip("`").strip():
            t = rest  # "```text\n1\n```": the info string is not part of the answer
        t = t.strip("`").strip()
    return t.rstrip(".").strip()


def parse_lines(text: str, parse_line: Callable[[str], A], what: str, limit: int | None = None) -> list[A]:
    """A whole-task reply with one answer per line: blank lines and code-fence lines skipped,
    each other line (cleaned by `strip_reply`) parsed by `parse_line`; ParseError naming `what`
    when there is none.

    Reading stops after `limit` answers (the plan's length): later lines could never be scored,
    and stopping keeps a huge reply as cheap as a correct one.
    """
    # Even fencing every answer on its own takes two fences per answer; a reply with far more is
    # not an answer, and refusing it at once (str.count is one C loop) spares a Python loop over
    # up to 250,000 fence lines in a megabyte.
    if limit is not None and text.count("```") > 2 * limit + 8:
        raise ParseError(f"more code fences than {what}")
    out: list[A] = []
    for line in content_lines(text):
        out.append(parse_line(strip_reply(line)))  # a line of dots ("...") is unreadable, not skipped
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise ParseError(f"no {what} found")
    return out


def parse_bit(text: str) -> int:
    """Strict single-bit parser: the reply must be exactly `0` or `1` (optionally `answer: 1`)."""
    t = strip_reply(text)
    if ":" in t:
        head, _, t = t.rpartition(":")
        if head.strip().lower() not in ("answer", "new", "new cell", "next", "cell", "value"):
            raise ParseError(f"unexpected label {head.strip()!r}")
        t = t.strip()
    if t in ("0", "1"):
        return int(t)
    raise ParseError(f"expected a single 0 or 1, got {text[:40]!r}")


def parse_bit_rows(text: str, width: int, limit: int | None = None) -> list[list[int]]:
    """Lines of 0/1 digits (spaces allowed, an optional `label:` prefix) → rows of `width` bits.

    Lines that contain no (ASCII) digit are ignored; a line of the wrong width is a ParseError.
    Reading stops after `limit` rows, as in `parse_lines`. Other lines with digits are skipped
    when the digits are all in a label (`generation 2:`), but only a few more of them than rows:
    more cannot be a grid, and reading them all would loop over a megabyte line by line.
    """
    rows: list[list[int]] = []
    for line in lines_with(_ASCII_DIGIT, text, at_most=None if limit is None else 2 * limit + 8):
        body = line.rpartition(":")[2] if ":" in line else line
        body = body.replace(" ", "").replace(",", "").strip().strip("`[]")
        if not body:
            continue
        if set(body) - {"0", "1"}:
            if _ASCII_DIGIT.search(body):  # a label's digits ("generation 2:") are not in the body
                raise ParseError(f"not a row of 0/1 digits: {line[:40]!r}")
            continue
        if len(body) != width:
            raise ParseError(f"row of {len(body)} cells, expected {width}")
        rows.append([int(ch) for ch in body])
        if limit is not None and len(rows) >= limit:
            break
    return rows


def bits(row: Sequence[int]) -> str:
    return "".join(str(b) for b in row)
