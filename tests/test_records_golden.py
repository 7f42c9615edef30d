"""What the loop records for each built-in scenario under each preset condition, pinned.

One small instance per scenario, run by a scripted model that errs and writes unreadable
replies (simulated), under every preset: the record's totals and, per step, its verdicts, votes
and usage. Each of these is checked by meaning elsewhere (tests/test_loop.py, test_vote.py, the
scenario tests); this test pins them together, so a change anywhere in the loop or a scenario
that moves any recorded figure is seen. When a change is deliberate, rewrite the pinned file and
commit it with the change:

    AGENTLOOP_GOLDEN=update .venv/bin/python -m pytest tests/test_records_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agentloop.conditions import PRESETS
from agentloop.loop import run_episode

PINNED = Path(__file__).parent / "golden" / "records.json"
UPDATE = os.environ.get("AGENTLOOP_GOLDEN") == "update"
SMALL = {"eca": {"rule": 110, "width": 6, "steps": 2}, "life": {"rows": 3, "cols": 3, "steps": 1}, "hanoi": {"disks": 3},
         "ab": {}, "multiply": {}, "ledger": {}, "reversal": {}, "wordsquare": {"size": 3}, "sudoku": {"size": 4},
         "wordle": {"word": "crane"}, "crossword": {}}
KEYS = [f"{name} {condition}" for name in SMALL for condition in PRESETS]
TOTALS = ["status", "success", "steps_total", "steps_correct", "first_error_step", "calls", "retries",
          "format_retries", "tokens_in", "tokens_out", "cost", "error", "initial", "expected", "answer"]


def summary(key: str) -> dict:
    """The record's totals, and a row per step: label, answer, code, ok, first try ok, on track,
    committed, each attempt's (code, reason), votes, samples, calls, prompt and reply tokens."""
    name, condition = key.split(" ")
    rec = run_episode(name, SMALL[name], condition=condition, model="scripted/noisy",
                      model_args={"error": 0.2, "format": 0.1}, seed=1, transcripts=False)
    d = json.loads(rec.model_dump_json())
    out = {k: d[k] for k in TOTALS}
    out["step_ok"] = "".join("1" if ok else "0" for ok in rec.step_ok)
    out["steps"] = [[s["label"], s["answer"], s["code"], s["ok"], s["first_ok"], s["on_track"], s["committed"],
                     [[a["verdict"]["code"], a["verdict"]["reason"]] for a in s["attempts"]], s["votes"],
                     s["samples"], s["calls"], s["format_retries"], s["prompt_tokens"], s["tokens_out"]]
                    for s in d["steps"]]
    return out


@pytest.fixture(scope="module")
def pinned():
    if UPDATE:
        PINNED.write_text(json.dumps({k: summary(k) for k in KEYS}, indent=1, sort_keys=True) + "\n")
    return json.loads(PINNED.read_text())


@pytest.mark.parametrize("key", KEYS)
def test_the_record_of_a_fixed_episode_is_the_pinned_one(pinned, key):
    got = summary(key)  # computed in the test itself (mutation testing maps tests to what they run)
    want = pinned[key]
    for field in [*TOTALS, "step_ok"]:
        assert got[field] == want[field], f"{key}: {field} is {got[field]!r}, pinned {want[field]!r}"
    for i, (g, w) in enumerate(zip(got["steps"], want["steps"])):
        assert g == w, f"{key}: step {i} is {g!r}, pinned {w!r}"
    assert len(got["steps"]) == len(want["steps"])


def test_the_pinned_file_has_no_entry_that_is_no_longer_produced(pinned):
    assert sorted(pinned) == sorted(KEYS)
