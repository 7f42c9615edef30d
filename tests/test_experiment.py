"""Experiment files, the grid, resuming, budgets and the `experiment` / `report` commands."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.errors import AgentloopError
from agentloop.experiment import parse_experiment, plan_episodes, run_experiment, with_models
from agentloop.store import ResultsStore

ROOT = Path(__file__).resolve().parents[1]

SMALL = """
name = "small"
seeds = 3
conditions = ["stepwise", "tape", {name = "vote", k = 2, label = "vote-k2"}]

[[scenarios]]
name = "eca"
params = { rule = 110, width = 6, steps = [1, 2] }

[[scenarios]]
name = "hanoi"
params = { disks = 3 }

[[models]]
name = "scripted/noisy"
args = { error = 0.1 }
max_connections = 3
"""


def test_grid_is_the_product_of_its_axes_with_stable_unique_keys():
    spec = parse_experiment(SMALL)
    tasks = plan_episodes(spec)
    assert len(tasks) == (2 + 1) * 3 * 1 * 3  # param sets × conditions × models × seeds
    assert len({t.key for t in tasks}) == len(tasks)
    assert [t.key for t in plan_episodes(parse_experiment(SMALL))] == [t.key for t in tasks]
    assert {t.condition.name for t in tasks} == {"stepwise", "tape", "vote-k2"}
    assert next(t for t in tasks if t.condition.name == "vote-k2").condition.k == 2
    # a different model argument is a different episode
    other = with_models(spec, ["scripted/noisy"], {"error": 0.2})
    assert not {t.key for t in plan_episodes(other)} & {t.key for t in tasks}


@pytest.mark.parametrize(
    "text, fragments",
    [
        ('name = "x"\nseeds = = 3\n', ["malformed TOML", "line"]),
        (SMALL.replace("width = 6", "width = 9999"), [":8:", "field scenarios[0].params:", "width=9999"]),
        (SMALL.replace('name = "hanoi"', 'name = "chess"'), [":11:", "unknown scenario 'chess'", "eca"]),
        (SMALL.replace('"stepwise"', '"magic"'), [":4:", "unknown condition 'magic'", "tape"]),
        (SMALL.replace("error = 0.1", "error = 3"), [":16:", "models[0].args", "error"]),
        (SMALL.replace("max_connections = 3", "max_connections = 0"), [":17:", "models[0].max_connections"]),
        (SMALL.replace("seeds = 3", "seeds = 3\ncolour = 1"), [":4:", "colour", "extra inputs"]),
        (SMALL.replace('name = "small"\n', ""), ["exp.toml: field name: field required"]),
        (SMALL.replace('name = "scripted/noisy"', 'name = "noisy"'), ["provider/model"]),
    ],
)
def test_bad_files_give_one_line_naming_line_and_field(text, fragments):
    with pytest.raises(AgentloopError) as info:
        parse_experiment(text, source="exp.toml")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("exp.toml")
    for f in fragments:
        assert f in msg, msg


_scalar = st.one_of(st.integers(-5, 300), st.booleans(), st.text(max_size=5), st.floats(allow_nan=False))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.lists(_scalar, min_size=1, max_size=3),
    widths=st.lists(st.integers(1, 2000), min_size=1, max_size=3),
    seeds=st.one_of(st.integers(-3, 5), st.lists(st.integers(0, 50), max_size=4)),
)
def test_any_grid_either_plans_fully_or_fails_with_one_line(rules, widths, seeds):
    text = (
        f'name = "p"\nseeds = {json.dumps(seeds)}\nconditions = ["tape"]\n[[scenarios]]\nname = "eca"\n'
        f"params = {{ rule = {_toml(rules)}, width = {_toml(widths)}, steps = 1 }}\n"
        '[[models]]\nname = "scripted/oracle"\n'
    )
    try:
        spec = parse_experiment(text)
    except AgentloopError as exc:
        assert "\n" not in str(exc)
        return
    tasks = plan_episodes(spec)
    n_seeds = seeds if isinstance(seeds, int) else len(seeds)
    assert all(0 <= t.params["rule"] <= 255 and 3 <= t.params["width"] <= 1024 for t in tasks)
    # one episode per distinct validated cell, never two with the same key
    cells = {(t.params["rule"], t.params["width"], t.seed) for t in tasks}
    assert len(tasks) == len(cells) == len({t.key for t in tasks})
    assert len(tasks) <= len(rules) * len(widths) * n_seeds


def _toml(values) -> str:
    return "[" + ", ".join(json.dumps(v) if not isinstance(v, bool) else str(v).lower() for v in values) + "]"


@given(st.text(max_size=200))
@settings(max_examples=100, deadline=None)
def test_arbitrary_text_never_escapes_as_anything_but_a_user_error(text):
    try:
        parse_experiment(text)
    except AgentloopError as exc:
        assert "\n" not in str(exc)


def test_run_stores_everything_once_and_a_rerun_runs_nothing(tmp_path):
    spec = parse_experiment(SMALL)
    first = run_experiment(spec, tmp_path, progress=False)
    assert (first.planned, first.ran, first.stored, first.already_done) == (27, 27, 27, 0)
    assert first.simulated
    again = run_experiment(spec, tmp_path, progress=False)
    assert (again.already_done, again.ran, again.stored) == (27, 0, 0)
    with ResultsStore(tmp_path / "results.sqlite", create=False) as store:
        eps = store.episodes()
        runs = store.runs()
    assert len(eps) == 27 and len({k for k, _ in eps}) == 27
    assert all(len(r.steps) == len(r.step_ok) for _, r in eps)
    assert len(runs) == 2 and runs[0]["provenance"]["agentloop_version"]
    assert "git_dirty" in runs[0]["provenance"] and runs[0]["provenance"]["packages"]["pydantic"]


def test_a_stopped_run_resumes_without_losing_or_repeating(tmp_path):
    spec = parse_experiment(SMALL)
    stop = threading.Event()
    stop.set()  # stop before anything starts: every episode is skipped
    s = run_experiment(spec, tmp_path, progress=False, stop=stop)
    assert s.stored == 0
    s = run_experiment(spec, tmp_path, progress=False)
    assert s.stored == 27
    fresh = run_experiment(spec, tmp_path / "fresh", progress=False)
    with ResultsStore(tmp_path / "results.sqlite") as a, ResultsStore(tmp_path / "fresh" / "results.sqlite") as b:
        ra = {k: r.step_ok for k, r in a.episodes()}
        rb = {k: r.step_ok for k, r in b.episodes()}
    assert fresh.stored == 27 and ra == rb  # resumed results equal an uninterrupted run


@pytest.mark.slow
def test_killed_process_loses_only_in_flight_episodes(tmp_path):
    exp = tmp_path / "exp.toml"
    exp.write_text(
        SMALL.replace("seeds = 3", "seeds = 20")
        .replace("args = { error = 0.1 }", "args = { error = 0.1, latency = 0.01 }")
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "agentloop.cli", "experiment", str(exp), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    db = out / "results.sqlite"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if sqlite3.connect(db).execute("SELECT COUNT(*) FROM episodes").fetchone()[0] >= 20:
                break
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with ResultsStore(db) as store:  # whenever the kill landed, what is stored is whole episodes
        partial = store.count()
    res = CliRunner().invoke(app, ["experiment", str(exp), "--out", str(out), "--quiet", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["already_done"] == partial and summary["stored"] == 180 - partial
    with ResultsStore(db) as store:
        keys = [k for k, _ in store.episodes()]
    assert len(keys) == len(set(keys)) == 180


def test_experiment_budget_is_never_exceeded_even_inside_a_vote(tmp_path):
    text = SMALL.replace('conditions = ["stepwise", "tape", {name = "vote", k = 2, label = "vote-k2"}]',
                         'conditions = [{name = "vote", k = 3}]') + "\n[budget]\nmax_calls = 100\n"
    spec = parse_experiment(text)
    s = run_experiment(spec, tmp_path, progress=False)
    assert s.budget_exhausted and s.stored < 9
    with ResultsStore(tmp_path / "results.sqlite") as store:
        calls, _, _ = store.spent()
    assert calls <= 100
    # a rerun with the same budget spends nothing more
    s2 = run_experiment(spec, tmp_path, progress=False)
    assert s2.stored == 0 and s2.calls == 0


def test_episode_limit_ends_the_episode_with_status_budget(tmp_path):
    text = SMALL.replace("seeds = 3", "seeds = 1") + "\n[limits]\nmax_calls = 5\n"
    s = run_experiment(parse_experiment(text), tmp_path, progress=False)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        recs = [r for _, r in store.episodes()]
    assert s.stored == len(recs) == 9
    assert all(r.calls <= 5 for r in recs)
    assert {r.status for r in recs if r.steps_total > 5} == {"budget"}
    assert not any(r.success for r in recs if r.status == "budget")


def test_cache_replays_the_same_records_without_calling_the_model(tmp_path):
    text = SMALL.replace('name = "small"', 'name = "small"\ncache = true')
    spec = parse_experiment(text)
    a = run_experiment(spec, tmp_path / "a", progress=False)
    assert a.cache_misses > 0 and a.cache_hits < a.cache_misses
    with ResultsStore(tmp_path / "a" / "results.sqlite") as sa:
        before = {k: r.step_ok for k, r in sa.episodes()}
    for f in (tmp_path / "a").glob("results.sqlite*"):
        f.unlink()  # lose the results, keep the cache
    b = run_experiment(spec, tmp_path / "a", progress=False)
    assert b.stored == 27 and b.cache_misses == 0 and b.cache_hits == a.cache_hits + a.cache_misses
    with ResultsStore(tmp_path / "a" / "results.sqlite") as sb:
        assert {k: r.step_ok for k, r in sb.episodes()} == before


def test_concurrency_reaches_the_connection_limit(tmp_path):
    text = SMALL.replace("args = { error = 0.1 }", "args = { latency = 0.02 }").replace(
        'name = "scripted/noisy"', 'name = "scripted/oracle"').replace("max_connections = 3", "max_connections = 8")
    s = run_experiment(parse_experiment(text), tmp_path, progress=False)
    assert s.stored == 27
    assert 2 <= s.peak_in_flight <= 8  # requests overlapped, and never more than the model allows


def test_cli_experiment_then_report(tmp_path):
    exp = tmp_path / "exp.toml"
    exp.write_text(SMALL)
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["experiment", str(exp), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "27 episodes planned" in res.stdout and "(simulated)" in res.stdout
    res = runner.invoke(app, ["report", str(out), "--json", "--html", str(out / "r.html")])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["simulated"] is True and set(data["conditions"]) == {"stepwise", "tape", "vote-k2"}
    for c in data["conditions"].values():
        for key in ("success_rate", "success_ci", "step_accuracy", "step_accuracy_ci", "drift_slope",
                    "drift_slope_ci", "h50", "calls_per_step"):
            assert key in c
    page = (out / "r.html").read_text()
    assert "SIMULATED" in page and page.count("data:image/png;base64,") >= 4 and "git" in page
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0 and "simulated" in res.stdout and "vote-k2" in res.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["experiment", "nosuch.toml", "--out", "x"], "cannot read experiment file"),
        (["report", "no/such/dir"], "no experiment directory"),
    ],
)
def test_cli_user_errors_are_one_line(args, fragment, tmp_path):
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and fragment in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_cli_malformed_toml_is_one_line_and_exit_2(tmp_path):
    exp = tmp_path / "bad.toml"
    exp.write_text('name = "x"\nseeds = = 3\n')
    res = CliRunner().invoke(app, ["experiment", str(exp), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "malformed TOML" in res.stderr and "line" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["report", str(tmp_path / "o")])
    assert res.exit_code == 2


def test_example_files_parse():
    from agentloop.experiment import load_experiment

    paths = sorted((ROOT / "scenarios").glob("*.toml"))
    assert paths  # a moved directory must not turn this into a test of nothing
    for path in paths:
        assert plan_episodes(load_experiment(path)), path


def test_provider_failures_are_not_results_and_stop_a_hopeless_run(tmp_path):
    text = SMALL.replace('name = "scripted/noisy"\nargs = { error = 0.1 }',
                         'name = "scripted/faulty"\nargs = { rate = 0.9, retries = 1 }')
    s = run_experiment(parse_experiment(text), tmp_path, progress=False)
    assert s.provider_errors >= 3 and "503" in s.first_error
    with ResultsStore(tmp_path / "results.sqlite") as store:
        assert all(r.status != "error" for _, r in store.episodes())
        assert store.count() == s.stored < 27


def test_experiment_modules_import_no_heavy_library():
    code = (
        "import sys, agentloop, agentloop.experiment, agentloop.store, agentloop.metrics, agentloop.report, "
        "agentloop.budget; agentloop.run_experiment; "
        "print([m for m in ('litellm', 'langgraph', 'matplotlib', 'numpy', 'scipy', 'statsmodels') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "conditions, fragment",
    [
        ('[{name = "vote", kk = 1}]', ":4: field conditions[0].kk: extra inputs"),
        ('[{name = "vote", k = 0}]', ":4: field conditions[0].name: condition vote: k=0"),
        ('[3]', ":4: field conditions[0]: input should be a valid string"),
        ('["tape", "tape"]', ":4: field conditions: two conditions share a name"),
    ],
)
def test_condition_errors_point_at_the_conditions_line(conditions, fragment):
    text = SMALL.replace('["stepwise", "tape", {name = "vote", k = 2, label = "vote-k2"}]', conditions)
    with pytest.raises(AgentloopError) as info:
        parse_experiment(text, source="f.toml")
    assert fragment in str(info.value), str(info.value)


def test_token_budget_is_passed_by_at_most_the_replies_in_flight(tmp_path):
    text = SMALL + "\n[budget]\nmax_tokens = 3000\n"
    s = run_experiment(parse_experiment(text), tmp_path, progress=False)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        _, tokens, _ = store.spent()
    assert s.budget_exhausted
    # prompts are reserved before each request; a reply here is one digit (1 token) or a move,
    # and at most 3 requests (max_connections) are in flight
    assert tokens <= 3000 + 3 * 4


def test_runs_from_inside_a_running_event_loop(tmp_path):
    import asyncio

    async def notebook_cell():
        return run_experiment(parse_experiment(SMALL.replace("seeds = 3", "seeds = 1")), tmp_path, progress=False)

    assert asyncio.run(notebook_cell()).stored == 9
