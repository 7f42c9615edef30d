"""reasoning-gym's tasks as agentloop scenarios (`pip install 'agentloop[gym]'`; docs/interop.md).

By name (entry points, so `agentloop scenarios` lists them): `rg/ab`, `rg/game_of_life`,
`rg/mini_sudoku`. Every reasoning-gym task, these included, by import path
`agentloop.interop.rg:<task>` — `agentloop.interop.rg:tower_of_hanoi` (step by step, in
reasoning-gym's move format), `agentloop.interop.rg:basic_arithmetic` (the whole answer as one
step) — and from Python with `gym_scenario(task)`:

    agentloop run agentloop.interop.rg:tower_of_hanoi --condition verify --model scripted/noisy -M error=0.1
    agentloop run agentloop.interop.rg:leg_counting --condition vote

Importing this module does not import reasoning_gym; the first instance does.
"""

from __future__ import annotations

from typing import Any

from agentloop.interop._gym import (
    BY_NAME,
    DECOMPOSED,
    NO_DECOMPOSITION,
    RgAb,
    RgHanoi,
    RgItem,
    RgLife,
    RgSudoku,
    WholeTask,
    available,
    gym_scenario,
    task_names,
)

__all__ = [
    "BY_NAME",
    "DECOMPOSED",
    "NO_DECOMPOSITION",
    "RgAb",
    "RgHanoi",
    "RgItem",
    "RgLife",
    "RgSudoku",
    "WholeTask",
    "ab",
    "available",
    "game_of_life",
    "gym_scenario",
    "mini_sudoku",
    "task_names",
    "tower_of_hanoi",
]

# The step-by-step ones, under reasoning-gym's task names (the targets of the entry points).
ab = RgAb
game_of_life = RgLife
mini_sudoku = RgSudoku
tower_of_hanoi = RgHanoi


def __getattr__(name: str) -> Any:
    """`agentloop.interop.rg:<task>` for any other reasoning-gym task: its whole-answer scenario."""
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return gym_scenario(name)
    except Exception as exc:
        if available():
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}: {exc}") from None
        raise
