"""`key=value` command-line pairs, and keeping the secrets among them out of every record.

A credential (an API key, a token, a password, the user:password of a URL) is never stored,
printed or hashed into an episode's key: `redact_args` masks it in model arguments,
`redact_argv` in a command line, `redact_text` in any message, and `identity_args` leaves it out
of what identifies a model (so rotating a key neither re-runs nor double-counts an episode).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from agentloop.errors import AgentloopError

MASK = "***"

# The last word of a secret argument's name: api_key, aws_secret_access_key, hf_token, password…
_SECRET_ENDINGS = ("key", "secret", "password", "passwd", "token", "credential", "credentials")
_SECRET_WORDS = ("auth", "authorization")
# `scheme://user:password@host` and `scheme://token@host`: everything between :// and @.
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
# Model arguments that change how a request is delivered, never what it answers.
_TRANSPORT_ARGS = ("retries", "retry_wait")


def parse_pairs(pairs: list[str] | None, flag: str) -> dict[str, str]:
    """["a=1", "b=x"] → {"a": "1", "b": "x"}; a malformed pair is an AgentloopError."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise AgentloopError(f"malformed {flag} {redact_text(pair)!r}: expected key=value")
        if key in out:
            raise AgentloopError(f"{flag} {key} given twice")
        out[key] = value
    return out


def is_secret(name: str) -> bool:
    """Whether an argument called `name` holds a credential (by the last word of its name)."""
    last = re.split(r"[_\-.\s]+", name.strip().strip("-").lower())[-1]
    return last.endswith(_SECRET_ENDINGS) or last in _SECRET_WORDS


def redact_text(text: str, secrets: Iterable[Any] = ()) -> str:
    """`text` with URL credentials and the given secret values masked (for messages and logs)."""
    for s in secrets:
        if isinstance(s, str) and len(s) >= 4:  # shorter values would mask ordinary words
            text = text.replace(s, MASK)
    return _URL_CREDENTIALS.sub(f"{MASK}@", text)


def secret_values(args: dict[str, Any]) -> list[Any]:
    """The values of the secret arguments (what `redact_text` must never let through)."""
    return [v for k, v in args.items() if is_secret(k)]


def redact_args(args: dict[str, Any]) -> dict[str, Any]:
    """Model arguments fit to store or print: credentials masked, URLs without user:password."""
    return {k: MASK if is_secret(k) else (redact_text(v) if isinstance(v, str) else v) for k, v in args.items()}


def identity_args(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments that say which model answers: no credentials, no retry settings. Episode
    keys and model labels use these, so a new key or more patience is the same experiment."""
    return {k: v for k, v in redact_args(args).items() if not is_secret(k) and k not in _TRANSPORT_ARGS}


def redact_argv(argv: list[str]) -> list[str]:
    """A command line fit to store: the value of every `name=value` (also `-Mname=value`,
    `--model-arg=name=value`) whose name is a secret, and of every `--secret-flag VALUE`, masked."""
    out: list[str] = []
    for i, token in enumerate(argv):
        if i and argv[i - 1].startswith("-") and "=" not in argv[i - 1] and is_secret(argv[i - 1]):
            out.append(MASK)
            continue
        parts = token.split("=")
        for j, part in enumerate(parts[:-1]):
            if is_secret(part):
                parts = [*parts[: j + 1], MASK]
                break
        out.append(redact_text("=".join(parts)))
    return out
