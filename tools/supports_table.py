"""The oracle's gain against each realistic support's, from experiment directories.

    agentloop experiment scenarios/supports-hanoi.toml --out runs/supports-hanoi
    python tools/supports_table.py runs/supports-eca runs/supports-hanoi runs/supports-sudoku

Prints one Markdown table: per directory (scenario) and condition, success and step accuracy
with their 95% intervals, the share of the oracle's gain in success the condition recovers
((condition − tape) / (verify − tape), when both baselines are in the directory), calls per step,
and, for a checker other than the simulator, its false-accept and false-reject rates. Figures of
simulated models (scripted/...) are labelled "(simulated)".
"""

from __future__ import annotations

import sys


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _ci(ci) -> str:
    return "" if ci is None else f" [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]"


def rows_of(m) -> list[list[str]]:
    """The table's rows for one experiment's metrics (`load_report(out_dir).metrics`)."""
    by = {g.condition: g for g in m.by_condition}
    base, oracle = by.get("tape"), by.get("verify")
    gain = oracle.success_rate - base.success_rate if base and oracle else None
    rows = []
    for g in m.by_condition:
        scenario = g.scenario or next((c.scenario for c in m.by_cell if c.condition == g.condition), "")
        share = "–"
        if gain and base is not None and g.condition not in ("tape", "verify"):
            share = f"{100 * (g.success_rate - base.success_rate) / gain:.0f}%"
        c = g.checker
        rows.append([
            scenario or "",
            g.condition,
            f"{_pct(g.success_rate)}{_ci(g.success_ci)}",
            f"{_pct(g.step_accuracy)}{_ci(g.step_accuracy_ci)}",
            share,
            "–" if g.calls_per_step is None else f"{g.calls_per_step:.2f}",
            "–" if c is None else f"{_pct(c.false_accept_rate)}{_ci(c.false_accept_ci)} ({c.false_accepts}/{c.wrong})",
            "–" if c is None else f"{_pct(c.false_reject_rate)}{_ci(c.false_reject_ci)} ({c.false_rejects}/{c.right})",
        ])
    return rows


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python tools/supports_table.py RUN_DIR [RUN_DIR ...]", file=sys.stderr)
        return 2
    from agentloop.errors import AgentloopError
    from agentloop.report import load_report

    head = ["scenario", "condition", "success [95% CI]", "step accuracy [95% CI]", "share of the oracle's gain",
            "calls/step", "checker false accepts", "checker false rejects"]
    rows, simulated = [], False
    try:
        for d in argv:
            m = load_report(d).metrics
            rows += rows_of(m)
            simulated = simulated or m.simulated
    except AgentloopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if simulated:
        print("(simulated: scripted models, not measurements of a real model)\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
