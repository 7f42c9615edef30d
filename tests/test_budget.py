"""Budgets that hold: reserved before a request is sent, settled after, across processes and kills.

Real requests are counted independently of the store: by a counting wrapper around the
scripted model, or by a 127.0.0.1 HTTP server that counts what it was sent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fake_provider import provider  # noqa: F401 (a fixture)

from agentloop.budget import Budget, BudgetExceeded
from agentloop.experiment import parse_experiment, run_experiment
from agentloop.models import scripted
from agentloop.store import ResultsStore
from agentloop.types import Completion, Limits

ROOT = Path(__file__).resolve().parents[1]

GRID = """
name = "budget"
seeds = 4
conditions = ["tape", {name = "vote", k = 3}]

[[scenarios]]
name = "eca"
params = { rule = 110, width = 6, steps = [1, 2] }

[[models]]
name = "scripted/noisy"
args = { error = 0.2 }
max_connections = 3
"""


class Counter:
    """Counts every request the scripted model is sent (faults included) and what the answered
    ones cost; it knows nothing of the store."""

    def __init__(self) -> None:
        self.requests = self.tokens = 0
        self._lock = threading.Lock()
        self.after = None  # called with the count after each request

    def install(self, monkeypatch) -> Counter:
        original = scripted.ScriptedModel.complete

        def complete(model, messages, **kw):
            with self._lock:
                self.requests += 1
                n = self.requests
            if self.after is not None:
                self.after(n)
            out = original(model, messages, **kw)
            with self._lock:
                self.tokens += out.tokens_in + out.tokens_out
            return out

        monkeypatch.setattr(scripted.ScriptedModel, "complete", complete)
        return self


def test_budget_is_exhausted_exactly_when_it_would_refuse_the_next_call():
    b = Budget(Limits(max_calls=2, max_tokens=100), "experiment")
    first = b.reserve(40, 40)
    assert not b.exhausted()
    b.settle(first, Completion(text="x", tokens_in=40, tokens_out=0))
    with pytest.raises(BudgetExceeded, match="experiment budget of 100 tokens reached"):
        b.reserve(61, 61)
    assert not b.exhausted()
    second = b.reserve(60, 60)  # a reservation held counts as spent
    assert b.exhausted()
    with pytest.raises(BudgetExceeded, match="2 calls"):
        b.reserve(1, 1)
    b.settle(second, None)  # the call raised: an episode counts answers, so it is released
    assert not b.exhausted() and (b.calls, b.tokens) == (1, 40)


def test_the_ledger_counts_what_was_sent_and_releases_what_was_not(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        ledger = store.ledger(Limits(max_calls=3), run_id=1)
        done = ledger.reserve(30, 20)
        failed = ledger.reserve(30, 20)
        unsent = ledger.reserve(30, 20)
        assert ledger.exhausted() and store.spent() == (3, 90, 0.0)
        ledger.settle(done, Completion(text="x", tokens_in=20, tokens_out=2, cost=0.5))
        ledger.settle(failed, None)  # sent and failed: its prompt counts
        ledger.release(unsent)  # never sent
        assert store.spent() == (2, 42, 0.5) and not ledger.exhausted()
        states = [r[0] for r in store.con.execute("SELECT state FROM requests ORDER BY id")]
        ledger.close()
    assert states == ["done", "failed"]


_RESERVE_UNTIL_REFUSED = """
import sys
from agentloop.budget import BudgetExceeded
from agentloop.store import ResultsStore
from agentloop.types import Completion, Limits
store = ResultsStore(sys.argv[1])
ledger = store.ledger(Limits(max_calls=int(sys.argv[2])), run_id=0)
granted = 0
while True:
    try:
        hold = ledger.reserve(5, 5)
    except BudgetExceeded:
        break
    granted += 1
    ledger.settle(hold, Completion(text="1", tokens_in=5, tokens_out=1))
print(granted)
"""


def test_the_experiment_budget_holds_across_processes(tmp_path):
    db = tmp_path / "r.sqlite"
    ResultsStore(db).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", _RESERVE_UNTIL_REFUSED, str(db), "60"], stdout=subprocess.PIPE, cwd=ROOT)
        for _ in range(2)
    ]
    granted = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert sum(granted) == 60  # not 60 each
    with ResultsStore(db) as store:
        assert store.spent() == (60, 360, 0.0)


_RESERVE_AND_HANG = """
import sys, time
from agentloop.store import ResultsStore
from agentloop.types import Limits
ledger = ResultsStore(sys.argv[1]).ledger(Limits(), run_id=0)
ledger.reserve(7, 7)
print("sent", flush=True)
time.sleep(120)
"""


def test_a_request_in_flight_when_the_process_is_killed_stays_counted(tmp_path):
    db = tmp_path / "r.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", _RESERVE_AND_HANG, str(db)], stdout=subprocess.PIPE, cwd=ROOT, text=True)
    assert proc.stdout.readline().strip() == "sent"
    proc.kill()
    proc.wait()
    with ResultsStore(db) as store:
        assert store.spent() == (1, 7, 0.0)
        assert store.con.execute("SELECT state FROM requests").fetchall() == [("held",)]


def test_vote_samples_sent_when_the_budget_refuses_a_round_are_counted(tmp_path, monkeypatch):
    counter = Counter().install(monkeypatch)
    spec = parse_experiment(GRID + "\n[budget]\nmax_calls = 101\n")
    s = run_experiment(spec, tmp_path, progress=False)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        calls, tokens, _ = store.spent()
    assert s.budget_exhausted and s.missing > 0
    assert counter.requests == calls <= 101
    assert tokens == counter.tokens


def test_a_token_budget_holds_over_three_stopped_runs(tmp_path, monkeypatch):
    """Three runs, each stopped part-way (a stop lets requests in flight finish): what they sent,
    counted outside the store, stays within the budget and equals what the ledger holds."""
    counter = Counter().install(monkeypatch)
    spec = parse_experiment(GRID + "\n[limits]\nmax_calls = 30\n\n[budget]\nmax_tokens = 9000\n")
    for _ in range(3):
        stop = threading.Event()
        start = counter.requests
        counter.after = lambda n, start=start, stop=stop: n - start >= 25 and stop.set()
        s = run_experiment(spec, tmp_path, progress=False, stop=stop)
        assert s.missing > 0
    counter.after = None
    s = run_experiment(spec, tmp_path, progress=False)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        _, tokens, _ = store.spent()
    assert s.budget_exhausted
    # each prompt is reserved before it is sent; a reply (1 token here) is counted when it is in
    assert tokens == counter.tokens <= 9000 + 9  # up to 3 episodes × 3 vote samples in flight


_COUNTED_EXPERIMENT = """
import os, sys
from agentloop.models import scripted
original = scripted.ScriptedModel.complete
def complete(self, messages, **kw):
    os.write(int(os.environ["COUNT_FD"]), b"x")  # counted before it is sent, outside the store
    return original(self, messages, **kw)
scripted.ScriptedModel.complete = complete
from agentloop.cli import main
sys.argv = ["agentloop", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_kills_never_let_requests_pass_the_budget(tmp_path):
    """Three SIGKILLs mid-run, then a run to the end, against a provider that fails 30% of its
    requests: every request that reached the provider (retries included) is within the budget."""
    exp = tmp_path / "exp.toml"
    exp.write_text(
        GRID.replace('"scripted/noisy"', '"scripted/faulty"').replace("error = 0.2", "error = 0.2, rate = 0.3, latency = 0.02")
        + "\n[budget]\nmax_calls = 150\n"
    )
    out, counted = tmp_path / "out", tmp_path / "requests"
    cmd = [sys.executable, "-c", _COUNTED_EXPERIMENT, "experiment", str(exp), "--out", str(out), "--quiet"]
    with open(counted, "ab") as f:
        env = {**os.environ, "COUNT_FD": str(f.fileno())}
        for kill_after in (15, 40, 80):
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, pass_fds=(f.fileno(),), stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 120
            while counted.stat().st_size < kill_after and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert proc.poll() is None, "the run ended before the kill"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        final = subprocess.run(cmd + ["--json"], cwd=ROOT, env=env, pass_fds=(f.fileno(),), capture_output=True, text=True)
    assert final.returncode == 1 and json.loads(final.stdout)["budget_exhausted"], final.stderr
    sent = counted.stat().st_size
    with ResultsStore(out / "results.sqlite") as store:
        calls, _, _ = store.spent()
    assert sent <= calls <= 150  # the ledger holds every request sent, and a reservation for each kill


def test_an_http_endpoint_sees_no_more_requests_than_the_budget(tmp_path, provider):
    """Retries are requests too: each attempt is reserved in the ledger before it is sent (the
    provider fails every third request with a 503)."""
    text = GRID.replace('name = "scripted/noisy"\nargs = { error = 0.2 }', (
        f'name = "openai/test-model"\nargs = {{ api_base = "{provider.url}", api_key = "sk-test-SECRET", retry_wait = 0 }}'
    )).replace(', {name = "vote", k = 3}', "") + "\n[budget]\nmax_calls = 40\n"
    s = run_experiment(parse_experiment(text), tmp_path, progress=False)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        calls, tokens, _ = store.spent()
        failed = store.con.execute("SELECT COUNT(*) FROM requests WHERE state='failed'").fetchone()[0]
    assert s.budget_exhausted and not s.simulated
    assert provider.requests == calls <= 40 and failed == provider.requests // 3
    assert b"SECRET" not in (tmp_path / "results.sqlite").read_bytes()
