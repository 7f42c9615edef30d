"""Accuracy per atomic step against the size of the step, from an experiment directory.

    agentloop experiment scenarios/granularity.toml --out runs/granularity
    python tools/granularity_table.py runs/granularity

Prints a Markdown table: per scenario, granularity, condition and model, the atoms per call,
the first-attempt accuracy per step (every atom right) and per atom, and the episodes solved.
Figures of simulated models (scripted/...) are labelled "(simulated)".
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tools/granularity_table.py RUN_DIR", file=sys.stderr)
        return 2
    from agentloop.errors import AgentloopError
    from agentloop.results import load_results
    from agentloop.scenarios._granularity import atom_table, format_atom_table

    try:
        records = load_results(argv[0])
    except AgentloopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = atom_table(records)
    print(format_atom_table(rows, simulated=any(r.simulated for r in records)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
