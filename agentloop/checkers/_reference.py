"""Programs a simulated model writes under `checker=program`: a correct one, and a buggy one.

These are real Python sources, run in the sandbox like any model's program (they are the
scripted models' "knowledge", as `solve` is for their step answers). The buggy variants are
plausible slips, each wrong on some steps and right on others. Only these scenarios have them:
a scripted model asked to write a program for another scenario is refused with one line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReferenceProgram:
    source: str  # right at every step
    buggy: str  # a plausible mistake


_ECA = '''
def step(task):
    rule = task["params"]["rule"]
    prev = task["state"]["rows"][-1]
    cell = task["step"]["key"][1]
    left, centre, right = prev[cell - 1], prev[cell], prev[(cell + 1) % len(prev)]
    return (rule >> (4 * left + 2 * centre + right)) & 1
'''

# Reads the neighbourhood backwards: right only for the rule's mirror-symmetric patterns.
_ECA_BUGGY = '''
def step(task):
    rule = task["params"]["rule"]
    prev = task["state"]["rows"][-1]
    cell = task["step"]["key"][1]
    left, centre, right = prev[cell - 1], prev[cell], prev[(cell + 1) % len(prev)]
    return (rule >> (4 * right + 2 * centre + left)) & 1
'''

_HANOI = '''
def step(task):
    pegs = task["state"]["pegs"]
    where = {disk: i for i, peg in enumerate(pegs) for disk in peg}
    n = len(where)
    if task["params"].get("start") == "classic":
        # The strategy from the classic start: disk 1 on alternate moves, along a fixed cycle.
        cycle = (2, 0, 1) if n % 2 else (1, 2, 0)
        small = where[1]
        last = task["state"]["last"]
        if last is None or last[0] != 1:
            return [1, small, cycle[small]]
        a, b = [i for i in range(3) if i != small]
        ta = pegs[a][-1] if pegs[a] else None
        tb = pegs[b][-1] if pegs[b] else None
        if ta is None and tb is None:
            return [1, small, cycle[small]]
        if tb is None or (ta is not None and ta < tb):
            return [ta, a, b]
        return [tb, b, a]
    # The recursive rule: from the largest disk down, each disk off its target must move there,
    # and the smaller disks must first go to the third peg.
    target, move = 2, None
    for disk in range(n, 0, -1):
        if where[disk] != target:
            move = [disk, where[disk], target]
            target = 3 - where[disk] - target
    return move
'''

# Always moves the smallest disk one peg on: legal, and right only on some moves.
_HANOI_BUGGY = '''
def step(task):
    pegs = task["state"]["pegs"]
    small = next(i for i, peg in enumerate(pegs) if peg and peg[-1] == 1)
    return [1, small, (small + 1) % 3]
'''

_SUDOKU = '''
def step(task):
    n = task["params"]["size"]
    box = {4: 2, 9: 3}[n]
    grid = list(task["state"])

    def candidates(cell):
        r, c = divmod(cell, n)
        br, bc = r - r % box, c - c % box
        used = {grid[r * n + j] for j in range(n)} | {grid[i * n + c] for i in range(n)}
        used |= {grid[(br + i) * n + bc + j] for i in range(box) for j in range(box)}
        return [d for d in range(1, n + 1) if d not in used]

    def solve():
        empty = [i for i, v in enumerate(grid) if v == 0]
        if not empty:
            return True
        cell = min(empty, key=lambda i: len(candidates(i)))
        for d in candidates(cell):
            grid[cell] = d
            if solve():
                return True
        grid[cell] = 0
        return False

    if not solve():
        return None
    return grid[task["step"]["key"][0]]
'''

# Forgets the box: the smallest digit its row and column still allow.
_SUDOKU_BUGGY = '''
def step(task):
    n = task["params"]["size"]
    grid = task["state"]
    r, c = divmod(task["step"]["key"][0], n)
    used = {grid[r * n + j] for j in range(n)} | {grid[i * n + c] for i in range(n)}
    return min(d for d in range(1, n + 1) if d not in used)
'''

REFERENCE: dict[str, ReferenceProgram] = {
    "eca": ReferenceProgram(_ECA.strip("\n"), _ECA_BUGGY.strip("\n")),
    "hanoi": ReferenceProgram(_HANOI.strip("\n"), _HANOI_BUGGY.strip("\n")),
    "sudoku": ReferenceProgram(_SUDOKU.strip("\n"), _SUDOKU_BUGGY.strip("\n")),
}
