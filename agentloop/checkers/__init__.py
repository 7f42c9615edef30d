"""Checkers a deployment can have: they judge a proposed step without the answer key.

- `rules`: legality only (`Scenario.illegal`): an illegal answer is rejected, any legal one
  accepted — it cannot know whether a legal answer is the right one.
- `critic`: another model call reviews the step and the proposed answer, and replies
  `APPROVE` or `REJECT: reason` (`critic_messages`, `parse_critic`).
- `program`: the model writes a Python function `step(task)` once per episode; it runs in the
  sandbox (`agentloop.sandbox`) on each step's public data, and the answer it computes must
  equal the worker's (`program_messages`, `extract_program`, `task_json`, `read_value`).

This package holds the scenario-side pieces, as plain functions; the loop's use of them (model
calls, budgets, transcripts, the scores against the simulator) is `agentloop.loop._checking`.
"""

from __future__ import annotations

from agentloop.checkers._critic import CRITIC_REJECT_REASON, critic_messages, critic_reply, parse_critic
from agentloop.checkers._program import FUNCTION, extract_program, program_messages, read_value, task_json
from agentloop.checkers._reference import REFERENCE, ReferenceProgram
from agentloop.checkers._rules import has_rules, rules_verdict

__all__ = [
    "CHECKERS",
    "CRITIC_REJECT_REASON",
    "FUNCTION",
    "REFERENCE",
    "ReferenceProgram",
    "critic_messages",
    "critic_reply",
    "extract_program",
    "has_rules",
    "parse_critic",
    "program_messages",
    "read_value",
    "rules_verdict",
    "task_json",
]

# Who may judge a step: the simulator (the oracle, with the answer key) or a deployable checker.
CHECKERS = ("oracle", "rules", "critic", "program")
