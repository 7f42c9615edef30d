"""The `program` checker's pieces: the request for a program, reading it, the input it gets,
and reading what it returns.

The program is one function, `step(task)`, written once per episode and run in the sandbox at
every step. `task` is the step's public data as JSON — the scenario's parameters, the agent's
committed state and which step it is — never the instance's hidden parts (a Sudoku's solution,
a Wordle's word). The function returns the step's answer in the form the question asks for (a
number, a list, or the reply text), read by the scenario's own parser.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

from agentloop.errors import ParseError
from agentloop.models import Message
from agentloop.scenarios import Scenario
from agentloop.scenarios._base import as_json
from agentloop.types import Step

FUNCTION = "step"
_FENCED = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)(?:```|\Z)", re.S)
_CODE_START = re.compile(r"^(?:import |from |def |class |[A-Za-z_][A-Za-z0-9_]* *=)", re.M)
_MAX_VALUE_CHARS = 10_000


def task_json(scenario: Scenario, inst: Any, state: Any, step: Step) -> dict[str, Any]:
    """What the program is given for one step: public data only."""
    params = getattr(inst, "params", None)
    return {
        "params": params.model_dump(mode="json") if isinstance(params, BaseModel) else {},
        "state": _state_json(state),
        "step": {"index": step.index, "key": list(step.key), "label": step.label},
    }


def _state_json(state: Any) -> Any:
    # A named tuple reads better by its names ({"rows": ..., "partial": ...}) than as a list.
    if isinstance(state, tuple) and hasattr(state, "_asdict"):
        return {k: as_json(v) for k, v in state._asdict().items()}
    return as_json(state)


def program_messages(scenario: Scenario, inst: Any, state: Any, step: Step, rules: str | None = None) -> list[Message]:
    """The request for the program, shown the current step's input and question as an example."""
    rules = scenario.rules(inst) if rules is None else rules
    question = scenario.step_prompt(inst, step, scenario.window(inst, state, step))
    example = json.dumps(task_json(scenario, inst, state, step))
    return [
        {"role": "system", "content": f"You write small Python programs that solve one step of a task. The task:\n{rules}"},
        {
            "role": "user",
            "content": (
                f"Write a Python function `{FUNCTION}(task)` that returns the answer to any step of this task.\n"
                f"`task` is a dict (parsed from JSON). This is the current step's:\n{example}\n"
                f"For that step the question is:\n{question}\n\n"
                "Return the answer as a JSON value (a number, a list or a string) in the form the question "
                "asks for. Use only Python's standard library; no files, no network. Reply with the "
                "function in one ```python code block."
            ),
        },
    ]


def extract_program(text: str) -> str:
    """The program in a reply: the first code block that defines `step`, else the reply from its
    first line of code on, if it defines `step`. ParseError when there is none."""
    needle = f"def {FUNCTION}("
    for _, body in _FENCED.findall(text):
        if needle in body:
            return body.strip("\n")
    if needle in text:
        m = _CODE_START.search(text)
        return text[m.start() if m and m.start() <= text.index(needle) else text.index(needle):].strip("`\n ")
    raise ParseError(f"no Python function {FUNCTION}(task) in the reply")


def read_value(scenario: Scenario, step: Step, value: Any) -> Any:
    """What the program returned → the scenario's answer (its parser reads the value's text)."""
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > _MAX_VALUE_CHARS:
        raise ParseError(f"the program returned {len(text)} characters; no answer is that long")
    return scenario.parse(text, step)
