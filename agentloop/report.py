"""Reports of an experiment directory: a terminal table, JSON for machines, one HTML file.

    data = load_report(out_dir)              # provenance + metrics, from DIR/results.sqlite
    print_report(data)                       # rich tables on stdout
    write_html_report(out_dir, "report.html")

The HTML file is self-contained (plots embedded as base64 PNG) and says in a banner when any
result came from a simulated model. matplotlib is imported only to draw (Agg backend).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentloop.errors import AgentloopError
from agentloop.metrics import GroupMetrics, Metrics

__all__ = ["ReportData", "load_report", "print_report", "report_json", "write_html_report"]

SIMULATED_NOTE = "simulated: produced by scripted models (test doubles), not measurements of a real model"


class FailedEpisode(BaseModel):
    """A failed episode, with the transcript of the step where it went wrong."""

    key: str
    label: str
    status: str
    step: int | None
    transcript: str


class ReportData(BaseModel):
    out_dir: str
    runs: list[dict[str, Any]]
    metrics: Metrics
    failures: list[FailedEpisode] = []
    failures_total: int = 0


# Failed episodes whose transcripts the HTML report shows (the rest: `agentloop show`).
MAX_FAILURES_SHOWN = 40


def _failures(episodes) -> tuple[list[FailedEpisode], int]:
    from agentloop.transcript import render_transcript

    failed = [(k, r) for k, r in episodes if not r.success]
    shown = []
    for key, r in failed[:MAX_FAILURES_SHOWN]:
        # The step that went wrong: the first locally wrong one, else the last (budget, format, error).
        step = r.first_error_step if r.first_error_step is not None else (r.steps[-1].index if r.steps else None)
        params = " ".join(f"{k}={v}" for k, v in r.params.items())
        shown.append(FailedEpisode(
            key=key, label=f"{r.scenario} {params} · {r.condition} · {r.model} · seed {r.seed}", status=r.status,
            step=step, transcript=render_transcript(r, step=step),
        ))
    return shown, len(failed)


def load_report(out_dir: str | Path, *, baseline: str | None = None) -> ReportData:
    """Read `out_dir/results.sqlite` and compute every metric."""
    from agentloop.metrics import compute_metrics
    from agentloop.store import ResultsStore

    out = Path(out_dir)
    if not out.is_dir():
        raise AgentloopError(f"no experiment directory {out}")
    with ResultsStore(out / "results.sqlite", create=False) as store:
        episodes = store.episodes()
        runs = store.runs()
    if not episodes:
        raise AgentloopError(f"{out}/results.sqlite holds no finished episodes yet")
    failures, total = _failures(episodes)
    return ReportData(out_dir=str(out), runs=runs, metrics=compute_metrics([r for _, r in episodes], baseline=baseline),
                      failures=failures, failures_total=total)


# --- formatting ---------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _ci_pct(ci) -> str:
    return "" if ci is None else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _num(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "–"
    if abs(x) >= 1e5:
        return f"{x:.2e}"
    return f"{x:,.{digits}f}"


def _p(p: float | None) -> str:
    return "–" if p is None else f"{p:.2g}"


def _fmt_drift(slope: float | None, ci, p: float | None, note: str) -> str:
    """Slope [CI] and the permutation test's p; the note when no test was run."""
    if p is None:
        return f"n/a ({note})" if note else "–"
    text = "slope n/a" if slope is None else f"{slope:+.4f}"
    if ci is not None:
        text += f" [{ci[0]:+.4f}, {ci[1]:+.4f}]"
    return f"{text} p={_p(p)}"


def _drift(g: GroupMetrics) -> str:
    return _fmt_drift(g.drift_slope, g.drift_slope_ci, g.drift_p, g.drift_note)


def _first_drift(g: GroupMetrics) -> str:
    return _fmt_drift(g.first_try_drift_slope, g.first_try_drift_slope_ci, g.first_try_drift_p, g.first_try_drift_note)


def _tokens_drift(g: GroupMetrics) -> str:
    return _fmt_drift(g.drift_slope_tokens, g.drift_slope_tokens_ci, g.drift_tokens_p, g.drift_tokens_note)


def _horizon(h: int | None, g: GroupMetrics) -> str:
    return str(h) if h is not None else f">{g.max_steps}" if g.max_steps else "–"


def _format(g: GroupMetrics) -> str:
    """Episodes stopped by an unreadable reply, and re-asks of unreadable replies per step."""
    retries = "" if not g.format_retries_per_step else f", {g.format_retries_per_step:.2f} re-asks/step"
    return f"{g.format_failures}/{g.episodes}{retries}"


def _params(g) -> str:
    return " ".join(f"{k}={v}" for k, v in (g.params or {}).items())


def _condition_rows(gs: list[GroupMetrics]) -> list[list[str]]:
    return [
        [
            g.condition,
            str(g.episodes),
            str(g.cells),
            f"{_pct(g.success_rate)} {_ci_pct(g.success_ci)}",
            f"{_pct(g.step_accuracy)} {_ci_pct(g.step_accuracy_ci)}",
            _pct(g.first_try_accuracy),
            _format(g),
            _drift(g),
            _num(g.calls_per_step),
            _num(g.calls_per_solved, 1),
        ]
        for g in gs
    ]


_CONDITION_HEAD = [
    "condition",
    "episodes",
    "cells",
    "success [95% CI]",
    "step accuracy [95% CI]",
    "first try",
    "format stops",
    "drift within episodes: log-odds/step [95% CI], p",
    "calls/step",
    "calls/solved",
]
_CONDITION_TITLE = "per condition, pooled over its cells (an overview: horizons and projections are per cell)"


def _rate_cell(rate: float | None, ci, events: int, n: int) -> str:
    return f"{_pct(rate)} {_ci_pct(ci)} ({events}/{n})" if n else "–"


def _checker_rows(gs: list[GroupMetrics]) -> list[list[str]]:
    """Per condition with a deployable checker: its error rates against the simulator, beside
    the agent's accuracy and success."""
    rows = []
    for g in gs:
        c = g.checker
        if c is None:
            continue
        rows.append(
            [
                g.condition,
                c.checker,
                f"{_pct(g.success_rate)} {_ci_pct(g.success_ci)}",
                f"{_pct(g.step_accuracy)} {_ci_pct(g.step_accuracy_ci)}",
                str(c.judged),
                _rate_cell(c.false_accept_rate, c.false_accept_ci, c.false_accepts, c.wrong),
                _rate_cell(c.false_reject_rate, c.false_reject_ci, c.false_rejects, c.right),
                str(c.unjudged),
                str(c.overruled),
                _rate_cell(c.program_accuracy, c.program_accuracy_ci, c.program_ok, c.program_runs),
                _num(c.calls_per_judgement),
            ]
        )
    return rows


_CHECKER_HEAD = [
    "condition",
    "checker",
    "success [95% CI]",
    "step accuracy [95% CI]",
    "verdicts",
    "false accepts [95% CI] (of wrong)",
    "false rejects [95% CI] (of right)",
    "could not judge",
    "illegal, refused anyway",
    "program alone right",
    "checker calls/verdict",
]
_CHECKER_TITLE = "checkers a deployment can have, scored against the simulator (every verdict vs the truth)"


def _ci_pts(ci) -> str:
    return "" if ci is None else f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def _paired_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for p in data.metrics.paired:
        ci, sci = _ci_pts(p.success_diff_ci), _ci_pts(p.steps_share_diff_ci)
        rows.append(
            [
                f"{p.condition} vs {p.baseline}",
                str(p.pairs),
                f"{100 * p.success_diff:+.1f} pts {ci}",
                _p(p.mcnemar_p),
                f"{100 * p.steps_share_diff:+.1f} pts {sci}",
                _p(p.wilcoxon_p),
            ]
        )
    return rows


_PAIRED_HEAD = [
    "comparison", "pairs", "success diff [95% CI, Tango]", "McNemar exact p", "correct-prefix share diff [95% CI]",
    "Wilcoxon p",
]


def _planner_rows(m) -> list[list[str]]:
    """The planner agent's error apart from the worker's (planner=llm), per condition."""
    return [
        [r.condition, str(r.proposals), f"{_pct(r.plan_error_rate)} {_ci_pct(r.plan_error_ci)}", str(r.planned_steps),
         f"{_pct(r.worker_error_rate)} {_ci_pct(r.worker_error_ci)}"]
        for r in m.planner
    ]


_PLANNER_HEAD = ["condition", "proposals", "plan error [95% CI]", "steps a right plan chose", "worker error there [95% CI]"]


def _injection_rows(m) -> list[list[str]]:
    """Local step accuracy before and after the injection step, per condition."""
    return [
        [r.condition + ("" if r.injected else " (no injection)"), str(r.inject_step),
         f"{_pct(r.accuracy_before)} {_ci_pct(r.accuracy_before_ci)} ({r.steps_before})",
         f"{_pct(r.accuracy_after)} {_ci_pct(r.accuracy_after_ci)} ({r.steps_after})",
         "–" if r.accuracy_before is None or r.accuracy_after is None
         else f"{100 * (r.accuracy_after - r.accuracy_before):+.1f} pts"]
        for r in m.injection
    ]


_INJECTION_HEAD = ["condition", "injected at step", "accuracy before [95% CI] (steps)", "accuracy after [95% CI] (steps)",
                   "change"]


def _steps_k(pr, key: str) -> str:
    return f"{_num(pr.steps_at_99[key], 1)} [{_num(pr.steps_at_99_lo[key], 1)}]"


def _k_min(pr) -> str:
    if pr is None:
        return "–"
    k = "none" if pr.k_min is None else str(pr.k_min)
    cautious = "none" if pr.k_min_hi is None else str(pr.k_min_hi)
    return f"{k} [{cautious}]"


def _cell_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for g in data.metrics.by_cell:
        pr = g.projection
        rows.append(
            [
                g.scenario or "",
                _params(g),
                g.model or "",
                g.condition,
                str(g.episodes),
                f"{_pct(g.success_rate)} {_ci_pct(g.success_ci)}",
                f"{_pct(g.step_accuracy)} {_ci_pct(g.step_accuracy_ci)}",
                _horizon(g.h50, g),
                _horizon(g.h90, g),
                _drift(g),
                _format(g),
                "–" if pr is None else f"{_pct(pr.p)} {_ci_pct(pr.p_ci)}",
                "–" if pr is None else _steps_k(pr, "single"),
                _k_min(pr),
            ]
        )
    return rows


_CELL_HEAD = [
    "scenario", "params", "model", "condition", "episodes", "success [95% CI]", "step accuracy [95% CI]", "H50", "H90",
    "drift: log-odds/step [95% CI], p", "format stops", "single call p [95% CI]", "steps at 99% [cautious]",
    "k_min for 99% [cautious]",
]
_CELL_TITLE = "per cell (scenario × params × model × condition): horizons, drift and projection"


def _detail_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for g in data.metrics.by_cell:
        pr = g.projection
        rows.append(
            [
                g.scenario or "",
                _params(g),
                g.model or "",
                g.condition,
                f"{_pct(g.first_try_accuracy)} {_ci_pct(g.first_try_accuracy_ci)}",
                _first_drift(g),
                _tokens_drift(g),
                "–" if pr is None else pr.source,
                "–" if pr is None else _steps_k(pr, "vote_k3"),
                "–" if pr is None else _steps_k(pr, "vote_k5"),
                _num(g.calls_per_step),
                _num(g.tokens_per_step, 0),
                _num(g.cost_per_solved, 4),
            ]
        )
    return rows


_DETAIL_HEAD = [
    "scenario", "params", "model", "condition", "first try [95% CI]", "first-try drift", "drift per 1k prompt tokens",
    "projection from", "steps at 99%, vote k=3", "vote k=5", "calls/step", "tokens/step", "$/solved",
]


def _length_rows(m: Metrics) -> list[list[str]]:
    rows = []
    for c in m.length_curves:
        points = ", ".join(f"{p.steps_total}: {_pct(p.success_rate)}" for p in c.points)
        e = "–" if c.error_rate is None else f"{100 * c.error_rate:.2f}% {_ci_pct(c.error_rate_ci)}"
        h50 = "–" if c.error_rate is None else ("unbounded" if c.h50 is None else f"{c.h50:,.1f}")
        if c.h50_ci is not None and c.error_rate is not None:
            lo, hi = c.h50_ci
            h50 += f" [{_num(lo, 1)}, {'∞' if hi is None else _num(hi, 1)}]"
        rows.append([c.scenario, c.model, c.condition, points, e, h50])
    return rows


_LENGTH_HEAD = [
    "scenario", "model", "condition", "steps: success", "fitted per-step failure [95% CI]", "implied H50 [95% CI]"
]


def _interaction_rows(m: Metrics) -> list[list[str]]:
    rows = []
    for t in m.interactions:
        if t.p is None:
            slopes, test = "–", f"n/a ({t.note})"
        else:
            slopes = f"{t.slope_baseline:+.4f} → {t.slope_condition:+.4f}"
            test = f"LR {t.lr:.2f}, p={_p(t.p)}"
        rows.append([t.scenario, " ".join(f"{k}={v}" for k, v in t.params.items()), t.model,
                     f"{t.condition} vs {t.baseline}", slopes, test])
    return rows


_INTERACTION_HEAD = [
    "scenario", "params", "model", "comparison", "logistic slope per step: baseline → condition",
    "condition × position",
]


def _provenance_line(data: ReportData) -> str:
    if not data.runs:
        return ""
    last = data.runs[-1]["provenance"]
    commit = (last.get("git_commit") or "unknown")[:10]
    dirty = " (dirty)" if last.get("git_dirty") else ""
    return (
        f"agentloop {last.get('agentloop_version')} · git {commit}{dirty} · {len(data.runs)} run(s), "
        f"first {data.runs[0]['started_at']}, last {data.runs[-1]['started_at']}"
    )


def _rich_table(head: list[str], rows: list[list[str]], title: str):
    """A rich table whose cells are plain text: labels from the data (a model named `oops[/]`)
    must never be read as markup."""
    from rich.table import Table
    from rich.text import Text

    t = Table(*head, title=title)
    for row in rows:
        t.add_row(*(Text(c) for c in row))
    return t


def print_report(data: ReportData, *, cells: bool = False, console=None) -> None:
    """Rich tables: the pooled overview, every cell's horizons and projection, success against
    length, paired comparisons and interactions; with `cells`, more per-cell detail."""
    from rich.console import Console
    from rich.markup import escape

    # Piped output gets a wide page rather than columns squeezed to 80 characters.
    con = console or Console(width=None if sys.stdout.isatty() else 200)
    m = data.metrics
    name = data.runs[-1]["spec"].get("name", "") if data.runs else ""
    con.print(f"[bold]{escape(name)}[/bold] · {m.episodes} episodes · {escape(data.out_dir)}", highlight=False)
    con.print(_provenance_line(data), markup=False, highlight=False)
    if m.simulated:
        con.print(f"[yellow]{escape(SIMULATED_NOTE)} ({escape(', '.join(m.simulated_models))})[/yellow]")
    con.print(_rich_table(_CONDITION_HEAD, _condition_rows(m.by_condition), _CONDITION_TITLE))
    if checkers := _checker_rows(m.by_condition):
        con.print(_rich_table(_CHECKER_HEAD, checkers, _CHECKER_TITLE))
    con.print(_rich_table(_CELL_HEAD, _cell_rows(data), _CELL_TITLE))
    if any(len(c.points) > 1 for c in m.length_curves):
        con.print(_rich_table(_LENGTH_HEAD, _length_rows(m), "success against task length"))
    if m.paired:
        con.print(_rich_table(_PAIRED_HEAD, _paired_rows(data), "paired on the same instances"))
    if m.interactions:
        title = "does a condition change the drift? (likelihood-ratio test of condition × position)"
        con.print(_rich_table(_INTERACTION_HEAD, _interaction_rows(m), title))
    if m.planner:
        con.print(_rich_table(_PLANNER_HEAD, _planner_rows(m), "the planner agent: plan error apart from worker error"))
    if m.injection:
        con.print(_rich_table(_INJECTION_HEAD, _injection_rows(m), "drift by injection: local accuracy before and after"))
    if cells:
        con.print(_rich_table(_DETAIL_HEAD, _detail_rows(data), "per cell, in detail"))


def report_json(data: ReportData) -> dict[str, Any]:
    """Machine-readable: provenance, the simulated flag, per-condition metrics pooled over cells
    (keyed by name), every cell with all its metrics and curves, success against task length,
    paired comparisons and condition × position interactions."""
    m = data.metrics
    return {
        "out_dir": data.out_dir,
        "episodes": m.episodes,
        "simulated": m.simulated,
        "simulated_models": m.simulated_models,
        "provenance": data.runs[-1]["provenance"] if data.runs else None,
        "runs": [{k: r[k] for k in ("run_id", "started_at", "finished_at", "summary")} for r in data.runs],
        "conditions": {g.condition: g.model_dump(mode="json") for g in m.by_condition},
        "cells": [g.model_dump(mode="json") for g in m.by_cell],
        "length_curves": [
            {
                **c.model_dump(mode="json", exclude={"points"}),
                "points": [p.model_dump(mode="json") for p in c.points],
            }
            for c in m.length_curves
        ],
        "paired": [p.model_dump(mode="json") for p in m.paired],
        "interactions": [t.model_dump(mode="json") for t in m.interactions],
        "planner": [r.model_dump(mode="json") for r in m.planner],
        "injection": [r.model_dump(mode="json") for r in m.injection],
    }


# --- HTML ------------------------------------------------------------------------------------------


def png_bytes(fig) -> bytes:
    """A matplotlib figure as PNG bytes, in the reports' one style; the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _png(fig) -> str:
    return base64.b64encode(png_bytes(fig)).decode("ascii")


def _plain(label: str) -> str:
    """A label from the data, shown as typed: matplotlib reads `$...$` as math (and fails on
    `$\\undefined{x}$`), so every dollar is escaped."""
    return label.replace("$", r"\$")


def _yerr(rates, cis) -> list[list[float]]:
    # Wilson bounds can sit a rounding error inside the rate at 0 or 1; matplotlib wants >= 0.
    return [[max(0.0, r - c[0]) for r, c in zip(rates, cis)], [max(0.0, c[1] - r) for r, c in zip(rates, cis)]]


MAX_PANELS = 24  # per figure; the tables hold every cell


def _panels(keys: list, title: str):
    """A grid of small panels, one per key (a task: scenario × params × model)."""
    import matplotlib.pyplot as plt

    keys = keys[:MAX_PANELS]
    cols = min(3, max(1, len(keys)))
    rows = math.ceil(len(keys) / cols) if keys else 1
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97 if rows > 1 else 0.92))
    return fig, list(axes.flat[: len(keys)]), keys


def _task_key(g: GroupMetrics) -> tuple[str, str, str]:
    return (g.scenario or "", _params(g), g.model or "")


def _task_title(key: tuple[str, str, str]) -> str:
    scenario, params, model = key
    return _plain(f"{scenario} {params}\n{model}")


def _by_task(m: Metrics) -> dict[tuple[str, str, str], list[GroupMetrics]]:
    out: dict[tuple[str, str, str], list[GroupMetrics]] = {}
    for g in m.by_cell:
        out.setdefault(_task_key(g), []).append(g)
    return out


def _color_of(m: Metrics):
    import matplotlib.pyplot as plt

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    order = list(dict.fromkeys(g.condition for g in m.by_condition))
    return lambda cond: colors[order.index(cond) % len(colors)] if cond in order else "grey"


def _length_figure(m: Metrics, color):
    """Success against task length per condition, with Wilson intervals, the fitted
    (1 − e)^steps and the H50 it implies: one panel per scenario × model."""
    import numpy as np

    groups: dict[tuple[str, str], list] = {}
    for c in m.length_curves:
        groups.setdefault((c.scenario, c.model), []).append(c)
    fig, axes, keys = _panels(list(groups), "success against task length (fit: success = (1 − e)^steps)")
    for ax, key in zip(axes, keys):
        top = max(p.steps_total for c in groups[key] for p in c.points)
        for c in groups[key]:
            col = color(c.condition)
            xs = [p.steps_total for p in c.points]
            ys = [p.success_rate for p in c.points]
            label = _plain(c.condition)
            if c.error_rate is not None:
                h50 = "∞" if c.h50 is None else f"{c.h50:,.0f}"
                label += f": e={100 * c.error_rate:.2g}%, H50≈{h50}"
                grid = np.linspace(0, top * 1.1, 200)
                ax.plot(grid, (1 - c.error_rate) ** grid, color=col, lw=1, ls="--")
                if c.h50 is not None and c.h50 <= top * 1.1:
                    ax.axvline(c.h50, color=col, lw=0.7, ls=":")
            ax.errorbar(xs, ys, yerr=_yerr(ys, [p.success_ci for p in c.points]), marker="o", ms=4, capsize=3,
                        color=col, ls="none", label=label)
        ax.set(xlabel="steps in the task", ylabel="success rate", ylim=(-0.02, 1.02), xlim=(0, top * 1.1))
        ax.set_title(_plain(f"{key[0]} · {key[1]}"), fontsize=9)
        ax.axhline(0.5, color="grey", lw=0.5, ls=":")
        ax.legend(fontsize=7)
    return fig


def _survival_figure(m: Metrics, color):
    tasks = _by_task(m)
    fig, axes, keys = _panels(list(tasks), "survival of the first error per cell, pointwise 95% bands")
    for ax, key in zip(axes, keys):
        for g in tasks[key]:
            s = g.survival
            if s is None:
                continue
            ax.step(s.t, s.s, where="post", color=color(g.condition), label=_plain(g.condition))
            ax.fill_between(s.t, s.lo, s.hi, step="post", color=color(g.condition), alpha=0.15)
        ax.set(xlabel="step t", ylabel="S(t)", ylim=(-0.02, 1.02))
        ax.set_title(_task_title(key), fontsize=8)
        ax.axhline(0.5, color="grey", lw=0.5, ls=":")
        ax.legend(fontsize=7)
    return fig


def _binned_figure(m: Metrics, color, field: str, title: str, xlabel: str, ylabel: str):
    """One panel per task, one line per condition of a binned rate with its intervals."""
    tasks = _by_task(m)
    fig, axes, keys = _panels(list(tasks), title)
    for ax, key in zip(axes, keys):
        for g in tasks[key]:
            bins = getattr(g, field)
            if not bins:
                continue
            x = [(b.x_lo + b.x_hi) / 2 for b in bins]
            y = [b.rate for b in bins]
            ax.errorbar(x, y, yerr=_yerr(y, [b.ci for b in bins]), marker="o", ms=3, capsize=2,
                        color=color(g.condition), label=_plain(g.condition))
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.set_title(_task_title(key), fontsize=8)
        ax.legend(fontsize=7)
    return fig


def _cost_figure(m: Metrics, color):
    """Spend per episode against success, per cell."""
    tasks = _by_task(m)
    fig, axes, keys = _panels(list(tasks), "spend per episode against success, per cell (95% Wilson intervals)")
    use_cost = all(g.cost_per_step is not None for g in m.by_cell)
    for ax, key in zip(axes, keys):
        for g in tasks[key]:
            per_ep = (g.cost_per_step if use_cost else g.calls_per_step) or 0.0
            x = per_ep * g.steps / max(1, g.episodes)
            ax.errorbar([x], [g.success_rate], yerr=_yerr([g.success_rate], [g.success_ci]), marker="o", capsize=3,
                        color=color(g.condition), label=_plain(g.condition))
        ax.set(xlabel="dollars per episode" if use_cost else "calls per episode", ylabel="success rate",
               ylim=(-0.02, 1.02))
        if any(g.calls_per_step for g in tasks[key]):
            ax.set_xscale("log")
        ax.set_title(_task_title(key), fontsize=8)
        ax.legend(fontsize=7)
    return fig


def _figures(m: Metrics) -> list[tuple[str, str, str]]:
    """(title, caption, base64 PNG) for each plot. Every curve is per cell: pooled over tasks of
    different lengths a survival curve or a hazard means nothing."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    color = _color_of(m)
    more = f" (the first {MAX_PANELS} tasks; the tables hold all)" if len(_by_task(m)) > MAX_PANELS else ""
    out = [
        ("Success against task length",
         "Success rate at each task size with 95% Wilson intervals; dashed: (1 − e)^steps with the per-step "
         "failure rate e fitted to all sizes (maximum likelihood); dotted: the H50 it implies.",
         _png(_length_figure(m, color))),
        ("Survival", f"Kaplan-Meier survival of the first error per cell, pointwise 95% bands (log-log){more}.",
         _png(_survival_figure(m, color))),
        ("Hazard", f"Hazard of the first error per step, pooled in bins, 95% Wilson intervals{more}.",
         _png(_binned_figure(m, color, "hazard", "hazard of the first error per cell", "step t (binned)",
                             "P(step t wrong | right so far)"))),
        ("Accuracy vs prompt tokens", f"Step accuracy by prompt size, 95% intervals clustered by episode{more}.",
         _png(_binned_figure(m, color, "accuracy_by_tokens", "step accuracy against prompt tokens per cell",
                             "prompt tokens (binned by quantile)", "step accuracy"))),
        ("Cost vs success", f"Mean spend per episode against success rate, per cell{more}.",
         _png(_cost_figure(m, color))),
    ]
    return out


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}
th{background:#f3f3f3}.banner{background:#fff3cd;border:2px solid #e0a800;padding:.8em;font-weight:bold;margin:1em 0}
.prov{font-size:12px;color:#555}figure{display:inline-block;margin:0 1em 1em 0}figcaption{font-size:12px;color:#555}
img{max-width:100%}
"""

_DRIFT_NOTE = (
    "Drift: does the error grow along the episode? The p-value is a permutation test that shuffles each "
    "episode's errors among its committed steps (exact under no drift, at any error count); with fewer than "
    "5 such errors no test is run. The slope (log-odds per step) and its interval come from the same "
    "within-episode score, so they agree with the test. H50/H90: first step at which the share of episodes "
    "still error-free is below 50%/90% (&gt;N: not reached within N steps). Format stops: episodes stopped "
    "because a reply stayed unreadable after its re-asks (format is not drift; such steps are left out of "
    "the accuracies)."
)


def render_html(data: ReportData) -> str:
    m = data.metrics
    name = data.runs[-1]["spec"].get("name", "experiment") if data.runs else "experiment"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>agentloop report: {html.escape(name)}</title>"]
    parts.append(f"<style>{_CSS}</style></head><body><h1>agentloop report: {html.escape(name)}</h1>")
    if m.simulated:
        parts.append(
            f"<div class='banner'>SIMULATED — {html.escape(SIMULATED_NOTE.removeprefix('simulated: '))}: "
            f"{html.escape(', '.join(m.simulated_models))}</div>"
        )
    prov = data.runs[-1]["provenance"] if data.runs else {}
    pkg = ", ".join(f"{k} {v}" for k, v in (prov.get("packages") or {}).items() if v)
    parts.append(
        "<div class='prov'>"
        f"{html.escape(_provenance_line(data))}<br>python {html.escape(str(prov.get('python')))} · "
        f"{html.escape(str(prov.get('platform')))}<br>{html.escape(pkg)}<br>{m.episodes} episodes in "
        f"{html.escape(data.out_dir)}</div>"
    )
    figures = _figures(m)

    def figure(title: str, caption: str, png: str) -> str:
        return (
            f"<figure><img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>"
            f"<figcaption><b>{html.escape(title)}.</b> {html.escape(caption)}</figcaption></figure>"
        )

    parts.append("<h2>Success against task length</h2>" + figure(*figures[0]))
    parts.append(_table(_LENGTH_HEAD, _length_rows(m)))
    parts.append(f"<h2>Per condition, pooled over cells</h2><p class='prov'>{html.escape(_CONDITION_TITLE)}.</p>")
    parts.append(_table(_CONDITION_HEAD, _condition_rows(m.by_condition)))
    if checkers := _checker_rows(m.by_condition):
        parts.append(
            f"<h2>Checkers</h2><p class='prov'>{html.escape(_CHECKER_TITLE)}. False accepts: wrong answers the "
            "checker accepted, of all wrong answers it judged; false rejects: right answers it rejected, of all "
            "right ones. An answer it could not judge passed (counted as accepted).</p>"
            + _table(_CHECKER_HEAD, checkers)
        )
    parts.append("<h2>Per cell</h2>" + _table(_CELL_HEAD, _cell_rows(data)) + f"<p class='prov'>{_DRIFT_NOTE}</p>")
    parts.extend(figure(*f) for f in figures[1:])
    if m.paired:
        parts.append("<h2>Paired comparisons</h2>" + _table(_PAIRED_HEAD, _paired_rows(data)))
    if m.interactions:
        parts.append(
            "<h2>Does a condition change the drift?</h2><p class='prov'>Per scenario, size and model: a "
            "likelihood-ratio test of the condition × position term in a logistic regression of step error.</p>"
            + _table(_INTERACTION_HEAD, _interaction_rows(m))
        )
    if m.planner:
        parts.append("<h2>The planner agent</h2><p class='prov'>Proposals the simulator rejected (code plan), and "
                     "the worker's error on the steps a right plan chose.</p>" + _table(_PLANNER_HEAD, _planner_rows(m)))
    if m.injection:
        parts.append("<h2>Drift by injection</h2><p class='prov'>Local step accuracy before and after the step where "
                     "an instruction or padding entered the context.</p>" + _table(_INJECTION_HEAD, _injection_rows(m)))
    parts.append(
        "<h2>Reliability projection, in detail</h2><p class='prov'>Steps reachable at 99% success from the "
        "single-call accuracy p (a step's first reply alone; under a vote its first sample): alone (p^s) and "
        "with first-to-ahead-by-k voting (MAKER); in brackets, the same from the lower end of p's interval "
        "(the cautious bound); – means unbounded by the data. k_min: the smallest k with p_k^s ≥ 0.99 for the "
        "cell's s steps.</p>" + _table(_DETAIL_HEAD, _detail_rows(data))
    )
    parts.append(_failures_html(data))
    spec = data.runs[-1]["spec"] if data.runs else {}
    parts.append(f"<h2>Experiment spec</h2><pre>{html.escape(json.dumps(spec, indent=2))}</pre></body></html>")
    return "".join(parts)


def _failures_html(data: ReportData) -> str:
    """Each failed episode, linked to the transcript of the step where it went wrong."""
    if not data.failures:
        return ""
    more = data.failures_total - len(data.failures)
    out = [
        f"<h2 id='failures'>Failed episodes ({data.failures_total})</h2><p class='prov'>The step where each went "
        "wrong, with every reply, verdict and vote; the whole transcript: <code>agentloop show "
        f"{html.escape(data.out_dir)} KEY</code>{f' ({more} more not shown here)' if more else ''}.</p><ul>"
    ]
    out += [f"<li><a href='#ep-{f.key}'>{html.escape(f.label)}</a> — {html.escape(f.status)}</li>" for f in data.failures]
    out.append("</ul>")
    for f in data.failures:
        out.append(
            f"<details id='ep-{f.key}'><summary>{html.escape(f.label)} · key <code>{f.key}</code></summary>"
            f"<pre>{html.escape(f.transcript)}</pre></details>"
        )
    return "".join(out)


def write_html_report(out_dir: str | Path, path: str | Path, *, data: ReportData | None = None) -> Path:
    """Write the self-contained HTML report of `out_dir` to `path`; returns the path."""
    data = data or load_report(out_dir)
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(render_html(data), encoding="utf-8")
    except OSError as exc:
        raise AgentloopError(f"cannot write {p}: {exc.strerror or exc}") from None
    return p
