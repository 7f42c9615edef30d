"""Models: one protocol, selected by `provider/model` name.

`scripted/*` are simulators and test doubles, `local/*` runs a GGUF model in-process, and
every other provider goes through litellm (imported only when such a model is used).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentloop._kv import redact_args
from agentloop._plugins import Registry, resolve
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
    "register_provider",
    "request_seed",
]

# provider prefix -> its factory `make(rest_of_name, args) -> Model`, as an import path
# "module:function" (imported on first use) or the function itself (`register_provider`);
# installed packages add theirs through entry points. Any other prefix goes to litellm.
_BUILTIN: dict[str, str] = {
    "scripted": "agentloop.models.scripted:make",
    "local": "agentloop.models.local:make",
}
_PROVIDERS = Registry("model provider", "agentloop.models", _BUILTIN)
_LITELLM = "agentloop.models._litellm:make"

Factory = Callable[[str, dict[str, Any]], Model]


def register_provider(prefix: str, factory: Factory | str) -> None:
    """Make `get_model("prefix/rest", **args)` call `factory(rest, args)`, which returns a `Model`.

    `factory` is a function or an import path "package.module:function" (imported on first
    use). Installed packages can declare one as an entry point in the group `agentloop.models`
    instead. The built-in prefixes (scripted, local) cannot be replaced.
    """
    if not prefix or "/" in prefix or ":" in prefix:
        raise AgentloopError(f"a provider prefix is a plain word (the part before '/'), got {prefix!r}")
    if not isinstance(factory, str) and not callable(factory):
        raise AgentloopError(f"provider {prefix!r}: the factory must be a function make(rest, args) -> Model")
    _PROVIDERS.add(prefix, factory)


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
    target = _PROVIDERS.get(provider)
    if target is None:  # litellm takes the whole name: its providers are its own business
        inner = _factory(_LITELLM, "litellm")(name, args)
    else:
        inner = _factory(target, provider)(rest, args)
        if not isinstance(inner, Model):
            raise AgentloopError(f"provider {provider!r} returned {type(inner).__name__}, which is not an agentloop Model")
    if wait is None:
        wait = getattr(inner, "retry_wait", 1.0)
    elif not isinstance(wait, (int, float)) or wait < 0:
        raise AgentloopError(f"model argument retry_wait={wait!r} must be a number of seconds >= 0")
    return RetryingModel(inner, attempts=attempts, wait=float(wait))


def _factory(target: Factory | str, provider: str) -> Factory:
    return resolve(target, f"model provider {provider!r}") if isinstance(target, str) else target


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
