"""load_results and summarise: an experiment's episodes and metrics without touching the store."""

from __future__ import annotations

import hashlib
import importlib.util
import sys

import pytest

from agentloop import AgentloopError, EpisodeRecord, load_results, run_experiment, summarise
from agentloop.metrics import Metrics
from agentloop.results import Results

SPEC = """
name = "results-api"
seeds = 3
conditions = ["tape", "verify"]

[[scenarios]]
name = "eca"
params = { rule = 110, width = 6, steps = [1, 2] }

[[models]]
name = "scripted/noisy"
args = { error = 0.1 }
"""


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    (d / "exp.toml").write_text(SPEC)
    summary = run_experiment(d / "exp.toml", d / "runs", progress=False)
    assert summary.stored == 12  # 2 sizes × 2 conditions × 3 seeds
    return d / "runs"


def test_load_results_gives_every_episode_with_its_steps_and_key(out):
    results = load_results(out)
    assert isinstance(results, Results) and len(results) == 12 and len(results.keys) == 12
    assert all(isinstance(r, EpisodeRecord) for r in results)
    assert {(r.condition, r.params["steps"]) for r in results} == {(c, s) for c in ("tape", "verify") for s in (1, 2)}
    assert all(len(r.steps) == len(r.step_ok) == r.steps_total for r in results if r.status == "solved")
    assert all(r.steps[0].attempts[0].replies for r in results)  # transcripts come along
    assert load_results(out / "results.sqlite").keys == results.keys  # the file itself will do too


def _contents(out) -> dict[str, str]:
    """Every file of the directory by its hash, except SQLite's reader bookkeeping: a reader of a
    WAL store makes the shared-memory index (-shm) and an empty log (-wal) when none is there."""
    files = {p.name: p for p in out.iterdir() if p.is_file()}
    wal = files.pop("results.sqlite-wal", None)
    assert wal is None or wal.stat().st_size == 0, "something was written to the store's log"
    files.pop("results.sqlite-shm", None)
    return {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in files.items()}


def test_load_results_reads_without_writing(out):
    """Whether or not another test read the store first (the order of tests is not fixed)."""
    before = _contents(out)
    load_results(out)
    summarise(out)
    assert _contents(out) == before


def test_a_directory_without_results_is_one_line(tmp_path):
    with pytest.raises(AgentloopError, match="no results store at .*results.sqlite; run `agentloop experiment"):
        load_results(tmp_path)


def test_summarise_gives_the_per_cell_metrics_of_a_directory_or_of_records(out):
    m = summarise(out)
    assert isinstance(m, Metrics) and m.episodes == 12 and m.simulated
    assert {(g.condition, g.params["steps"]) for g in m.by_cell} == {(c, s) for c in ("tape", "verify") for s in (1, 2)}
    assert all(g.episodes == 3 and g.scenario == "eca" for g in m.by_cell)
    tape_only = summarise([r for r in load_results(out) if r.condition == "tape"])
    assert tape_only.episodes == 6 and {g.condition for g in tape_only.by_condition} == {"tape"}


def test_summarise_needs_episodes():
    with pytest.raises(AgentloopError, match="no episodes to summarise"):
        summarise([])


@pytest.mark.skipif(importlib.util.find_spec("pandas") is None, reason="pandas is optional; its absence is tested below")
def test_to_pandas_gives_one_row_per_episode_or_per_step(out):
    results = load_results(out)
    df = results.to_pandas()
    assert len(df) == 12 and list(df["key"]) == results.keys
    assert {"scenario", "condition", "success", "steps_correct", "params.width", "params.steps"} <= set(df.columns)
    assert df.groupby("condition")["success"].count().to_dict() == {"tape": 6, "verify": 6}
    steps = results.to_pandas(steps=True)
    assert len(steps) == sum(len(r.steps) for r in results)
    assert {"step.index", "step.ok", "step.first_ok", "condition", "params.steps"} <= set(steps.columns)


def test_to_pandas_without_pandas_says_how_to_get_it(out, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now raises ImportError
    with pytest.raises(AgentloopError, match="needs pandas, which agentloop does not install: pip install pandas"):
        load_results(out).to_pandas()
