"""TextArena's single-player games as agentloop scenarios (`pip install 'agentloop[arena]'`; docs/interop.md).

By name (entry points; each has an oracle) `ta/Crosswords-v0`, `ta/Sudoku-v0` and
`ta/TowerOfHanoi-v0`, and every game by import path (each is TextArena's environment, one move per turn, judged by it):

    agentloop run ta/Crosswords-v0 --condition tape --model local/gemma3-270m
    agentloop run ta/Sudoku-v0 --condition verify --model local/gemma3-270m
    agentloop run ta/TowerOfHanoi-v0 --condition tape --model local/gemma3-270m

`Crosswords`, `Sudoku`, `TowerOfHanoi` and `Minesweeper` are tuned (move format, parser); any other
single-player environment id gives a generic scenario (any bracketed move) with `arena_scenario(id)`
or `agentloop.interop.ta:<id>`. `Wordle-v0` is unavailable offline (see `UNAVAILABLE`).

Importing this module does not import textarena; the first instance does.
"""

from __future__ import annotations

from typing import Any

from agentloop.interop._arena import (
    GAMES,
    OFFLINE,
    UNAVAILABLE,
    ArenaGame,
    ArenaInstance,
    ArenaParams,
    Crosswords,
    Minesweeper,
    Played,
    Sudoku,
    TowerOfHanoi,
    arena_scenario,
    available,
)

__all__ = [
    "GAMES",
    "OFFLINE",
    "UNAVAILABLE",
    "ArenaGame",
    "ArenaInstance",
    "ArenaParams",
    "Crosswords",
    "Minesweeper",
    "Played",
    "Sudoku",
    "TowerOfHanoi",
    "arena_scenario",
    "available",
]


def __getattr__(name: str) -> Any:
    """`agentloop.interop.ta:<env id>` (e.g. `Crosswords-v0`): that game's scenario class."""
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return arena_scenario(name)
    except Exception as exc:
        if available():
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}: {exc}") from None
        raise
