"""Learned models of the cellular-automaton scenarios: why a tape generalises and a whole-state
network does not.

    from agentloop.learn import quick_config, run_study
    result = run_study(quick_config("eca", rule=110))   # LearnResult: config, table, provenance

A whole-state transformer (row in, next row out) is trained at one width and tested at wider
ones; a local transformer of the same kind learns only neighbourhood → next cell and is applied
cell by cell over a `Tape` of any width. Beside them: the whole-state model with a recurrent
(GRU) front layer (`whole+gru`) and an autoregressive decoder (`decoder`). Needs the `learn` extra (torch, CPU is enough); torch is
imported only when a study runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Loaded on first use, so that `agentloop --help` (which registers the learn command) stays fast.
_LAZY = {
    **dict.fromkeys(
        ["EvalCell", "Interval", "LearnConfig", "LearnResult", "ModelSpec", "TrainRecord", "make_config",
         "parse_model", "quick_config"],
        "agentloop.learn._config",
    ),
    "World": "agentloop.learn._data",
    "markdown": "agentloop.learn._report",
    "print_table": "agentloop.learn._report",
    "write_outputs": "agentloop.learn._report",
    "run_study": "agentloop.learn._study",
    "seed_interval": "agentloop.learn._study",
}

__all__ = [
    "EvalCell",
    "Interval",
    "LearnConfig",
    "LearnResult",
    "ModelSpec",
    "TrainRecord",
    "World",
    "make_config",
    "markdown",
    "parse_model",
    "print_table",
    "quick_config",
    "run_study",
    "seed_interval",
    "write_outputs",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agentloop.learn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
