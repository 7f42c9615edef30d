"""Prompts for the tiny embedded models: chat messages → a completion-style few-shot prompt.

The scenarios write their prompts for chat models (a system message with the rules, a user
message with the step). Models of 100–300M parameters answer such prompts with prose; they do
much better when the same information is laid out as a text to be continued, ending where the
answer goes (measured in docs/local-model.md). This module recognises the atomic step prompts
of the scenarios it knows and re-lays them out; it never adds information the messages do not
hold (the examples of the Life prompt are fixed boards, not the cell being asked). Anything
else falls back to a plain transcript (base models) or the model's own chat template.

The recognisers read the scenarios' prompt text, so tests/test_local_model.py renders the real
scenario messages and fails if a scenario's wording changes under them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from agentloop.models._protocol import Message


@dataclass(frozen=True)
class Rendered:
    """What to send to llama.cpp: a completion prompt, or (prompt None) chat messages."""

    kind: str  # the recogniser that matched: "eca", "life" or "generic"
    prompt: str | None
    messages: list[Message] = field(default_factory=list)
    max_tokens: int = 4
    stop: tuple[str, ...] = ("\n",)
    feedback: bool = False  # the request re-asks after a checker's rejection


_ECA_HEAD = re.compile(r"^Elementary cellular automaton, rule (\d+)")
_ECA_TABLE = re.compile(r"^([01]{3}) -> ([01])$", re.M)
_ECA_ASK = re.compile(r"Neighbourhood \(left cell right\): ([01]{3})\.")
_ECA_WHOLE = re.compile(r"generation 0: ([01]+)\n\nWrite generations 1 to (\d+), one line each")
_LIFE_HEAD = re.compile(r"^Conway's Game of Life")
_LIFE_ASK = re.compile(r"3x3 neighbourhood \(the cell is in the centre\):\n([01]{3})\n([01]{3})\n([01]{3})\n")
_FEEDBACK = re.compile(r"Your previous answer (.*?) was rejected: (.*)\. Answer again\.", re.S)

# Fixed worked examples for the Life prompt: (3×3 neighbourhood, next value of the centre),
# one per case of the rule (survive on 2 and 3, birth on 3, death by isolation and crowding,
# staying dead). A test checks them against the simulator.
LIFE_EXAMPLES: tuple[tuple[str, int], ...] = (
    ("010\n011\n000", 1),
    ("101\n010\n100", 1),
    ("110\n000\n100", 1),
    ("000\n010\n001", 0),
    ("111\n110\n100", 0),
    ("100\n000\n001", 0),
)


def render(messages: list[Message], style: str, max_tokens: int) -> Rendered:
    """The prompt for `messages`: a known atomic step re-laid out, or the generic fallback."""
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    user = messages[-1]["content"] if messages and messages[-1]["role"] == "user" else ""
    out = None
    if _COT.search(user):  # chain-of-thought: room to reason, then the `Answer:` line (no re-layout)
        out = _cot(messages, style, max_tokens)
    elif len(messages) == 2 and system and user:
        # Only a single-turn tape-style request is an atomic step we know; a growing conversation
        # (the `stepwise` condition) keeps its turns and goes to the fallback.
        out = _eca(system, user) or _eca_whole(system, user) or _life(system, user)
    out = out or _generic(messages, style, max_tokens)
    return replace(out, feedback=_FEEDBACK.search(user) is not None)


def _feedback_line(user: str) -> str:
    m = _FEEDBACK.search(user)
    if m is None:
        return ""
    observed = m.group(1).strip() or "(nothing)"
    return f"Your previous answer {observed} was rejected: {m.group(2).strip()}.\n"


def _eca_rule(system: str) -> tuple[str, str] | None:
    """The rule number and its table as `pattern p: new cell n` lines, if `system` states an eca rule."""
    head, table = _ECA_HEAD.match(system), _ECA_TABLE.findall(system)
    if head is None or len(table) != 8:
        return None
    return head.group(1), "\n".join(f"pattern {pattern}: new cell {new}" for pattern, new in table)


def _eca(system: str, user: str) -> Rendered | None:
    rule, ask = _eca_rule(system), _ECA_ASK.search(user)
    if rule is None or ask is None:
        return None
    number, lines = rule
    prompt = (
        f"Elementary cellular automaton rule {number}. "
        "Look up the pattern in the table and copy its new cell.\n"
        f"{lines}\n\n{_feedback_line(user)}Question: pattern {ask.group(1)}: new cell"
    )
    return Rendered("eca", prompt)


def _eca_whole(system: str, user: str) -> Rendered | None:
    """The `oneshot` request for eca: the table, generation 0, and the next line to continue."""
    rule, ask = _eca_rule(system), _ECA_WHOLE.search(user)
    if rule is None or ask is None:
        return None
    (number, lines), row, steps = rule, ask.group(1), int(ask.group(2))
    prompt = (
        f"Elementary cellular automaton rule {number} on a ring of {len(row)} cells (the first and last "
        "cells are neighbours). Each new cell is looked up from the pattern of its left neighbour, itself and "
        f"its right neighbour in the previous generation.\n{lines}\n\n"
        f"Generations 0 to {steps}, {len(row)} cells each:\ngeneration 0: {row}\ngeneration 1:"
    )
    # Room for every line (a digit is about a token) and no more: the reply ends at a blank line.
    return Rendered("eca", prompt, max_tokens=steps * (len(row) + 8) + 8, stop=("\n\n",))


def _life(system: str, user: str) -> Rendered | None:
    ask = _LIFE_ASK.search(user)
    if _LIFE_HEAD.match(system) is None or ask is None:
        return None
    shots = "".join(f"{grid}\nnew centre: {new}\n\n" for grid, new in LIFE_EXAMPLES)
    query = "\n".join(ask.groups())
    prompt = (
        "Game of Life. Count the live cells (1) among the 8 neighbours of the centre cell. "
        "A live centre with 2 or 3 live neighbours stays 1; a dead centre with exactly 3 becomes 1; "
        "otherwise 0.\n\n"
        f"{shots}{_feedback_line(user)}{query}\nnew centre:"
    )
    return Rendered("life", prompt)


def _generic(messages: list[Message], style: str, max_tokens: int) -> Rendered:
    if style == "chat":
        return Rendered("generic", None, messages=list(messages), max_tokens=max_tokens, stop=())
    # A base model continues text: lay the conversation out as a transcript ending at "Answer:".
    parts = []
    for m in messages:
        if m["role"] == "assistant":
            parts[-1:] = [f"{parts[-1]}\nAnswer: {m['content']}"] if parts else [f"Answer: {m['content']}"]
        else:
            parts.append(m["content"])
    prompt = "\n\n".join(parts) + "\nAnswer:"
    if _one_step_at_a_time(messages):
        # A step of a growing conversation is answered on one line: without this stop a base
        # model writes the next questions and answers itself, hundreds of tokens a step.
        return Rendered("generic", prompt, max_tokens=min(max_tokens, _STEP_TOKENS), stop=("\n",))
    # A blank line ends the answer (a trajectory is several lines, so one newline may not).
    return Rendered("generic", prompt, max_tokens=max_tokens, stop=("\n\n",))


_STEP_TOKENS = 24
# The worker's chain-of-thought request (agentloop.loop._worker.cot_suffix).
_COT = re.compile(r"end your reply with one final line `Answer: \.\.\.`")


def _cot(messages: list[Message], style: str, max_tokens: int) -> Rendered:
    """A chain-of-thought request: a chat model gets it as it is; a base model continues a
    transcript that opens its reasoning, and writes the `Answer:` line itself."""
    if style == "chat":
        return Rendered("cot", None, messages=list(messages), max_tokens=max_tokens, stop=())
    parts = [m["content"] if m["role"] != "assistant" else f"Reasoning: {m['content']}" for m in messages]
    return Rendered("cot", "\n\n".join(parts) + "\nReasoning:", max_tokens=max_tokens, stop=("\n\n\n",))


def _one_step_at_a_time(messages: list[Message]) -> bool:
    """The `stepwise` conversation: earlier answers in it, or its opening says so (the loop's
    worker opens it with "We go one step at a time.")."""
    return any(m["role"] == "assistant" for m in messages) or (
        bool(messages) and messages[0]["content"].rstrip().endswith("We go one step at a time.")
    )
