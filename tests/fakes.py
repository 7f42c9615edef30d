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
