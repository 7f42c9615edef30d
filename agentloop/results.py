"""Reading results without the store: the episodes of an experiment directory and their metrics.

    from agentloop import load_results, summarise

    results = load_results("runs/drift")        # a list of EpisodeRecord, storage order
    df = results.to_pandas()                    # one row per episode (pandas, if installed)
    metrics = summarise(results)                # or summarise("runs/drift")
    for cell in metrics.by_cell: print(cell.scenario, cell.condition, cell.success)

The store is opened read-only: reading never changes a directory an experiment may be writing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentloop.errors import AgentloopError
from agentloop.types import EpisodeRecord

if TYPE_CHECKING:
    import pandas

    from agentloop.metrics import Metrics

__all__ = ["Results", "load_results", "summarise"]

# The record fields that become DataFrame columns (the transcript and the states stay out).
_EPISODE_COLUMNS = (
    "scenario", "condition", "model", "seed", "status", "success", "steps_total", "steps_correct",
    "first_error_step", "calls", "retries", "format_retries", "tokens_in", "tokens_out", "cost", "wall_s",
    "simulated", "error",
)
_STEP_COLUMNS = (
    "index", "label", "code", "ok", "first_ok", "on_track", "committed", "samples", "calls", "prompt_tokens",
    "tokens_out", "latency_s",
)


class Results(list[EpisodeRecord]):
    """The episodes of an experiment directory, in storage order; `keys[i]` is episode i's key."""

    def __init__(self, records: Iterable[EpisodeRecord] = (), keys: Iterable[str] = ()) -> None:
        super().__init__(records)
        self.keys = list(keys)

    def to_pandas(self, *, steps: bool = False) -> pandas.DataFrame:
        """One row per episode (its parameters as `params.<name>` columns), or with `steps=True`
        one row per step, with its episode's columns. Needs pandas (not a dependency)."""
        pd = _pandas()
        rows = [_episode_row(key, r) for key, r in zip(self._all_keys(), self)]
        if steps:
            rows = [
                {**row, **{f"step.{c}": getattr(s, c) for c in _STEP_COLUMNS}}
                for row, r in zip(rows, self)
                for s in r.steps
            ]
        return pd.DataFrame(rows)

    def _all_keys(self) -> list[str | None]:
        return self.keys if len(self.keys) == len(self) else [None] * len(self)


def load_results(out_dir: str | Path) -> Results:
    """The stored episodes of `out_dir` (an experiment's `--out` directory, or its
    results.sqlite), with their steps and transcripts, read-only."""
    from agentloop.store import ResultsStore

    path = Path(out_dir)
    db = path if path.suffix == ".sqlite" else path / "results.sqlite"
    if not db.is_file():
        raise AgentloopError(f"no results store at {db}; run `agentloop experiment FILE --out DIR` first")
    with ResultsStore(db, create=False) as store:
        pairs = store.episodes()
    return Results((r for _, r in pairs), (k for k, _ in pairs))


def summarise(results: Iterable[EpisodeRecord] | str | Path, *, baseline: str | None = None, curves: bool = True) -> Metrics:
    """The metrics of `docs/metrics.md` for records or an experiment directory: per condition
    (`by_condition`), per cell — scenario × params × model × condition — (`by_cell`), success
    against length, and paired comparisons with `baseline` (default: stepwise when present)."""
    from agentloop.metrics import compute_metrics

    records = load_results(results) if isinstance(results, (str, Path)) else list(results)
    if not records:
        raise AgentloopError("no episodes to summarise")
    return compute_metrics(records, curves=curves, baseline=baseline)


def _episode_row(key: str | None, r: EpisodeRecord) -> dict[str, Any]:
    row: dict[str, Any] = {"key": key} if key is not None else {}
    row.update({c: getattr(r, c) for c in _EPISODE_COLUMNS})
    row.update({f"params.{k}": v for k, v in r.params.items()})
    return row


def _pandas():
    try:
        import pandas
    except ImportError:
        raise AgentloopError(
            "Results.to_pandas needs pandas, which agentloop does not install: pip install pandas"
        ) from None
    return pandas
