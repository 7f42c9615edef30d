"""The embedded models as a litellm custom provider, for users' own litellm code.

    from agentloop.models.local import register_litellm
    register_litellm()
    litellm.completion(model="local/gemma3-270m", messages=[...])

agentloop's own loop calls llama.cpp directly (tools/bench_local.py measures what the litellm
route costs on top). Model arguments (see `LocalArgs`) pass through litellm's optional params.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agentloop.models._litellm import import_litellm

_HANDLER: Any = None  # one handler per process, created on first registration


def _handler_class(litellm):
    from agentloop.models.local import LocalArgs, make

    class LocalLLM(litellm.CustomLLM):
        """Routes `local/<name>` to agentloop's LocalModel (same engine, same lock)."""

        def _run(self, model: str, messages: list, optional_params: dict, model_response):
            name = model.split("/", 1)[1] if model.startswith("local/") else model
            args = {k: v for k, v in (optional_params or {}).items() if k in LocalArgs.model_fields}
            c = make(name, args).complete(messages, sample=1 if args.get("temperature") else 0)
            model_response.choices[0].message.content = c.text
            model_response.model = f"local/{name}"
            model_response.usage = litellm.Usage(
                prompt_tokens=c.tokens_in, completion_tokens=c.tokens_out, total_tokens=c.tokens_in + c.tokens_out
            )
            return model_response

        def completion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                       encoding, api_key, logging_obj, optional_params, *args, **kwargs):
            return self._run(model, messages, optional_params, model_response)

        async def acompletion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                              encoding, api_key, logging_obj, optional_params, *args, **kwargs):
            return await asyncio.to_thread(self._run, model, messages, optional_params, model_response)

    return LocalLLM


def register() -> None:
    """Add (or keep) the `local` entry of litellm.custom_provider_map."""
    global _HANDLER
    litellm = import_litellm()
    if _HANDLER is None:
        _HANDLER = _handler_class(litellm)()
    others = [p for p in litellm.custom_provider_map if p.get("provider") != "local"]
    litellm.custom_provider_map = [*others, {"provider": "local", "custom_handler": _HANDLER}]
