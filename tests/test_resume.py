"""Resuming an episode mid-run: checkpoints in the results store, the restricted format they are
written in, and a run killed (in-process, and with SIGKILL from outside) that finishes with the
record an uninterrupted run gives."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import agentloop.loop._graph as graph
from agentloop.loop import run_episode
from agentloop.loop._durable import Unserialisable, decode, encode
from agentloop.scenarios import get_scenario
from agentloop.store import ResultsStore
from agentloop.types import Limits

BUILTIN = ["eca", "life", "hanoi", "ab", "multiply", "ledger", "reversal", "wordsquare", "sudoku", "wordle"]


class Killed(BaseException):
    """Stands for the process dying: nothing in the loop catches it."""


class DiesAfter:
    """A journal that dies when asked for its `n`-th checkpoint, before writing anything of that
    quantum (its step records are lost with it, as in a kill)."""

    def __init__(self, inner, n: int) -> None:
        self.inner, self.n, self.saved = inner, n, 0

    def save(self, records, prompts, checkpoint):
        if checkpoint is not None:
            self.saved += 1
            if self.saved >= self.n:
                raise Killed
        self.inner.save(records, prompts, checkpoint)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class Watched:
    """A journal that notes the index of the first step record the run writes (where it started),
    and how many checkpoints it was given."""

    def __init__(self, inner) -> None:
        self.inner, self.first, self.checkpoints = inner, None, 0

    def save(self, records, prompts, checkpoint):
        if records and self.first is None:
            self.first = records[0].index
        self.checkpoints += checkpoint is not None
        self.inner.save(records, prompts, checkpoint)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def stored(store: ResultsStore, key: str) -> tuple[dict, list[tuple], int]:
    """The episode as the store holds it, without wall times: its record, its step rows (every
    column but the model's latency) and how many requests its transcript names."""
    rec = json.loads(store.con.execute("SELECT record FROM episodes WHERE key=?", (key,)).fetchone()[0])
    rec.pop("wall_s")
    rows = store.con.execute(
        "SELECT idx, label, answer, code, ok, first_ok, on_track, committed, attempts, samples, calls, "
        "prompt_tokens, tokens_out, format_retries, transcript FROM steps WHERE episode_key=? ORDER BY idx", (key,)
    ).fetchall()
    return rec, rows, store.con.execute("SELECT COUNT(*) FROM prompts").fetchone()[0]


def events(caplog) -> list[str]:
    """The structlog event names the loop logged, in order."""
    return [re.search(r"event='([^']*)'", r.getMessage())[1] for r in caplog.records if r.name.startswith("agentloop.")]


def run_into(store: ResultsStore, key: str, journal=None, **kw):
    with store.journal(key) as j:
        rec = run_episode(key=key, journal=journal(j) if journal else j, **kw)
    assert store.add_episode(key, rec, store.begin_run({}, {}))
    return rec


CASES = {
    "hanoi vote": dict(scenario="hanoi", params={"disks": 6}, condition="vote", model="scripted/noisy",
                       model_args={"error": 0.1}, seed=2),
    "eca stepwise": dict(scenario="eca", params={"rule": 30, "width": 6, "steps": 3}, condition="stepwise",
                         model="scripted/noisy", model_args={"error": 0.05}, seed=1),
    "sudoku verify": dict(scenario="sudoku", params={"size": 4}, condition="verify", model="scripted/noisy",
                          model_args={"error": 0.3, "format": 0.2}, seed=3),
    "wordle tape": dict(scenario="wordle", params={}, condition="tape", model="scripted/noisy",
                        model_args={"error": 0.5}, seed=6),
    "multiply oneshot": dict(scenario="multiply", params={}, condition="oneshot", model="scripted/noisy",
                             model_args={"error": 0.1}, seed=0),
    "hanoi faulty": dict(scenario="hanoi", params={"disks": 5}, condition="tape", model="scripted/faulty",
                         model_args={"rate": 0.3, "error": 0.05}, seed=4),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dies_at", [1, 3])
def test_an_episode_killed_between_checkpoints_resumes_to_the_uninterrupted_record(case, dies_at, tmp_path, monkeypatch):
    monkeypatch.setattr(graph, "QUANTUM_S", 0.0)  # a checkpoint after every step
    kw = CASES[case]
    whole = ResultsStore(tmp_path / "whole.sqlite")
    run_into(whole, "k", **kw)
    killed = ResultsStore(tmp_path / "killed.sqlite")
    with pytest.raises(Killed):
        run_into(killed, "k", journal=lambda j: DiesAfter(j, dies_at), **kw)
    step = killed.con.execute("SELECT step FROM checkpoints WHERE episode_key='k'").fetchone()
    assert (step is not None) == (dies_at > 1) and killed.count() == 0  # it died mid-run
    watched = []
    rec = run_into(killed, "k", journal=lambda j: watched.append(Watched(j)) or watched[0], **kw)
    assert rec.steps == []  # the steps went to the store as they ran
    assert stored(killed, "k") == stored(whole, "k")
    if step is not None:  # it went on from the checkpoint, not from the start
        assert watched[0].first == step[0]
    assert killed.con.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0] == 0  # stored: no checkpoint left


def test_a_resumed_record_adds_up_the_wall_time_of_its_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(graph, "QUANTUM_S", 0.0)
    kw = dict(scenario="hanoi", params={"disks": 5, "start": "classic"}, model="scripted/oracle",
              model_args={"latency": 0.01})
    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(Killed):
        run_into(store, "k", journal=lambda j: DiesAfter(j, 20), **kw)
    rec = run_into(store, "k", **kw)
    # 31 calls of 10 ms, 19 of them before the kill: the resumed run alone took about 12 of them
    assert rec.wall_s >= 31 * 0.01 and rec.calls == 31


def test_a_checkpoint_of_another_episode_is_not_resumed(tmp_path, monkeypatch):
    monkeypatch.setattr(graph, "QUANTUM_S", 0.0)
    base = dict(scenario="hanoi", params={"disks": 5, "start": "classic"}, condition="tape", model="scripted/noisy",
                seed=1)
    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(Killed):
        run_into(store, "k", journal=lambda j: DiesAfter(j, 10), model_args={"error": 0.5}, **base)
    rec = run_into(store, "k", model_args={"error": 0.0}, **base)  # same key, another model: starts over
    fresh = run_episode(**base, model_args={"error": 0.0})
    assert rec.success and rec.calls == fresh.calls == 31
    assert store.con.execute("SELECT COUNT(*) FROM steps WHERE episode_key='k'").fetchone()[0] == 31


def test_a_checkpoint_not_used_takes_its_step_rows_with_it(tmp_path, monkeypatch):
    monkeypatch.setattr(graph, "QUANTUM_S", 0.0)
    base = dict(scenario="hanoi", params={"disks": 5, "start": "classic"}, condition="tape", model="scripted/noisy",
                seed=1)
    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(Killed):  # a perfect run, killed after 15 steps
        run_into(store, "k", journal=lambda j: DiesAfter(j, 16), model_args={"error": 0.0}, **base)
    assert store.con.execute("SELECT COUNT(*) FROM steps WHERE episode_key='k'").fetchone()[0] == 15
    # other limits: another episode, so it starts over, and stops after 3 steps
    rec = run_into(store, "k", model_args={"error": 0.0}, limits=Limits(max_calls=3), **base)
    assert rec.status == "budget" and len(rec.step_ok) == 3
    assert store.con.execute("SELECT COUNT(*) FROM steps WHERE episode_key='k'").fetchone()[0] == 3  # none left over


def test_an_unreadable_checkpoint_starts_the_episode_over(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(graph, "QUANTUM_S", 0.0)
    kw = dict(scenario="hanoi", params={"disks": 4, "start": "classic"}, model="scripted/oracle", seed=0)
    store = ResultsStore(tmp_path / "r.sqlite")
    with pytest.raises(Killed):
        run_into(store, "k", journal=lambda j: DiesAfter(j, 5), **kw)
    with store.con:
        store.con.execute("UPDATE checkpoints SET state = x'00ff'")
    with caplog.at_level(logging.DEBUG, logger="agentloop"):
        with store.journal("k") as j:
            assert j.load() is None  # unreadable: said, and forgotten with the rows written before it
            assert store.con.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == 0
            assert store.con.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0] == 0
    assert events(caplog) == ["checkpoint.unreadable"] and "key='k' step=4" in caplog.records[0].getMessage()
    with caplog.at_level(logging.DEBUG, logger="agentloop"):
        rec = run_into(store, "k", **kw)
    assert rec.success and rec.calls == 15 and stored(store, "k")[0]["steps_correct"] == 15


class Box:
    """A scenario state the format refuses to write (not a NamedTuple or a dataclass)."""

    def __init__(self, n):
        self.n = n

    def __eq__(self, other):
        return isinstance(other, Box) and other.n == self.n


@dataclasses.dataclass(eq=False)
class Opaque:
    """A scenario state compared by identity: a copy read back from a checkpoint is never equal."""

    n: int


def counting(state_type):
    """A scenario that counts to 5 in states of `state_type`."""
    from agentloop.scenarios._base import Scenario
    from agentloop.types import Step

    class Count(Scenario):
        """Count up."""

        def initial_state(self, inst):
            return state_type(0)

        def steps(self, inst):
            return [Step(i, (i,), f"step {i}") for i in range(5)]

        def solve(self, inst, state, step):
            return state.n + 1

        def apply(self, inst, state, step, answer):
            return state_type(answer)

        def is_goal(self, inst, state):
            return state.n == 5

        def step_prompt(self, inst, step, window):
            return "next?"

        def parse(self, text, step):
            return int(text)

    return Count()


@pytest.mark.parametrize(("state_type", "reason"), [(Box, "cannot checkpoint a Box"),
                                                    (Opaque, "the state does not read back equal")])
def test_a_state_that_cannot_be_written_or_read_back_runs_without_checkpoints(state_type, reason, tmp_path,
                                                                               monkeypatch, caplog):
    monkeypatch.setattr(graph, "QUANTUM_S", 0.0)
    store = ResultsStore(tmp_path / "r.sqlite")
    saved = []
    with caplog.at_level(logging.DEBUG, logger="agentloop"):
        rec = run_into(store, "k", journal=lambda j: saved.append(Watched(j)) or saved[0],
                       scenario=counting(state_type), model="scripted/oracle")
    assert events(caplog) == ["checkpoint.off", "episode.done"]  # found at the first checkpoint, said once
    assert f"reason='{reason}'" in caplog.records[0].getMessage()
    done = caplog.records[1].getMessage()
    assert "scenario='count' condition='tape' model='scripted/oracle' seed=0 status='solved' calls=5" in done
    assert rec.success and saved[0].checkpoints == 0
    assert store.con.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == 5  # the records still streamed


# --- the restricted format ----------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_scenarios_state_reads_back_equal(name):
    sc = get_scenario(name)
    inst = sc.generate(sc.Params(), 3)
    state = sc.initial_state(inst)
    for step in list(sc.steps(inst))[:5]:
        state = sc.apply(inst, state, step, sc.solve(inst, state, step))
        back = decode(json.loads(json.dumps(encode(state))), type(sc).__module__)
        assert back == state and type(back) is type(state)


def test_the_format_keeps_tuples_sets_bytes_and_keys_apart_from_lists():
    value = {"a": (1, [2, (3,)]), 4: frozenset({"x"}), (5, 6): {b"\x00"}, "n": None}
    back = decode(json.loads(json.dumps(encode(value))), "nowhere")
    assert back == value and isinstance(back["a"], tuple) and isinstance(back["a"][1], list)


@pytest.mark.parametrize(("bad", "why"), [
    ({"$c": "os:system", "a": {}}, "may only name classes of agentloop.scenarios.hanoi, not 'os:system'"),
    ({"$c": "agentloop.scenarios.hanoi:Hanoi", "a": {}, "x": 1}, "not a checkpointed value"),  # a third key
    ({"$c": "agentloop.scenarios.hanoi:", "a": {}}, "may only name classes"),                # no class named
    ({"$c": "agentloop.scenarios.hanoi:f.<locals>.X", "a": {}}, "may only name classes"),    # a local class
    ({"$c": "agentloop.scenarios.hanoi:random_start", "f": [1, 2]},
     "no class 'agentloop.scenarios.hanoi:random_start'"),                                    # not a class
    ({"$c": "agentloop.scenarios.hanoi:Nothing", "f": [1, 2]}, "no class 'agentloop.scenarios.hanoi:Nothing'"),
    ({"$c": "agentloop.scenarios.hanoi:Hanoi", "a": {}},
     "agentloop.scenarios.hanoi:Hanoi is not a dataclass"),                                   # a class, but not data
    ({"$c": "agentloop.scenarios.hanoi:HanoiInstance", "f": [1]},
     "agentloop.scenarios.hanoi:HanoiInstance is not a NamedTuple"),
    ({"$c": "agentloop.scenarios.hanoi:HanoiInstance", "a": [1]}, "not a checkpointed value"),  # fields not a table
    ({"$c": "agentloop.scenarios.hanoi:HanoiInstance"}, "not a checkpointed value"),          # no fields at all
    ({"$c": "agentloop.scenarios.hanoi:HanoiInstance", "a": {}, "f": []}, "not a checkpointed value"),
    ({"$x": 1}, "not a checkpointed value"),
    ({"$t": [1], "$d": []}, "not a checkpointed value"),
    ({}, "not a checkpointed value"),
    ("$t", None),  # a plain string is a string
    ({"$d": [[[1, 2], 3]]}, "an unhashable key"),
    ({"$s": [{"$d": []}]}, "an unhashable key"),
    ({"$fs": [[1]]}, "an unhashable key"),
])
def test_a_checkpoint_names_only_data_classes_of_the_scenarios_module(bad, why):
    if why is None:
        assert decode(bad, "agentloop.scenarios.hanoi") == bad
        return
    with pytest.raises(Unserialisable) as e:
        decode(bad, "agentloop.scenarios.hanoi")
    # the whole reason, or its start when it goes on to quote the value
    assert str(e.value) == why or why.startswith("may only") and str(e.value).startswith(f"a checkpoint {why}")


def test_each_tag_reads_back_its_own_kind():
    from agentloop.scenarios.hanoi import HanoiInstance

    module = "agentloop.scenarios.hanoi"
    assert decode({"$t": [1, [2]]}, module) == (1, [2])
    assert decode({"$d": [[{"$t": [1, 2]}, "x"]]}, module) == {(1, 2): "x"}
    assert decode({"$s": [3, 1]}, module) == {1, 3} and type(decode({"$s": []}, module)) is set
    assert type(decode({"$fs": [3]}, module)) is frozenset
    assert decode({"$b": "AP8="}, module) == b"\x00\xff"
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=3), 1)
    assert encode(inst)["$c"] == f"{module}:HanoiInstance" and decode(encode(inst), module) == inst
    assert type(decode(encode(inst), module)) is HanoiInstance
    # the scenario's own classes inside every container (each decoded with the scenario's module)
    from agentloop.scenarios.hanoi import HanoiState

    st = HanoiState(((2, 1), (), ()), None)
    value = {"set": {st}, "frozen": frozenset({st}), st: [st, (st,)]}
    assert decode(json.loads(json.dumps(encode(value))), module) == value


def test_a_value_the_format_cannot_write_is_refused():
    with pytest.raises(Unserialisable) as e:
        encode(object())
    assert str(e.value) == "cannot checkpoint a object"


# --- the CLI --------------------------------------------------------------------------------------


AGENTLOOP = [sys.executable, "-c", "from agentloop.cli import main; main()"]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([*AGENTLOOP, *args], capture_output=True, text=True, timeout=600)
    if check:
        assert out.returncode == 0, out.stderr
    return out


RUN = ["run", "hanoi", "-p", "disks=7", "-p", "start=classic", "--condition", "vote", "--model", "scripted/noisy", "-M", "error=0.05",
       "--seed", "3"]


def test_run_out_stores_the_episode_and_the_same_command_prints_it_without_running_again(tmp_path):
    first = json.loads(cli(*RUN, "--out", str(tmp_path), "--json").stdout)
    again = json.loads(cli(*RUN, "--out", str(tmp_path), "--json").stdout)
    plain = json.loads(cli(*RUN, "--json").stdout)
    for r in (first, again, plain):
        r.pop("wall_s")
    assert first == again
    assert {k: v for k, v in first.items() if k != "prompts"} == {k: v for k, v in plain.items() if k != "prompts"}
    with ResultsStore(tmp_path / "results.sqlite", create=False) as store:
        assert store.count() == 1 and len(store.runs()) == 1  # the second command ran nothing
        assert store.con.execute("SELECT COUNT(*) FROM steps").fetchone()[0] == 127


def test_run_json_without_steps_leaves_out_the_per_step_arrays_and_says_so(tmp_path):
    head = json.loads(cli(*RUN, "--no-steps", "--json").stdout)
    assert head["omitted"] == ["steps", "step_ok", "answer", "expected", "prompts"]
    assert not set(head["omitted"]) & set(head) and head["steps_total"] == 127 and head["calls"] > 3 * 127 - 1
    stored_head = json.loads(cli(*RUN, "--no-steps", "--json", "--out", str(tmp_path)).stdout)
    assert {k: v for k, v in stored_head.items() if k != "wall_s"} == {k: v for k, v in head.items() if k != "wall_s"}
    with ResultsStore(tmp_path / "results.sqlite", create=False) as store:
        (rec,) = [r for _, r in store.episodes()]
        assert len(rec.step_ok) == 127 and len(rec.answer) == 127 and len(rec.steps) == 127  # the store has them all


def test_run_no_transcripts_stores_verdicts_without_replies(tmp_path):
    cli(*RUN, "--out", str(tmp_path), "--no-transcripts")
    with ResultsStore(tmp_path / "results.sqlite", create=False) as store:
        assert store.con.execute("SELECT COUNT(*) FROM prompts").fetchone()[0] == 0
        (rec,) = [r for _, r in store.episodes()]
        assert rec.success and all(s.calls >= 3 for s in rec.steps)
        # the verdicts stay, the replies go
        assert all(a.verdict is not None and a.replies == [] and a.prompt is None for s in rec.steps for a in s.attempts)


def _checkpoint_step(db: Path) -> int | None:
    try:
        con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute("SELECT step FROM checkpoints").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


@pytest.mark.slow
def test_a_100000_step_run_killed_with_sigkill_resumes_to_the_uninterrupted_record(tmp_path):
    # hanoi with 17 disks from the classic start: 131,071 moves, re-asked when wrong (verify)
    args = ["run", "hanoi", "-p", "disks=17", "-p", "start=classic", "--max-steps", "200000", "--condition",
            "verify", "--model", "scripted/noisy", "-M", "error=0.001", "--seed", "1", "--no-transcripts"]
    total = 2**17 - 1
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    cli(*args, "--out", str(whole))
    proc = subprocess.Popen([*AGENTLOOP, *args, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db, at = killed / "results.sqlite", None
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        at = _checkpoint_step(db)
        if at is not None and at > total // 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    at = _checkpoint_step(db)
    with ResultsStore(db, create=False) as store:
        assert store.count() == 0 and at is not None and total // 3 < at < total  # the kill landed mid-run
    out = cli(*args, "--out", str(killed), "--json")
    assert json.loads(out.stdout)["status"] == "solved"
    with ResultsStore(whole / "results.sqlite", create=False) as a, ResultsStore(db, create=False) as b:
        key = a.con.execute("SELECT key FROM episodes").fetchone()[0]
        assert stored(a, key) == stored(b, key)
        assert len(stored(b, key)[1]) == total


EXPERIMENT = """
name = "resume"
seeds = [1]
conditions = ["verify"]

[[scenarios]]
name = "hanoi"
params = { disks = 10, start = "classic" }

[[models]]
name = "scripted/noisy"
args = { error = 0.01, latency = 0.001 }
"""


def test_an_experiment_killed_mid_episode_resumes_it_from_its_checkpoint(tmp_path):
    # 1,023 moves at 1 ms a simulated call: the kill lands while the one episode runs
    spec = tmp_path / "resume.toml"
    spec.write_text(EXPERIMENT)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    cli("experiment", str(spec), "--out", str(whole), "-q")
    proc = subprocess.Popen([*AGENTLOOP, "experiment", str(spec), "--out", str(killed), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db, deadline = killed / "results.sqlite", time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        at = _checkpoint_step(db)
        if at is not None and at >= 150:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at = _checkpoint_step(db)
    with ResultsStore(db, create=False) as store:
        assert store.count() == 0 and at is not None and 150 <= at < 1023  # killed mid-episode
    cli("experiment", str(spec), "--out", str(killed), "-q")
    with ResultsStore(whole / "results.sqlite", create=False) as a, ResultsStore(db, create=False) as b:
        (key,) = a.episode_keys()
        assert b.episode_keys() == {key} and stored(a, key) == stored(b, key)
        # the second run sent only the rest of the episode's requests (the ledger has each one)
        last = b.runs()[-1]["run_id"]
        sent = b.con.execute("SELECT COUNT(*) FROM requests WHERE run_id=?", (last,)).fetchone()[0]
        assert 0 < sent < stored(b, key)[0]["calls"] - 120


def test_a_quantum_runs_steps_until_its_time_is_up_and_checkpoints_only_between_quanta(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "r.sqlite")
    kw = dict(scenario="hanoi", params={"disks": 4, "start": "classic"}, model="scripted/oracle")
    for quantum, checkpoints in ((60.0, 0), (0.0, 15)):  # one long quantum; a quantum per step (15 steps)
        monkeypatch.setattr(graph, "QUANTUM_S", quantum)
        saved = []
        run_into(store, f"q{quantum}", journal=lambda j: saved.append(Watched(j)) or saved[0], **kw)
        assert saved[0].checkpoints == checkpoints
