"""The tape: the agent's external memory.

It holds what the agent has *committed* (not the ground truth): an append-only list of
entries, one per committed step, and the explicit current state those entries produced. The
worker never sees the history; it sees `render(step)`, a small window of the current state
chosen by the scenario. `snapshot()` gives a JSON-friendly copy for persistence.

The loop keeps only what the window and the result need: the state, and the committed answers
when the record's result is built from them (`entries=False`, `answers=...`); the history of
a long episode is in the results store, one row per step, not in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agentloop.scenarios import Scenario
from agentloop.types import Step, VerdictCode

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class TapeEntry:
    index: int
    label: str
    answer: Any
    code: VerdictCode


class Tape(Generic[S]):
    """Append-only committed answers plus the state they produced."""

    def __init__(self, scenario: Scenario, instance: Any, *, entries: bool = True, answers: bool = True) -> None:
        """`entries=False` keeps no entries (`entries` is then empty), `answers=False` no answers:
        a long episode then holds only the state."""
        self._scenario = scenario
        self._instance = instance
        self._state: S = scenario.initial_state(instance)
        self._entries: list[TapeEntry] | None = [] if entries else None
        self._answers: list[Any] | None = [] if answers else None
        self._length = 0

    @property
    def state(self) -> S:
        return self._state

    @property
    def entries(self) -> Sequence[TapeEntry]:
        return tuple(self._entries or ())

    @property
    def keeps_answers(self) -> bool:
        return self._answers is not None

    @property
    def answers(self) -> Sequence[Any]:
        return self._answers if self._answers is not None else ()

    def __len__(self) -> int:
        return self._length

    def render(self, step: Step) -> str:
        """The window of the current state that `step` needs (what the worker sees)."""
        return self._scenario.window(self._instance, self._state, step)

    def commit(self, step: Step, answer: Any, code: VerdictCode) -> None:
        """Append a legal answer and advance the state. Entries are never rewritten."""
        self._state = self._scenario.apply(self._instance, self._state, step, answer)
        if self._entries is not None:
            self._entries.append(TapeEntry(step.index, step.label, self._scenario.to_json_answer(answer), code))
        if self._answers is not None:
            self._answers.append(answer)
        self._length += 1

    def resume(self, state: S, answers: Sequence[Any] | None, length: int) -> None:
        """Continue a tape of `length` commits from a checkpoint: its state and, when this tape
        keeps them, the committed answers read back from the store (in their JSON form)."""
        self._state, self._length = state, length
        if self._answers is not None:
            self._answers = list(answers or ())

    def snapshot(self) -> dict[str, Any]:
        """A JSON-friendly copy: the committed entries and the agent's current result."""
        return {
            "entries": [
                {"index": e.index, "label": e.label, "answer": e.answer, "code": e.code} for e in self.entries
            ],
            "result": self._scenario.result_json(self._instance, self._state, self.answers),
        }
