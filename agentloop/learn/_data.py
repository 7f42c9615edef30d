"""Training and test data, made on the fly by the scenarios' own generators and simulators.

Nothing here re-implements a rule: rows and boards come from `Eca.generate` / `Life.generate`,
next generations from `eca.next_row` / `life.next_board`, single cells from the scenarios'
`next_cell`. Pure Python and torch-free, so tests can compare it with the simulators directly.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentloop.scenarios import eca, life

# A row (eca) is a tuple of bits; a board (life) a tuple of rows.
State = Any

# Disjoint instance-seed streams, so no test row is ever a training row by construction of its
# seed (rows may still coincide by chance at small widths, as they would in any sample).
_TRAIN_BASE = 10**9
_TEST_BASE = 10**15


def train_seed(seed: int, k: int) -> int:
    """Instance seed of the k-th training example for training seed `seed`."""
    return (seed + 1) * _TRAIN_BASE + k


def test_seed(seed: int, size: int, i: int) -> int:
    """Instance seed of the i-th test example at `size` for training seed `seed`."""
    return _TEST_BASE + seed * _TRAIN_BASE + size * 100_000 + i


@dataclass(frozen=True)
class World:
    """One scenario's ground truth, seen as data: sample a state, step it, cut neighbourhoods."""

    scenario: str
    rule: int = 110
    density: float = 0.35

    @property
    def window_cells(self) -> int:
        """Cells in one neighbourhood: 3 on a row, 3×3 on a board."""
        return 3 if self.scenario == "eca" else 9

    def simulator(self) -> eca.Eca | life.Life:
        return eca.Eca() if self.scenario == "eca" else life.Life()

    def instance(self, size: int, steps: int, seed: int) -> Any:
        """The scenario's own instance: a row of `size` cells (eca) or a `size`×`size` board (life)."""
        if self.scenario == "eca":
            return eca.Eca().generate(eca.EcaParams(rule=self.rule, width=size, steps=steps), seed)
        params = life.LifeParams(rows=size, cols=size, steps=steps, density=self.density)
        return life.Life().generate(params, seed)

    def sample(self, size: int, seed: int) -> State:
        """A random initial state, exactly as the scenario generates it for this seed."""
        return self.instance(size, 1, seed).initial

    def step(self, state: State) -> State:
        """The next generation, by the scenario's simulator."""
        if self.scenario == "eca":
            return eca.next_row(self.rule, state)
        return life.next_board(state)

    def rollout(self, state: State, generations: int) -> list[State]:
        """Generations 1..`generations` from `state`."""
        out = []
        for _ in range(generations):
            state = self.step(state)
            out.append(state)
        return out

    def centre(self, window: Sequence[int]) -> int:
        """The next value of a neighbourhood's centre cell (window flattened row-major)."""
        if self.scenario == "eca":
            return eca.next_cell(self.rule, *window)
        board = (tuple(window[0:3]), tuple(window[3:6]), tuple(window[6:9]))
        return life.next_cell(board, 1, 1)

    def sample_window(self, seed: int) -> tuple[tuple[int, ...], int]:
        """A random neighbourhood, flattened, and its centre's next value.

        Life windows are drawn at density 0.5 so that all 512 patterns are common; at the board
        density (0.35) the crowded ones would be rare and the local model might never see them.
        """
        if self.scenario == "eca":
            window = self.sample(3, seed)
        else:
            params = life.LifeParams(rows=3, cols=3, steps=1, density=0.5)
            window = tuple(itertools.chain.from_iterable(life.Life().generate(params, seed).initial))
        return window, self.centre(window)

    def patterns(self) -> list[tuple[tuple[int, ...], int]]:
        """Every neighbourhood pattern (8 on a row, 512 on a board) with its centre's next value."""
        return [(w, self.centre(w)) for w in itertools.product((0, 1), repeat=self.window_cells)]


def flatten(state: State) -> list[int]:
    """A row as is; a board row-major."""
    if state and isinstance(state[0], (tuple, list)):
        return [b for row in state for b in row]
    return list(state)
