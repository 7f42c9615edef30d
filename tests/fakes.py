"""Fake models shared by the tests (not test files themselves)."""

from __future__ import annotations

from agentloop.types import Completion


class Scripted:
    """A fake model: each call answers the next reply of a script (a list, or a function of the
    messages and the call number); past the end of a list it repeats the last reply."""

    name, args, simulated = "test/scripted", {}, False

    def __init__(self, script):
        self.script, self.calls, self.prompts = script, 0, []

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        self.prompts.append(messages)
        s = self.script
        text = s(messages, self.calls) if callable(s) else s[min(self.calls, len(s) - 1)]
        self.calls += 1
        return Completion(text=text, tokens_in=10, tokens_out=3)

    async def acomplete(self, messages, **kw):
        return self.complete(messages, **kw)


def episode_of(name: str, params: dict | None = None, condition="tape", model="scripted/oracle", *, seed: int = 0,
               limits=None):
    """An `Episode` of one instance, ready to ask its first step (the loop's run context, built as
    `run_episode` builds it), for tests of its parts: messages, limits, checkers, the vote pool."""
    from agentloop.conditions import get_condition
    from agentloop.loop._episode import Episode
    from agentloop.models import get_model
    from agentloop.scenarios import get_scenario, parse_params
    from agentloop.tape import Tape
    from agentloop.types import Limits

    sc = get_scenario(name)
    inst = sc.generate(parse_params(sc, params or {}), seed)
    return Episode(scenario=sc, instance=inst, steps=sc.steps(inst),
                   condition=get_condition(condition) if isinstance(condition, str) else condition,
                   model=get_model(model) if isinstance(model, str) else model, hint_key="t",
                   limits=limits or Limits(), tape=Tape(sc, inst), true_state=sc.initial_state(inst))
