"""`agentloop demo`: a small comparative experiment on the embedded local model.

One instance family (eca rule 110, 8 cells, 3 generations: 24 atomic steps), five conditions
(`oneshot`, `stepwise` — the growing conversation, where drift shows —, `tape`, `vote`,
`verify`), enough seeds for intervals, one model. It returns the episode records and a
per-condition summary with 95% intervals (the same estimators as `agentloop report`); the CLI
draws the progress bar and the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentloop.types import EpisodeRecord

__all__ = ["DemoConfig", "ConditionSummary", "compare", "run_demo", "summarise"]


def _default_model() -> str:
    from agentloop.models._weights import DEFAULT

    return f"local/{DEFAULT}"


class DemoConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario: str = "eca"
    params: dict[str, Any] = Field(default_factory=lambda: {"rule": 110, "width": 8, "steps": 3})
    conditions: tuple[str, ...] = ("oneshot", "stepwise", "tape", "vote", "verify")
    seeds: tuple[int, ...] = tuple(range(6))
    model: str = Field(default_factory=_default_model)
    model_args: dict[str, Any] = Field(default_factory=dict)


class ConditionSummary(BaseModel):
    """One row of the demo's comparison table."""

    condition: str
    episodes: int
    solved: int
    success_ci: tuple[float, float] = Field(description="95% Wilson interval of the success rate")
    step_accuracy_ci: tuple[float, float] | None = Field(None, description="95%, clustered by episode")
    format_failures: int = Field(0, description="episodes stopped by a reply that stayed unreadable")
    steps_attempted: int
    steps_total: int
    step_accuracy: float | None = Field(description="locally correct / attempted steps (after any feedback)")
    first_attempt_accuracy: float | None = Field(description="correct on the first attempt, before feedback")
    calls: int
    tokens_in: int
    tokens_out: int
    wall_s: float


def run_demo(
    config: DemoConfig | None = None,
    *,
    on_start: Callable[[str, int], None] | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> list[EpisodeRecord]:
    """Run every (condition, seed) of `config` with one model object (loaded once)."""
    from agentloop.conditions import get_condition
    from agentloop.loop import run_episode
    from agentloop.models import get_model
    from agentloop.scenarios import get_scenario, parse_params

    cfg = config or DemoConfig()
    sc = get_scenario(cfg.scenario)
    params = parse_params(sc, cfg.params)
    conditions = [get_condition(c) for c in cfg.conditions]
    model = get_model(cfg.model, **dict(cfg.model_args))
    records = []
    for cond in conditions:
        for seed in cfg.seeds:
            if on_start:
                on_start(cond.name, seed)
            rec = run_episode(sc, params, condition=cond, model=model, model_args=dict(cfg.model_args), seed=seed)
            records.append(rec)
            if on_episode:
                on_episode(rec)
    return records


def summarise(records: list[EpisodeRecord]) -> list[ConditionSummary]:
    """Per condition, in first-seen order: success and per-step accuracy with their 95%
    intervals, first-attempt accuracy, calls and tokens."""
    from agentloop.metrics import summarize

    by: dict[str, list[EpisodeRecord]] = {}
    for r in records:
        by.setdefault(r.condition, []).append(r)
    out = []
    for cond, recs in by.items():
        steps = [s for r in recs for s in r.steps]
        g = summarize(recs, curves=False, condition=cond)
        out.append(
            ConditionSummary(
                condition=cond,
                episodes=len(recs),
                solved=sum(r.success for r in recs),
                success_ci=g.success_ci,
                step_accuracy_ci=g.step_accuracy_ci,
                format_failures=sum(r.status == "format" for r in recs),
                steps_attempted=len(steps),
                steps_total=sum(r.steps_total for r in recs),
                step_accuracy=sum(s.ok for s in steps) / len(steps) if steps else None,
                first_attempt_accuracy=sum(s.first_ok for s in steps) / len(steps) if steps else None,
                calls=sum(r.calls for r in recs),
                tokens_in=sum(r.tokens_in for r in recs),
                tokens_out=sum(r.tokens_out for r in recs),
                wall_s=sum(r.wall_s for r in recs),
            )
        )
    return out


def compare(records: list[EpisodeRecord], baseline: str = "stepwise"):
    """Each condition against `baseline` on the same instances (paired, 95% intervals)."""
    from agentloop.metrics import paired_comparisons

    if not any(r.condition == baseline for r in records):
        return []
    return paired_comparisons(records, baseline=baseline)


def save_demo(config: DemoConfig, records: list[EpisodeRecord], out_dir: str) -> tuple[str, str]:
    """Write the records into `out_dir/results.sqlite` (the experiment store, so `agentloop report
    out_dir` reads them) and the HTML report beside it; returns (store path, report path)."""
    from pathlib import Path

    from agentloop.conditions import get_condition
    from agentloop.errors import AgentloopError
    from agentloop.experiment import episode_key, provenance
    from agentloop.report import write_html_report
    from agentloop.store import ResultsStore

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AgentloopError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    with ResultsStore(out / "results.sqlite") as store:
        run_id = store.begin_run({"demo": config.model_dump(mode="json")}, provenance())
        added = 0
        for r in records:
            key = episode_key(r.scenario, r.params, get_condition(r.condition), r.model, r.model_args, r.seed)
            added += store.add_episode(key, r, run_id)
        store.end_run(run_id, {"episodes": len(records), "added": added})
        path = store.path
    import warnings

    with warnings.catch_warnings():
        # matplotlib warns when a plot's axis has nothing to log-scale (no errors in a condition);
        # the report is still complete, and the warning would only clutter the demo's output.
        warnings.simplefilter("ignore", UserWarning)
        html = write_html_report(out, out / "report.html")
    return str(path), str(html)
