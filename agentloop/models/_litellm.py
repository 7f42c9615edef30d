"""Every real provider (OpenAI, Anthropic, Ollama, vLLM, any OpenAI-compatible server) via litellm."""

from __future__ import annotations

import os
import time
from typing import Any

from agentloop.errors import AgentloopError, ModelError, TransientModelError
from agentloop.models._protocol import Hint, Message
from agentloop.types import Completion

# Vote samples after the first need some randomness, or every sample is the same answer.
VOTE_TEMPERATURE = 0.7


def import_litellm():
    """Import litellm without its network fetch of the price list (it uses its bundled copy)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _transient_types(litellm) -> tuple[type[BaseException], ...]:
    names = ("RateLimitError", "Timeout", "APIConnectionError", "InternalServerError", "ServiceUnavailableError")
    return tuple(t for t in (getattr(litellm, n, None) for n in names) if isinstance(t, type))


class LiteLLMModel:
    simulated = False
    retry_wait = 1.0

    def __init__(self, name: str, args: dict[str, Any]) -> None:
        self.name = name
        self.args = dict(args)
        self._seed_ok: bool | None = None

    def _kwargs(self, messages: list[Message], sample: int, seed: int | None) -> dict[str, Any]:
        kwargs = dict(self.args)
        if sample > 0 and "temperature" not in kwargs:
            kwargs["temperature"] = VOTE_TEMPERATURE
        if seed is not None and "seed" not in kwargs and self._accepts_seed():
            kwargs["seed"] = seed  # replayable samples where the provider honours it
        # One retry layer (ours): switch off the SDK's and litellm's own retries.
        return {"model": self.name, "messages": messages, "num_retries": 0, "max_retries": 0, **kwargs}

    def _accepts_seed(self) -> bool:
        if self._seed_ok is None:
            try:
                params = import_litellm().get_supported_openai_params(model=self.name) or []
            except Exception:  # an unknown model: send no parameter it may reject
                params = []
            self._seed_ok = "seed" in params
        return self._seed_ok

    def _completion(self, litellm, resp, started: float) -> Completion:
        text = resp.choices[0].message.content or ""
        usage = getattr(resp, "usage", None)
        try:
            cost = float(litellm.completion_cost(completion_response=resp))
        except Exception:  # unknown prices (custom and local models): cost stays unknown
            cost = None
        return Completion(
            text=text,
            tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
            tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
            latency_s=time.perf_counter() - started,
            cost=cost,
        )

    def _error(self, litellm, exc: Exception) -> ModelError:
        if isinstance(exc, _transient_types(litellm)):
            return TransientModelError(f"{self.name}: {type(exc).__name__}: {str(exc)[:200]}")
        return ModelError(f"{self.name}: {type(exc).__name__}: {str(exc)[:200]}")

    def complete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        litellm = import_litellm()
        started = time.perf_counter()
        try:
            resp = litellm.completion(**self._kwargs(messages, sample, seed))
        except Exception as exc:
            raise self._error(litellm, exc) from exc
        return self._completion(litellm, resp, started)

    async def acomplete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        litellm = import_litellm()
        started = time.perf_counter()
        try:
            resp = await litellm.acompletion(**self._kwargs(messages, sample, seed))
        except Exception as exc:
            raise self._error(litellm, exc) from exc
        return self._completion(litellm, resp, started)


def make(name: str, args: dict[str, Any]) -> LiteLLMModel:
    provider = name.split("/", 1)[0]
    litellm = import_litellm()
    known = {getattr(p, "value", p) for p in litellm.provider_list}
    if provider not in known:
        raise AgentloopError(
            f"unknown model provider {provider!r} in {name!r}; use scripted/*, local/*, or a litellm provider "
            "(openai, anthropic, ollama, ...); see `agentloop models`"
        )
    return LiteLLMModel(name, args)
