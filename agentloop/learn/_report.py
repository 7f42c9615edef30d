"""Show a study: a terminal table, JSON, and a plot of accuracy against size (PNG and HTML).

matplotlib is imported only to draw, with the Agg backend (no screen needed).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from agentloop.errors import AgentloopError
from agentloop.learn._config import EvalCell, Interval, LearnResult


def _fmt(iv: Interval) -> str:
    pct = f"{100 * iv.mean:.1f}%"
    return pct if iv.low == iv.high else f"{pct} [{100 * iv.low:.1f}, {100 * iv.high:.1f}]"


def _size_label(result: LearnResult, size: int) -> str:
    label = f"{size}x{size}" if result.config.scenario == "life" else str(size)
    return label + ("*" if size == result.config.train_size else "")


def _heading(result: LearnResult) -> str:
    c = result.config
    what = f"eca rule {c.rule}" if c.scenario == "eca" else f"life (density {c.density})"
    return (
        f"agentloop learn: {what}, trained at {_size_label(result, c.train_size).rstrip('*')}, "
        f"seeds {', '.join(map(str, c.seeds))}, {c.eval_cases} test cases per size and seed"
    )


def rows(result: LearnResult) -> list[list[str]]:
    """Table rows: model, size, rollout, exact-row, per-cell and beyond-trained-size accuracy [95% interval over seeds]."""
    return [
        [r.model, _size_label(result, r.size), str(r.rollout), _fmt(r.exact), _fmt(r.cell),
         "–" if r.cell_beyond is None else _fmt(r.cell_beyond)]
        for r in result.results
    ]


def head(result: LearnResult) -> list[str]:
    unit = "board" if result.config.scenario == "life" else "row"
    return ["model", "size", "generations", f"exact-{unit} [95% CI]", "per-cell [95% CI]", "per-cell beyond trained"]


def print_table(result: LearnResult, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    con = console or Console()
    table = Table(*head(result), title=_heading(result), caption="* the trained size")
    for row in rows(result):
        table.add_row(*row)
    con.print(table)
    for t in result.training:
        extra = "" if t.pattern_accuracy is None else f", {100 * t.pattern_accuracy:.1f}% of all patterns right"
        con.print(
            f"{t.model} seed {t.seed}: {t.steps} steps, final loss {t.final_loss:.2e}, "
            f"{t.parameters:,} parameters{extra}, {t.wall_s:.1f} s"
        )
    con.print(f"total {result.wall_s:.1f} s · trained networks (real measurements, not simulated)")


def markdown(result: LearnResult) -> str:
    """The table as GitHub markdown (for docs), headed by what was trained."""
    lines = [f"**{_heading(result)}** (* the trained size)", "", "| " + " | ".join(head(result)) + " |",
             "|" + "---|" * len(head(result))]
    lines += ["| " + " | ".join(r) + " |" for r in rows(result)]
    return "\n".join(lines)


def figure(result: LearnResult):
    """Accuracy against size, one line per model: a column per rollout length, exact and per-cell rows."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    rollouts = sorted({r.rollout for r in result.results})
    models = list(dict.fromkeys(r.model for r in result.results))
    sizes = sorted({r.size for r in result.results})
    # Models often score the same (all exact, say); nudge each sideways and vary the marker so
    # coinciding lines stay visible.
    dodge = 0.012 * ((sizes[-1] - sizes[0]) or 1)
    markers = "osD^vP*X"
    fig, axes = plt.subplots(2, len(rollouts), figsize=(4.2 * len(rollouts), 6.5), squeeze=False, sharey=True)
    for j, g in enumerate(rollouts):
        for i, metric in enumerate(("exact", "cell")):
            ax = axes[i][j]
            for k, m in enumerate(models):
                cells: list[EvalCell] = sorted((r for r in result.results if r.model == m and r.rollout == g),
                                               key=lambda r: r.size)
                iv = [getattr(r, metric) for r in cells]
                err = [[v.mean - v.low for v in iv], [v.high - v.mean for v in iv]]
                x = [r.size + (k - (len(models) - 1) / 2) * dodge for r in cells]
                ax.errorbar(x, [v.mean for v in iv], yerr=err, marker=markers[k % len(markers)], ms=5, capsize=3,
                            alpha=0.85, label=m)
            ax.axvline(result.config.train_size, color="grey", lw=0.8, ls=":")
            unit = "board" if result.config.scenario == "life" else "row"
            ax.set(ylim=(-0.03, 1.03), title=f"{g} generation{'s' if g > 1 else ''}",
                   xlabel="board side" if result.config.scenario == "life" else "row width",
                   ylabel=f"exact-{unit} accuracy" if metric == "exact" else "per-cell accuracy")
            ax.set_xticks(sizes)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(_heading(result) + "\n(dotted line: trained size; bars: 95% interval over seeds)", fontsize=9)
    fig.tight_layout()
    return fig


def _png_bytes(result: LearnResult) -> bytes:
    from agentloop.report import png_bytes

    return png_bytes(figure(result))


def render_html(result: LearnResult, png: bytes) -> str:
    """A self-contained page: heading, provenance, the plot (embedded), the table and the config."""
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head(result))
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows(result))
    prov = " · ".join(f"{k} {v}" for k, v in result.provenance.items())
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>agentloop learn</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
        "th{background:#f3f3f3}.prov{font-size:12px;color:#555}</style></head><body>"
        f"<h1>{html.escape(_heading(result))}</h1><div class='prov'>{html.escape(prov)} · "
        f"{result.wall_s:.0f} s</div>"
        f"<img alt='accuracy against size' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"
        f"<h2>Config</h2><pre>{html.escape(result.config.model_dump_json(indent=2))}</pre></body></html>"
    )


def write_outputs(result: LearnResult, out_dir: str | Path) -> list[Path]:
    """Write learn.json, learn.png and learn.html into `out_dir`; returns their paths."""
    out = Path(out_dir)
    png = _png_bytes(result)
    paths = [out / "learn.json", out / "learn.png", out / "learn.html"]
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths[0].write_text(json.dumps(result.model_dump(mode="json"), indent=2), encoding="utf-8")
        paths[1].write_bytes(png)
        paths[2].write_text(render_html(result, png), encoding="utf-8")
    except OSError as exc:
        raise AgentloopError(f"cannot write into {out}: {exc.strerror or exc}") from None
    return paths
