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
from fake_provider import provider  # noqa: F401 (a fixture)
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
    """SIGKILL mid-run, twice, then resume: no episode lost, duplicated or corrupted, and the
    results equal an uninterrupted run's (the OS lock on the directory dies with the process)."""
    exp = tmp_path / "exp.toml"
    exp.write_text(
        SMALL.replace("seeds = 3", "seeds = 20")
        .replace("args = { error = 0.1 }", "args = { error = 0.1, latency = 0.01 }")
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "agentloop.cli", "experiment", str(exp), "--out", str(out), "--quiet"]
    db = out / "results.sqlite"
    partial = 0
    for kill_at in (20, 90):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        deadline = time.monotonic() + 120
        stored = 0
        while time.monotonic() < deadline and proc.poll() is None and stored < kill_at:
            try:
                stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM episodes").fetchone()[0]
            except sqlite3.Error:
                pass
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before the kill"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with ResultsStore(db) as store:  # whenever the kill landed, what is stored is whole episodes
            assert all(len(r.steps) == len(r.step_ok) for _, r in store.episodes())
            assert partial <= store.count() < 180  # the kill landed mid-run
            partial = store.count()
    res = CliRunner().invoke(app, ["experiment", str(exp), "--out", str(out), "--quiet", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["already_done"] == partial and summary["stored"] == 180 - partial
    fresh = run_experiment(parse_experiment(exp.read_text()), tmp_path / "fresh", progress=False)
    with ResultsStore(db) as a, ResultsStore(tmp_path / "fresh" / "results.sqlite") as b:
        resumed = {k: (r.status, r.step_ok) for k, r in a.episodes()}
        uninterrupted = {k: (r.status, r.step_ok) for k, r in b.episodes()}
    assert fresh.stored == len(resumed) == 180 and resumed == uninterrupted


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


# --- hardening (issue 10) ----------------------------------------------------------------------

SECRET = "sk-SECRET-4242"


def test_credentials_are_not_part_of_an_episode_or_a_model():
    spec = parse_experiment(SMALL)
    a = with_models(spec, ["openai/gpt-4o-mini"], {"api_key": SECRET, "temperature": 0.5, "retries": 2})
    b = with_models(spec, ["openai/gpt-4o-mini"], {"api_key": "sk-rotated", "temperature": 0.5})
    assert [t.key for t in plan_episodes(a)] == [t.key for t in plan_episodes(b)]
    assert a.models[0].label == b.models[0].label == "openai/gpt-4o-mini temperature=0.5"
    c = with_models(spec, ["openai/gpt-4o-mini"], {"api_key": SECRET, "temperature": 0.7})
    assert not {t.key for t in plan_episodes(a)} & {t.key for t in plan_episodes(c)}


def test_redaction_masks_every_form_of_credential():
    from agentloop._kv import redact_args, redact_argv, redact_text

    argv = ["agentloop", "experiment", "f.toml", "-M", f"api_key={SECRET}", f"-Mhf_token={SECRET}",
            f"--model-arg=aws_secret_access_key={SECRET}", "--api-key", SECRET, "-M",
            "api_base=http://user:PW-4242@127.0.0.1:9/v1", "-M", "max_tokens=20", "-M", "password=hunter2"]
    out = " ".join(redact_argv(argv))
    assert SECRET not in out and "PW-4242" not in out and "hunter2" not in out
    assert "max_tokens=20" in out and "api_base=http://***@127.0.0.1:9/v1" in out
    args = redact_args({"api_key": SECRET, "client_secret": "x", "api_base": "https://t0ken@host/v1", "top_k": 3})
    assert args == {"api_key": "***", "client_secret": "***", "api_base": "https://***@host/v1", "top_k": 3}
    assert redact_text(f"401: bad key {SECRET}", [SECRET]) == "401: bad key ***"


def test_a_key_on_the_command_line_is_never_stored_or_printed(tmp_path, provider):
    """The issue's reproduction, verbose, against a 127.0.0.1 provider; `-v --json` keeps stdout pure JSON."""
    exp = tmp_path / "exp.toml"
    exp.write_text(SMALL.replace("seeds = 3", "seeds = 1"))
    out = tmp_path / "out"
    base = provider.url.replace("http://", "http://user:PW-4242@")
    cmd = [sys.executable, "-m", "agentloop.cli", "-v", "experiment", str(exp), "--out", str(out), "--quiet", "--json",
           "--model", "openai/gpt-4o-mini", "-M", f"api_key={SECRET}", "-M", f"api_base={base}", "-M", "retry_wait=0"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    summary = json.loads(res.stdout)  # nothing but the summary on stdout, though litellm logged at debug level
    assert summary["stored"] > 0 and res.returncode in (0, 1), res.stderr[-2000:]
    assert "LiteLLM" in res.stderr  # the debug log went to stderr
    report = CliRunner().invoke(app, ["report", str(out), "--json"])
    assert report.exit_code == 0
    assert json.loads(report.stdout)["provenance"]["argv"][-3] == "api_base=http://***@" + provider.url[7:]
    for text in (res.stdout, res.stderr, report.stdout, *(f.read_bytes().decode("latin-1") for f in out.iterdir())):
        assert SECRET not in text and "PW-4242" not in text


def test_rotating_a_key_reruns_and_recounts_nothing(tmp_path, provider):
    spec = parse_experiment(SMALL.replace("seeds = 3", "seeds = 1"))
    first = run_experiment(with_models(spec, ["openai/m"], {"api_base": provider.url, "api_key": "sk-old", "retry_wait": 0}),
                           tmp_path, progress=False)
    sent = provider.requests
    again = run_experiment(with_models(spec, ["openai/m"], {"api_base": provider.url, "api_key": "sk-new"}),
                           tmp_path, progress=False)
    assert first.stored == first.planned and again.already_done == again.planned and again.ran == 0
    assert provider.requests == sent
    with ResultsStore(tmp_path / "results.sqlite") as store:
        assert store.count() == first.planned


def test_a_second_process_on_one_out_is_refused(tmp_path):
    exp = tmp_path / "exp.toml"
    exp.write_text(SMALL.replace("args = { error = 0.1 }", "args = { latency = 0.05 }"))
    stop, started = threading.Event(), threading.Event()
    first: list = []

    def run_first() -> None:
        started.set()
        first.append(run_experiment(parse_experiment(exp.read_text()), tmp_path / "out", progress=False, stop=stop))

    thread = threading.Thread(target=run_first)
    thread.start()
    started.wait()
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "out" / "results.sqlite").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        res = CliRunner().invoke(app, ["experiment", str(exp), "--out", str(tmp_path / "out")])
    finally:
        stop.set()
        thread.join()
    assert res.exit_code == 2 and "in use by another agentloop process" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    again = CliRunner().invoke(app, ["experiment", str(exp), "--out", str(tmp_path / "out"), "--quiet"])
    assert again.exit_code == 0, again.output  # the lock went with the first run


def test_a_different_experiment_into_one_out_needs_append(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text(SMALL.replace("seeds = 3", "seeds = 1"))
    b.write_text(SMALL.replace("seeds = 3", "seeds = 1").replace('name = "small"', 'name = "other"'))
    runner = CliRunner()
    assert runner.invoke(app, ["experiment", str(a), "--out", str(tmp_path / "o"), "-q"]).exit_code == 0
    res = runner.invoke(app, ["experiment", str(b), "--out", str(tmp_path / "o"), "-q"])
    assert res.exit_code == 2 and "holds experiment 'small'" in res.stderr
    assert runner.invoke(app, ["experiment", str(a), "--out", str(tmp_path / "o"), "-q"]).exit_code == 0  # the same one
    assert runner.invoke(app, ["experiment", str(b), "--out", str(tmp_path / "o"), "-q", "--append"]).exit_code == 0


def test_missing_episodes_exit_1_and_the_json_keeps_the_warning(tmp_path):
    exp = tmp_path / "exp.toml"
    exp.write_text(SMALL + "\n[budget]\nmax_calls = 50\n")
    res = CliRunner().invoke(app, ["experiment", str(exp), "--out", str(tmp_path / "o"), "-q", "--json"])
    summary = json.loads(res.stdout)
    assert res.exit_code == 1 and summary["missing"] == 27 - summary["stored"] > 0
    assert summary["budget_exhausted"] and "budget is spent" in summary["warnings"][0]
    assert "warning: the experiment budget is spent" in res.stderr


def test_run_exits_1_on_a_provider_error():
    res = CliRunner().invoke(app, ["run", "eca", "--model", "scripted/faulty", "-M", "rate=0.9", "-M", "retries=1",
                                   "--json"])
    assert res.exit_code == 1 and json.loads(res.stdout)["status"] == "error"


FAULTS = """
name = "faults"
seeds = 15
conditions = ["stepwise", "tape"]

[[scenarios]]
name = "eca"
params = { rule = 110, width = 8, steps = [2, 3] }

[[models]]
name = "scripted/faulty"
args = { rate = 0.3, seed = 1 }
max_connections = 1
"""


def test_one_run_at_30_percent_faults_completes_every_episode(tmp_path):
    """About 1,200 requests, 30% of them failing: with six plain attempts this grid left five
    episodes errored; patient retries and in-run re-queueing finish all of them."""
    s = run_experiment(parse_experiment(FAULTS), tmp_path, progress=False)
    assert (s.stored, s.provider_errors, s.missing) == (60, 0, 0)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        failed = store.con.execute("SELECT COUNT(*) FROM requests WHERE state='failed'").fetchone()[0]
    assert failed > 300  # the failed attempts are recorded (and count against a budget)


def test_an_enormous_grid_is_refused_before_it_is_built():
    rules = ", ".join(map(str, range(256)))
    text = SMALL.replace("seeds = 3", "seeds = 100000").replace("rule = 110", f"rule = [{rules}]")
    with pytest.raises(AgentloopError, match="the grid has 768,300,000 episodes, more than --max-episodes 100,000"):
        parse_experiment(text.replace("steps = [1, 2]", "steps = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"))


def test_size_limits_can_be_raised():
    from agentloop.experiment import Sizes

    text = SMALL.replace("width = 6, steps = [1, 2]", "width = 1000, steps = 101").replace("seeds = 3", "seeds = 1")
    with pytest.raises(AgentloopError, match="101,000 steps, more than --max-steps 100,000"):
        parse_experiment(text)
    with pytest.raises(AgentloopError, match="under stepwise: its largest request is about"):
        parse_experiment(text, sizes=Sizes(max_steps=101_000))
    assert parse_experiment(text, sizes=Sizes(max_steps=101_000, max_prompt_tokens=10**8))


def test_experiment_files_are_strict():
    for bad, where in [('cache = "yes"', "cache"), ("cache = 1", "cache"), ("seeds = 2.0", "seeds")]:
        with pytest.raises(AgentloopError, match=where):
            parse_experiment(SMALL.replace("seeds = 3", bad if bad.startswith("seeds") else f"seeds = 3\n{bad}"))
    with pytest.raises(AgentloopError, match="empty list"):
        parse_experiment(SMALL.replace("steps = [1, 2]", "steps = []"))

