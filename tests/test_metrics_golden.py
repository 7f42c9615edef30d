"""Every number the metrics give for one fixed set of records, pinned.

The estimators are checked one by one against scipy/statsmodels and by simulation in
tests/test_metrics.py; this test pins what `compute_metrics` makes of a small experiment run
with scripted models (two sizes, five conditions, a planner, an injection), so that any change
to any figure of a report — an interval, a p-value, a count, a field left empty — is seen. When
a change is deliberate, rewrite the pinned file and commit it with the change:

    AGENTLOOP_GOLDEN=update .venv/bin/python -m pytest tests/test_metrics_golden.py
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from agentloop.conditions import get_condition
from agentloop.loop import run_episode
from agentloop.metrics import compute_metrics

PINNED = Path(__file__).parent / "golden" / "metrics.json"
UPDATE = os.environ.get("AGENTLOOP_GOLDEN") == "update"


def records():
    """86 episodes (simulated): eca at two widths under five conditions, and planned hanoi."""
    noisy = {"error": 0.08, "drift": 0.05, "format": 0.05}
    conditions = ["stepwise", "tape", get_condition("vote", k=3), "verify",
                  get_condition("tape", inject_step=4, inject="Use rule 30.")]
    out = [run_episode("eca", {"rule": 110, "width": width, "steps": 2}, condition=c, model="scripted/noisy",
                       model_args=noisy, seed=s)
           for width in (6, 10) for c in conditions for s in range(8)]
    out += [run_episode("hanoi", {"disks": 4}, condition=get_condition("tape", planner="llm"), model="scripted/noisy",
                        model_args={"error": 0.1, "plan_error": 0.2}, seed=s) for s in range(6)]
    return out


def differences(got, want, path="metrics"):
    """Where two JSON values differ (floats within a relative 1e-4, or 1e-9 near 0: the last
    digits of an optimiser's answer may move between versions of numpy, scipy and statsmodels)."""
    if isinstance(want, float) or isinstance(got, float):
        ok = (isinstance(got, (int, float)) and isinstance(want, (int, float))
              and math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-9))
        return [] if ok else [f"{path}: {got!r} != pinned {want!r}"]
    if isinstance(want, dict) and isinstance(got, dict):
        keys = sorted(set(got) | set(want))
        return [d for k in keys for d in differences(got.get(k, "<missing>"), want.get(k, "<missing>"), f"{path}.{k}")]
    if isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in differences(g, w, f"{path}[{i}]")]
    return [] if got == want else [f"{path}: {got!r} != pinned {want!r}"]


def test_every_figure_of_a_fixed_experiment_is_the_pinned_one():
    got = json.loads(compute_metrics(records()).model_dump_json())
    if UPDATE:
        PINNED.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    diff = differences(got, json.loads(PINNED.read_text()))
    assert not diff, (f"{len(diff)} figures changed (if on purpose: AGENTLOOP_GOLDEN=update .venv/bin/python -m pytest "
                      "tests/test_metrics_golden.py, and commit tests/golden/metrics.json):\n" + "\n".join(diff[:40]))


def test_the_comparison_sees_a_changed_figure_and_tolerates_rounding():
    pinned = {"a": [1.0, {"p": 0.05, "n": 3}], "b": None}
    assert differences({"a": [1.0 + 1e-6, {"p": 0.05, "n": 3}], "b": None}, pinned) == []
    assert differences({"a": [1.0, {"p": 0.0501, "n": 3}], "b": None}, pinned) == ["metrics.a[1].p: 0.0501 != pinned 0.05"]
    assert differences({"a": [1.0, {"p": 0.05}], "b": 0.0}, pinned) == [
        "metrics.a[1].n: '<missing>' != pinned 3", "metrics.b: 0.0 != pinned None"]
    assert differences({"a": [1.0], "b": None}, pinned) != []
