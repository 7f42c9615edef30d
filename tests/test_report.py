"""The report: labels from the data are shown as typed, never interpreted; JSON and HTML carry
every cell, the curves of success against task length, and no curve pooled over tasks."""

from __future__ import annotations

import io
import json

import pytest

from agentloop.metrics import compute_metrics
from agentloop.report import ReportData, print_report, render_html, report_json
from agentloop.types import EpisodeRecord, StepRecord

RICH = "oops[/]"  # rich markup: a closing tag with nothing to close
MATH = r"$\undefinedcommand{x}$"  # matplotlib mathtext: an unknown command


def record(step_ok: list[bool], *, condition: str = "tape", seed: int = 0, model: str = "scripted/noisy",
           scenario: str = "eca", params: dict | None = None, status: str | None = None) -> EpisodeRecord:
    first = next((i for i, ok in enumerate(step_ok) if not ok), None)
    steps = [
        StepRecord(index=i, label=f"s{i}", code="ok" if ok else "wrong", ok=ok, first_ok=ok,
                   on_track=first is None or i < first, committed=True, calls=1, prompt_tokens=100 + 10 * i)
        for i, ok in enumerate(step_ok)
    ]
    success = all(step_ok)
    return EpisodeRecord(
        scenario=scenario, params=params or {"steps": len(step_ok)}, condition=condition, model=model, seed=seed,
        status=status or ("solved" if success else "failed"), success=success, steps_total=len(step_ok),
        steps_correct=len(step_ok) if first is None else first, first_error_step=first, step_ok=step_ok,
        calls=len(step_ok), tokens_in=100 * len(step_ok), tokens_out=len(step_ok), wall_s=0.0, simulated=True,
        steps=steps,
    )


def grid(model: str = "scripted/noisy", scenario: str = "eca", conditions=("stepwise", "tape")) -> list[EpisodeRecord]:
    """Two sizes × two conditions × 12 seeds, errors planted deterministically."""
    recs = []
    for n in (6, 12):
        for cond, every in zip(conditions, (5, 9)):
            for s in range(12):
                ok = [(s + 3 * i) % every != 0 or i == 0 for i in range(n)]
                recs.append(record(ok, condition=cond, seed=s, model=model, scenario=scenario, params={"n": n}))
    return recs


def data(recs: list[EpisodeRecord], out_dir: str = "runs/x") -> ReportData:
    return ReportData(out_dir=out_dir, runs=[], metrics=compute_metrics(recs))


def printed(d: ReportData, **kw) -> str:
    from rich.console import Console

    buf = io.StringIO()
    print_report(d, console=Console(file=buf, width=400), **kw)
    return buf.getvalue()


# --- labels are data, never markup ----------------------------------------------------------------


@pytest.mark.parametrize("where", ["model", "scenario", "conditions"])
def test_rich_markup_in_a_label_is_printed_as_typed(where):
    recs = grid(**{where: ("stepwise", RICH) if where == "conditions" else RICH})
    out = printed(data(recs), cells=True)
    assert RICH in out


def test_an_output_directory_with_markup_is_printed_as_typed():
    out = printed(data(grid(), out_dir="runs/a[/]b"))
    assert "runs/a[/]b" in out


def test_mathtext_in_a_label_does_not_break_the_html():
    page = render_html(data(grid(model=MATH, scenario="$x", conditions=("stepwise", MATH))))
    assert page.count("data:image/png;base64,") == 5
    assert "\\undefinedcommand" in page  # the label itself is in the tables, escaped for HTML only
    # and the page draws success against task length, the central chart
    assert "Success against task length" in page and "fitted" in page


def test_the_report_command_reads_a_directory_named_with_markup(tmp_path):
    from typer.testing import CliRunner

    from agentloop.cli import app
    from agentloop.store import ResultsStore

    out = tmp_path / "a[" / "]b"
    out.mkdir(parents=True)
    with ResultsStore(out / "results.sqlite") as store:
        run = store.begin_run({"name": "labels"}, {"agentloop_version": "test"})
        for i, r in enumerate(grid(model=RICH)):
            store.add_episode(f"k{i}", r, run)
        store.end_run(run, {})
    res = CliRunner().invoke(app, ["report", str(out), "--cells"])
    assert res.exit_code == 0, res.output
    assert str(out) in res.stdout.replace("\n", "") and RICH in res.stdout


# --- what the report holds ------------------------------------------------------------------------


def test_json_has_every_cell_with_its_horizons_and_the_length_curves():
    js = json.loads(json.dumps(report_json(data(grid()))))
    assert len(js["cells"]) == 4  # 2 sizes × 2 conditions
    for c in js["cells"]:
        for key in ("scenario", "params", "model", "condition", "success_rate", "success_ci", "step_accuracy_ci",
                    "h50", "h90", "drift_slope", "drift_p", "drift_note", "format_rate", "format_rate_ci",
                    "format_retries_per_step", "survival", "hazard", "projection"):
            assert key in c
        assert c["survival"] is not None and c["projection"] is not None
    curves = {(c["scenario"], c["model"], c["condition"]): c for c in js["length_curves"]}
    assert set(curves) == {("eca", "scripted/noisy", "stepwise"), ("eca", "scripted/noisy", "tape")}
    for c in curves.values():
        assert [p["steps_total"] for p in c["points"]] == [6, 12]
        for p in c["points"]:
            assert set(p) >= {"steps_total", "success_rate", "success_ci", "step_accuracy"}
        assert 0 < c["error_rate"] < 1 and c["h50"] > 0


def test_no_curve_or_horizon_is_pooled_over_tasks():
    js = report_json(data(grid()))
    for c in js["conditions"].values():
        assert c["cells"] == 2
        assert c["survival"] is None and c["h50"] is None and c["hazard"] == [] and c["projection"] is None


def test_terminal_report_labels_the_pooled_overview_and_shows_horizons_per_cell():
    out = printed(data(grid()))
    assert "pooled over its cells" in out
    assert "per cell" in out and "H50" in out
    assert "success against task length" in out


def test_format_stops_are_reported_apart():
    recs = grid()
    stopped = record([True, True, False], condition="tape", seed=99, params={"n": 6}, status="format")
    stopped.steps[-1] = stopped.steps[-1].model_copy(update={"code": "format", "committed": False})
    js = report_json(data(recs + [stopped]))
    (cell,) = [c for c in js["cells"] if c["condition"] == "tape" and c["params"] == {"n": 6}]
    assert cell["format_failures"] == 1 and cell["format_steps"] == 1
    assert cell["format_rate"] == pytest.approx(1 / 13)
