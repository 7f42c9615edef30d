"""The Ray executor (the [ray] extra): the same episodes, keys, records and budgets as the local
executor. One local Ray with 2 CPUs serves the whole module (Ray starts slowly); the tests are
few and small, and marked `ray`."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import import_extra
from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.experiment import parse_experiment, run_experiment
from agentloop.store import ResultsStore

ray = import_extra("ray", "ray")

pytestmark = [pytest.mark.ray, pytest.mark.slow]

# Two scenarios, a vote and a verify, a noisy model: records with errors, votes and re-asks.
GRID = """
name = "ray-small"
seeds = 2
conditions = ["tape", {name = "vote", k = 2}, "verify"]

[[scenarios]]
name = "hanoi"
params = { disks = 3 }

[[scenarios]]
name = "eca"
params = { rule = 110, width = 8, steps = 3 }

[[models]]
name = "scripted/noisy"
args = { error = 0.15 }
max_connections = 2
"""

# Fields that measure time, not behaviour.
TIMING = {"wall_s", "latency_s"}


def _records(out) -> dict[str, dict]:
    with ResultsStore(out / "results.sqlite") as store:
        return {key: _untimed(rec.model_dump(mode="json")) for key, rec in store.episodes()}


def _untimed(x):
    if isinstance(x, dict):
        return {k: _untimed(v) for k, v in x.items() if k not in TIMING}
    if isinstance(x, list):
        return [_untimed(v) for v in x]
    return x


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def test_ray_stores_the_same_records_under_the_same_keys_as_the_local_executor(local_ray, tmp_path):
    spec = parse_experiment(GRID.replace("seeds = 2", "seeds = 2\ncache = true"))
    here = run_experiment(spec, tmp_path / "local", progress=False)
    there = run_experiment(spec, tmp_path / "ray", progress=False, executor="ray")
    assert here.stored == there.stored == 12 and there.missing == 0
    assert there.calls == here.calls and there.peak_in_flight >= 1
    # the response cache, kept by the service actor: the same requests missed, none hit yet
    assert there.cache_misses == here.cache_misses > 0 and there.cache_hits == here.cache_hits == 0
    local, remote = _records(tmp_path / "local"), _records(tmp_path / "ray")
    assert set(remote) == set(local)
    assert remote == local  # every field of every episode and step, transcripts included, but the clocks
    assert any(not r["success"] for r in local.values())  # the comparison saw failures, not only solves
    # resuming: the same command again runs nothing; the file's own `executor` is honoured
    in_file = parse_experiment(GRID.replace("seeds = 2", 'seeds = 2\ncache = true\nexecutor = "ray"'))
    assert in_file.executor == "ray"
    again = run_experiment(in_file, tmp_path / "ray", progress=False)
    assert again.already_done == 12 and again.ran == 0


def test_an_experiment_budget_holds_across_ray_workers(local_ray, tmp_path):
    budget = 40
    spec = parse_experiment(GRID.replace('max_connections = 2', 'max_connections = 2\n\n[budget]\nmax_calls = 40'))
    s = run_experiment(spec, tmp_path / "b", progress=False, executor="ray")
    assert s.budget_exhausted and s.missing > 0
    con = sqlite3.connect(tmp_path / "b" / "results.sqlite")
    (sent,) = con.execute("SELECT COUNT(*) FROM requests").fetchone()
    (spent,) = con.execute("SELECT calls FROM spent").fetchone()
    (stored,) = con.execute("SELECT COALESCE(SUM(calls), 0) FROM episodes").fetchone()
    assert sent == spent <= budget and stored <= sent  # never one request past the budget
    assert sent >= budget - 5  # and it was used, not refused early (a vote's last samples may not fit)
    # resuming: with the budget raised, the same directory finishes, and holds what one
    # uninterrupted local run stores
    rest = run_experiment(parse_experiment(GRID), tmp_path / "b", progress=False, executor="ray")
    assert rest.already_done == s.stored and rest.missing == 0
    run_experiment(parse_experiment(GRID), tmp_path / "whole", progress=False)
    assert _records(tmp_path / "b") == _records(tmp_path / "whole")


def test_an_episode_killed_mid_way_resumes_from_the_checkpoint_it_streamed_through_the_service(
    local_ray, tmp_path, monkeypatch
):
    """A Ray episode's steps and checkpoints go through the service actor into the driver's
    store: killed between checkpoints, it resumes there to the uninterrupted record."""
    import agentloop.loop._graph as graph
    from agentloop._ray import _RemoteJournal, _Service
    from agentloop.loop import run_episode
    from agentloop.types import Limits
    from test_resume import DiesAfter, Killed, stored

    monkeypatch.setattr(graph, "QUANTUM_S", 0.0)  # a checkpoint after every step (this process runs the loop)
    kw = dict(scenario="hanoi", params={"disks": 5}, condition="vote", model="scripted/noisy",
              model_args={"error": 0.1}, seed=2)
    whole = ResultsStore(tmp_path / "whole.sqlite")
    with whole.journal("k") as j:
        whole.add_episode("k", run_episode(key="k", journal=j, **kw), whole.begin_run({}, {}))
    killed = ResultsStore(tmp_path / "killed.sqlite")
    run_id = killed.begin_run({}, {})
    service = ray.remote(_Service).remote(str(killed.path), Limits(), run_id, {}, None)
    with pytest.raises(Killed):
        run_episode(key="k", journal=DiesAfter(_RemoteJournal(service, "k"), 4), **kw)
    _RemoteJournal(service, "k").close()  # the dead episode's connection
    (step,) = killed.con.execute("SELECT step FROM checkpoints WHERE episode_key='k'").fetchone()
    assert step > 0 and killed.count() == 0  # it died mid-way, with a checkpoint in the driver's store
    journal = _RemoteJournal(service, "k")
    rec = run_episode(key="k", journal=journal, **kw)
    journal.close()
    assert rec.steps == [] and killed.add_episode("k", rec, run_id)
    assert stored(killed, "k") == stored(whole, "k")
    ray.get(service.close.remote())


def test_an_unreachable_cluster_address_is_one_line():
    from agentloop._ray import _check_reachable
    from agentloop.errors import AgentloopError

    with pytest.raises(AgentloopError, match=r"cannot reach the Ray cluster at RAY_ADDRESS=127.0.0.1:1 "):
        _check_reachable("127.0.0.1:1")  # before ray.init, which would retry for minutes
    _check_reachable("auto")  # an address Ray resolves itself is left to it


def test_executor_from_the_command_line_and_bad_values(local_ray, tmp_path):
    f = tmp_path / "g.toml"
    f.write_text(GRID.replace("seeds = 2", "seeds = 1"))
    res = CliRunner().invoke(app, ["experiment", str(f), "--out", str(tmp_path / "c"), "--executor", "ray", "--json"])
    assert res.exit_code == 0, res.output
    assert _records(tmp_path / "c") and len(_records(tmp_path / "c")) == 6
    res = CliRunner().invoke(app, ["experiment", str(f), "--out", str(tmp_path / "d"), "--executor", "spark"])
    assert res.exit_code == 2 and "unknown executor 'spark'" in res.output
