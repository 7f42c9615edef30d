"""`canned/<text>`: a model that replies `<text>` to every request (a provider plugin)."""

from __future__ import annotations

from typing import Any

from agentloop.types import Completion


class Canned:
    simulated = False  # a provider of its own: the loop passes it no ground truth

    def __init__(self, text: str, args: dict[str, Any]) -> None:
        self.name, self.args, self.text = f"canned/{text}", dict(args), text

    def complete(self, messages, *, hint=None, sample=0, seed=None) -> Completion:
        return Completion(text=self.text, tokens_in=sum(len(m["content"]) for m in messages) // 4, tokens_out=1)

    async def acomplete(self, messages, *, hint=None, sample=0, seed=None) -> Completion:
        return self.complete(messages, hint=hint, sample=sample, seed=seed)


def make(rest: str, args: dict[str, Any]) -> Canned:
    return Canned(rest, args)
