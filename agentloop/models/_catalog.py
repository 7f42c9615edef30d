"""What `agentloop models` lists: the models usable without a key, then the keyed providers.

The environment is passed in (only the CLI reads it). Listing is cheap: it neither imports
litellm nor llama.cpp nor hashes weights (installed means "the files are there, at full size";
the SHA-256 is checked when a model is loaded).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel

# litellm provider -> (environment variable that enables it, an example model name)
_KEYED: dict[str, tuple[str, str]] = {
    "openai": ("OPENAI_API_KEY", "openai/gpt-4o-mini"),
    "anthropic": ("ANTHROPIC_API_KEY", "anthropic/claude-3-5-haiku-latest"),
    "gemini": ("GEMINI_API_KEY", "gemini/gemini-2.0-flash"),
    "mistral": ("MISTRAL_API_KEY", "mistral/mistral-small-latest"),
    "groq": ("GROQ_API_KEY", "groq/llama-3.1-8b-instant"),
    "deepseek": ("DEEPSEEK_API_KEY", "deepseek/deepseek-chat"),
    "openrouter": ("OPENROUTER_API_KEY", "openrouter/openai/gpt-4o-mini"),
    "together_ai": ("TOGETHERAI_API_KEY", "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    "xai": ("XAI_API_KEY", "xai/grok-3-mini"),
    "ollama": ("OLLAMA_API_BASE", "ollama/llama3.2"),
}


class ModelInfo(BaseModel):
    name: str
    kind: Literal["scripted", "local", "litellm"]
    simulated: bool
    available: bool
    default: bool = False
    detail: str = ""


def list_models(env: Mapping[str, str]) -> list[ModelInfo]:
    """Scripted models, the local models (the default first, with whether their weights are
    installed), then the litellm providers whose key is set in `env`."""
    from agentloop.models._weights import CATALOGUE, DEFAULT, is_installed
    from agentloop.models.scripted import _POLICY_ARGS

    out = [
        ModelInfo(
            name=f"scripted/{policy}",
            kind="scripted",
            simulated=True,
            available=True,
            detail="simulator (answers from the ground truth); -M " + ", ".join(sorted(args)),
        )
        for policy, args in _POLICY_ARGS.items()
    ]
    for w in sorted(CATALOGUE.values(), key=lambda w: w.name != DEFAULT):
        ok = is_installed(w)
        out.append(
            ModelInfo(
                name=f"local/{w.name}",
                kind="local",
                simulated=False,
                available=ok,
                default=w.name == DEFAULT,
                detail=f"{w.title}; {w.license}; " + ("weights installed" if ok else f"not installed: {w.install}"),
            )
        )
    for provider, (var, example) in _KEYED.items():
        if env.get(var):
            out.append(
                ModelInfo(
                    name=f"{provider}/*", kind="litellm", simulated=False, available=True,
                    detail=f"{var} is set; e.g. {example}",
                )
            )
    return out
