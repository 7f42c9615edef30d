"""`key=value` command-line pairs."""

from __future__ import annotations

from agentloop.errors import AgentloopError


def parse_pairs(pairs: list[str] | None, flag: str) -> dict[str, str]:
    """["a=1", "b=x"] → {"a": "1", "b": "x"}; a malformed pair is an AgentloopError."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise AgentloopError(f"malformed {flag} {pair!r}: expected key=value")
        if key in out:
            raise AgentloopError(f"{flag} {key} given twice")
        out[key] = value
    return out
