"""Models: one protocol, selected by `provider/model` name.

`scripted/*` are simulators and test doubles, `local/*` runs a GGUF model in-process, and
every other provider goes through litellm (imported only when such a model is used).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from agentloop._kv import redact_args
from agentloop.errors import AgentloopError
from agentloop.models._protocol import Hint, Message, Model, ModelWrapper, estimate_tokens, request_seed
from agentloop.models._retry import DEFAULT_ATTEMPTS, RetryingModel

__all__ = [
    "Hint",
    "Message",
    "Model",
    "ModelWrapper",
    "RetryingModel",
    "estimate_tokens",
    "get_model",
    "parse_model_args",
    "redact_args",
    "request_seed",
]

# provider prefix -> module with `make(rest_of_name, args)`; anything else goes to litellm.
_PROVIDERS: dict[str, str] = {
    "scripted": "agentloop.models.scripted",
    "local": "agentloop.models.local",
}
_LITELLM = "agentloop.models._litellm"


def get_model(name: str, **args: Any) -> Model:
    """The model called `name` ("provider/model"), wrapped in the retry layer.

    `retries` (default 8) is the number of attempts for transient errors and `retry_wait` the
    first back-off in seconds (default: the provider's; 0 for simulators); neither is part of
    an episode's key. Unknown names and bad arguments raise AgentloopError with one line.
    """
    provider, sep, rest = name.partition("/")
    if not sep or not provider or not rest:
        raise AgentloopError(f"model names are provider/model (e.g. scripted/oracle, openai/gpt-4o-mini), got {name!r}")
    attempts = _coerce_int(args.pop("retries", DEFAULT_ATTEMPTS), "retries")
    wait = args.pop("retry_wait", None)
    if provider in _PROVIDERS:
        inner = import_module(_PROVIDERS[provider]).make(rest, args)
    else:
        inner = import_module(_LITELLM).make(name, args)
    if wait is None:
        wait = getattr(inner, "retry_wait", 1.0)
    elif not isinstance(wait, (int, float)) or wait < 0:
        raise AgentloopError(f"model argument retry_wait={wait!r} must be a number of seconds >= 0")
    return RetryingModel(inner, attempts=attempts, wait=float(wait))


def _coerce_int(value: Any, name: str) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise AgentloopError(f"model argument {name}={value!r} must be an integer") from None
    if out < 1:
        raise AgentloopError(f"model argument {name}={value!r} must be at least 1")
    return out


def parse_model_args(pairs: list[str]) -> dict[str, Any]:
    """`-M key=value` strings → dict; numbers and booleans are converted, the rest kept as text."""
    from agentloop._kv import parse_pairs

    return {k: _literal(v) for k, v in parse_pairs(pairs, "-M").items()}


def _literal(value: str) -> Any:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(value)
        except ValueError:
            pass
    return value
