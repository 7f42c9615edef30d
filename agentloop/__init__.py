"""agentloop: supports that keep LLM agents on track over many steps, and the instrument that
measures them.

    from agentloop import get_scenario, get_model, run_episode
    record = run_episode("eca", {"rule": 110, "width": 16, "steps": 4}, condition="tape",
                         model="scripted/noisy", model_args={"error": 0.1}, seed=1)

Importing the package is cheap: the heavy libraries (litellm, langgraph, matplotlib, llama.cpp)
load only when a function that needs them runs.
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it; each loads on first use.
_LAZY = {
    # running episodes and experiments
    "run_episode": "agentloop.loop",
    "arun_episode": "agentloop.loop",
    "episode_graph": "agentloop.loop",
    "run_experiment": "agentloop.experiment",
    "get_condition": "agentloop.conditions",
    "get_model": "agentloop.models",
    "get_scenario": "agentloop.scenarios",
    "list_scenarios": "agentloop.scenarios",
    # open registries: your own tasks and model providers
    "register_scenario": "agentloop.scenarios",
    "register_provider": "agentloop.models",
    # reading results (a notebook never needs the store)
    "load_results": "agentloop.results",
    "summarise": "agentloop.results",
    # the supports as building blocks, usable with no scenario
    "vote": "agentloop.supports",
    "avote": "agentloop.supports",
    "verify": "agentloop.supports",
    "averify": "agentloop.supports",
    "RedFlag": "agentloop.supports",
    "VoteResult": "agentloop.supports",
    "VerifyResult": "agentloop.supports",
    "Tape": "agentloop.tape",
    # the vocabulary
    "Verdict": "agentloop.types",
    "EpisodeRecord": "agentloop.types",
    "StepRecord": "agentloop.types",
    "Limits": "agentloop.types",
    "Condition": "agentloop.conditions",
    "Scenario": "agentloop.scenarios",
    "Params": "agentloop.scenarios",
    "Step": "agentloop.types",
    "Completion": "agentloop.types",
    "ParseError": "agentloop.errors",
    "Model": "agentloop.models",
    "AgentloopError": "agentloop.errors",
}

__all__ = ["__version__", *_LAZY]

logging.getLogger("agentloop").addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agentloop' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
