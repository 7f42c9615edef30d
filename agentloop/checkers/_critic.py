"""The `critic` checker's prompt and parser: another model call reviews a proposed step.

The critic sees what the worker saw (the rules, the step and its window of the committed state)
and the proposed answer, never the right one, and replies `APPROVE`, or `REJECT: reason`.
"""

from __future__ import annotations

import re
from typing import Any

from agentloop.errors import ParseError
from agentloop.models import Message
from agentloop.scenarios import Scenario
from agentloop.scenarios._base import content_lines
from agentloop.types import Step

# The reason a simulated critic gives: it says nothing about the right answer.
CRITIC_REJECT_REASON = "this answer does not follow from the rules and the state shown"
_MAX_READ = 4000  # a critic reply is read up to here (a runaway reply costs no more)
_LEAD = re.compile(r"(?:(?:verdict|decision|answer)\s*[:=\-]\s*)?(approve[sd]?|reject(?:s|ed)?)\b[\s:.,;*_\-–—]*(.*)", re.I)
_WORD = re.compile(r"\b(approve[sd]?|reject(?:s|ed)?)\b", re.I)


def critic_messages(scenario: Scenario, inst: Any, state: Any, step: Step, answer: Any, rules: str | None = None) -> list[Message]:
    """The review request. Its system message opens with the reviewer's role (not the task's
    own first line), so no model-side prompt adapter mistakes it for the step itself."""
    question = scenario.step_prompt(inst, step, scenario.window(inst, state, step))
    rules = scenario.rules(inst) if rules is None else rules
    return [
        {"role": "system", "content": f"You review another agent's answer to one step of a task. The task:\n{rules}"},
        {
            "role": "user",
            "content": (
                f"The step, as the agent was asked it:\n{question}\n\n"
                f"The agent's answer: {scenario.format_answer(answer)}\n\n"
                "Is this answer correct? Reply APPROVE if it is. If it is not, reply REJECT: and a short "
                "reason, without giving the correct answer."
            ),
        },
    ]


def critic_reply(approve: bool) -> str:
    """What a critic writes (the simulated critic's reply)."""
    return "APPROVE" if approve else f"REJECT: {CRITIC_REJECT_REASON}"


def parse_critic(text: str) -> tuple[bool, str]:
    """A critic reply → (approves, reason). The first line that starts with APPROVE or REJECT
    (markdown and a `Verdict:` label allowed) decides; failing that, the words anywhere, if only
    one of the two occurs. ParseError otherwise."""
    text = text[:_MAX_READ]
    for line in content_lines(text):
        m = _LEAD.match(line.strip("*_#>` \t"))
        if m:
            return m[1].lower().startswith("approve"), m[2].strip(" *_`")[:300]
    kinds = {w.lower().startswith("approve") for w in _WORD.findall(text)}
    if len(kinds) == 1:
        return kinds.pop(), ""
    if kinds:
        raise ParseError("the critic's reply says both APPROVE and REJECT")
    raise ParseError("the critic's reply says neither APPROVE nor REJECT")
