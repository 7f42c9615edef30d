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
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentloop.errors import AgentloopError
from agentloop.metrics import GroupMetrics, Metrics

__all__ = ["ReportData", "load_report", "print_report", "report_json", "write_html_report"]

SIMULATED_NOTE = "simulated: produced by scripted models (test doubles), not measurements of a real model"


class ReportData(BaseModel):
    out_dir: str
    runs: list[dict[str, Any]]
    metrics: Metrics


def load_report(out_dir: str | Path, *, baseline: str | None = None) -> ReportData:
    """Read `out_dir/results.sqlite` and compute every metric."""
    from agentloop.metrics import compute_metrics
    from agentloop.store import ResultsStore

    out = Path(out_dir)
    if not out.is_dir():
        raise AgentloopError(f"no experiment directory {out}")
    with ResultsStore(out / "results.sqlite", create=False) as store:
        records = [r for _, r in store.episodes()]
        runs = store.runs()
    if not records:
        raise AgentloopError(f"{out}/results.sqlite holds no finished episodes yet")
    return ReportData(out_dir=str(out), runs=runs, metrics=compute_metrics(records, baseline=baseline))


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


def _fmt_slope(slope: float | None, ci, missing: str) -> str:
    if slope is None:
        return missing
    lo, hi = ci
    return f"{slope:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def _slope(g: GroupMetrics) -> str:
    return _fmt_slope(g.drift_slope, g.drift_slope_ci, f"n/a ({g.drift_note})")


def _first_slope(g: GroupMetrics) -> str:
    return _fmt_slope(g.first_try_drift_slope, g.first_try_drift_slope_ci, "–")


def _horizon(h: int | None, g: GroupMetrics) -> str:
    return str(h) if h is not None else f">{g.max_steps}" if g.max_steps else "–"


def _condition_rows(gs: list[GroupMetrics]) -> list[list[str]]:
    return [
        [
            g.condition,
            str(g.episodes),
            f"{_pct(g.success_rate)} {_ci_pct(g.success_ci)}",
            f"{_pct(g.step_accuracy)} {_ci_pct(g.step_accuracy_ci)}",
            _pct(g.first_try_accuracy),
            _slope(g),
            _first_slope(g),
            _horizon(g.h50, g),
            _horizon(g.h90, g),
            _num(g.calls_per_step),
            _num(g.calls_per_solved, 1),
        ]
        for g in gs
    ]


_CONDITION_HEAD = [
    "condition",
    "episodes",
    "success [95% CI]",
    "step accuracy [95% CI]",
    "first try",
    "drift slope (log-odds/step) [95% CI]",
    "first-try drift",
    "H50",
    "H90",
    "calls/step",
    "calls/solved",
]


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
                "–" if p.mcnemar_p is None else f"{p.mcnemar_p:.2g}",
                f"{100 * p.steps_share_diff:+.1f} pts {sci}",
                "–" if p.wilcoxon_p is None else f"{p.wilcoxon_p:.2g}",
            ]
        )
    return rows


_PAIRED_HEAD = [
    "comparison", "pairs", "success diff [95% CI]", "McNemar p", "correct-prefix share diff [95% CI]", "Wilcoxon p"
]


def _cell_rows(data: ReportData) -> list[list[str]]:
    return [
        [
            g.scenario or "",
            " ".join(f"{k}={v}" for k, v in (g.params or {}).items()),
            g.model or "",
            g.condition,
            str(g.episodes),
            f"{_pct(g.success_rate)} {_ci_pct(g.success_ci)}",
            f"{_pct(g.step_accuracy)} {_ci_pct(g.step_accuracy_ci)}",
            _slope(g),
        ]
        for g in data.metrics.by_cell
    ]


_CELL_HEAD = [
    "scenario", "params", "model", "condition", "episodes", "success [95% CI]", "step accuracy [95% CI]",
    "drift slope [95% CI]",
]


_PROJECTION_HEAD = ["condition", "first-try p [95% CI]", "steps at 99%: single", "vote k=3", "vote k=5"]


def _projection_rows(m: Metrics) -> list[list[str]]:
    rows = []
    for g in m.by_condition:
        pr = g.projection
        if pr is None:
            continue
        steps = [
            f"{_num(pr.steps_at_99[k], 1)} [{_num(pr.steps_at_99_lo[k], 1)}]" for k in ("single", "vote_k3", "vote_k5")
        ]
        rows.append([g.condition, f"{_pct(pr.p)} {_ci_pct(pr.p_ci)}", *steps])
    return rows


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


def print_report(data: ReportData, *, cells: bool = False, console=None) -> None:
    """Rich tables: per condition, paired comparisons, and (with `cells`) every grid cell."""
    from rich.console import Console
    from rich.table import Table

    # Piped output gets a wide page rather than columns squeezed to 80 characters.
    con = console or Console(width=None if sys.stdout.isatty() else 200)
    m = data.metrics
    name = data.runs[-1]["spec"].get("name", "") if data.runs else ""
    con.print(f"[bold]{name}[/bold] · {m.episodes} episodes · {data.out_dir}", markup=True, highlight=False)
    con.print(_provenance_line(data), markup=False, highlight=False)
    if m.simulated:
        con.print(f"[yellow]{SIMULATED_NOTE} ({', '.join(m.simulated_models)})[/yellow]")
    t = Table(*_CONDITION_HEAD, title="per condition")
    for row in _condition_rows(m.by_condition):
        t.add_row(*row)
    con.print(t)
    if m.paired:
        t = Table(*_PAIRED_HEAD, title="paired on the same instances")
        for row in _paired_rows(data):
            t.add_row(*row)
        con.print(t)
    title = "reliability projection: steps at 99% success (in brackets: from the low end of p)"
    t = Table(*_PROJECTION_HEAD, title=title)
    for row in _projection_rows(m):
        t.add_row(*row)
    con.print(t)
    if cells:
        t = Table(*_CELL_HEAD, title="per scenario × params × model × condition")
        for row in _cell_rows(data):
            t.add_row(*row)
        con.print(t)


def report_json(data: ReportData) -> dict[str, Any]:
    """Machine-readable: provenance, the simulated flag, per-condition metrics (keyed by name),
    per-cell metrics and paired comparisons."""
    m = data.metrics
    return {
        "out_dir": data.out_dir,
        "episodes": m.episodes,
        "simulated": m.simulated,
        "simulated_models": m.simulated_models,
        "provenance": data.runs[-1]["provenance"] if data.runs else None,
        "runs": [{k: r[k] for k in ("run_id", "started_at", "finished_at", "summary")} for r in data.runs],
        "conditions": {g.condition: g.model_dump(mode="json") for g in m.by_condition},
        "cells": [g.model_dump(mode="json", exclude={"survival", "hazard", "accuracy_by_tokens"}) for g in m.by_cell],
        "paired": [p.model_dump(mode="json") for p in m.paired],
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


def _yerr(bins) -> list[list[float]]:
    # Wilson bounds can sit a rounding error inside the rate at 0 or 1; matplotlib wants >= 0.
    return [[max(0.0, b.rate - b.ci[0]) for b in bins], [max(0.0, b.ci[1] - b.rate) for b in bins]]


def _binned_rates(m: Metrics, field: str, colors: list[str]):
    """One line per condition of a binned rate (`hazard`, `accuracy_by_tokens`) with its intervals."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, g in enumerate(m.by_condition):
        bins = getattr(g, field)
        if not bins:
            continue
        x = [(b.x_lo + b.x_hi) / 2 for b in bins]
        y = [b.rate for b in bins]
        ax.errorbar(x, y, yerr=_yerr(bins), marker="o", ms=3, capsize=2, color=colors[i % len(colors)], label=g.condition)
    ax.legend()
    return fig


def _figures(m: Metrics) -> list[tuple[str, str, str]]:
    """(title, caption, base64 PNG) for each plot."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    out = []

    fig, ax = plt.subplots(figsize=(7, 4))
    for i, g in enumerate(m.by_condition):
        c, s = colors[i % len(colors)], g.survival
        if s is None:
            continue
        ax.step(s.t, s.s, where="post", color=c, label=g.condition)
        ax.fill_between(s.t, s.lo, s.hi, step="post", color=c, alpha=0.15)
    ax.set(xlabel="step t", ylabel="S(t) = P(no error in the first t steps)", ylim=(-0.02, 1.02))
    ax.axhline(0.5, color="grey", lw=0.5, ls=":")
    ax.legend()
    out.append(("Survival", "Kaplan-Meier survival of the first error, with pointwise 95% bands (log-log).", _png(fig)))

    fig = _binned_rates(m, "hazard", colors)
    fig.axes[0].set(xlabel="step t (binned)", ylabel="hazard h(t) = P(step t wrong | right so far)")
    out.append(("Hazard", "Hazard of the first error per step, pooled in bins, 95% Wilson intervals.", _png(fig)))

    fig = _binned_rates(m, "accuracy_by_tokens", colors)
    fig.axes[0].set(xlabel="prompt tokens (binned by quantile)", ylabel="step accuracy")
    caption = "Local step accuracy by prompt size, 95% Wilson intervals (steps pooled)."
    out.append(("Accuracy vs prompt tokens", caption, _png(fig)))

    fig, ax = plt.subplots(figsize=(7, 4))
    use_cost = all(g.cost_per_step is not None for g in m.by_condition)
    for i, g in enumerate(m.by_condition):
        per_ep = (g.cost_per_step if use_cost else g.calls_per_step) or 0.0
        x = per_ep * g.steps / max(1, g.episodes)
        lo, hi = g.success_ci
        yerr = [[max(0.0, g.success_rate - lo)], [max(0.0, hi - g.success_rate)]]
        ax.errorbar([x], [g.success_rate], yerr=yerr, marker="o", capsize=3, color=colors[i % len(colors)],
                    label=g.condition)
    ax.set(xlabel="dollars per episode" if use_cost else "calls per episode", ylabel="success rate", ylim=(-0.02, 1.02))
    if any(g.calls_per_step for g in m.by_condition):
        ax.set_xscale("log")
    ax.legend()
    out.append(("Cost vs success", "Mean spend per episode against success rate (95% Wilson intervals).", _png(fig)))
    return out


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}
th{background:#f3f3f3}.banner{background:#fff3cd;border:2px solid #e0a800;padding:.8em;font-weight:bold;margin:1em 0}
.prov{font-size:12px;color:#555}figure{display:inline-block;margin:0 1em 1em 0}figcaption{font-size:12px;color:#555}
"""


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
    parts.append("<h2>Per condition</h2>" + _table(_CONDITION_HEAD, _condition_rows(m.by_condition)))
    parts.append(
        "<p class='prov'>Drift slope: logistic regression of step error on step index, cluster-robust by "
        "episode; drift is detected when its interval excludes 0. H50/H90: first step at which the share of "
        "episodes still error-free is below 50%/90% (&gt;N: not reached within N steps).</p>"
    )
    for title, caption, png in _figures(m):
        parts.append(
            f"<figure><img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>"
            f"<figcaption><b>{html.escape(title)}.</b> {html.escape(caption)}</figcaption></figure>"
        )
    if m.paired:
        parts.append("<h2>Paired comparisons</h2>" + _table(_PAIRED_HEAD, _paired_rows(data)))
    parts.append(
        "<h2>Reliability projection</h2><p class='prov'>Steps reachable at 99% success from the first-try "
        "accuracy p: alone (p^s) and with first-to-ahead-by-k voting (MAKER); in brackets, the same from the "
        "lower end of p's interval; – means unbounded by the data.</p>"
        + _table(_PROJECTION_HEAD, _projection_rows(m))
    )
    parts.append("<h2>Per scenario, size and model</h2>" + _table(_CELL_HEAD, _cell_rows(data)))
    spec = data.runs[-1]["spec"] if data.runs else {}
    parts.append(f"<h2>Experiment spec</h2><pre>{html.escape(json.dumps(spec, indent=2))}</pre></body></html>")
    return "".join(parts)


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
