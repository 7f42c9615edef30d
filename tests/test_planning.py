"""MAKER's planning of k (`agentloop.planning`) and conditions with k = "auto"."""

from __future__ import annotations

from functools import lru_cache

import pytest
from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.conditions import MAX_K, get_condition
from agentloop.errors import AgentloopError
from agentloop.experiment import parse_experiment, plan_episodes, run_experiment
from agentloop.loop import run_episode
from agentloop.metrics import _k_min, _vote_accuracy, _wilson
from agentloop.planning import PILOT_CALLS, plan_k, vote_calls
from agentloop.store import ResultsStore
from agentloop.types import Limits


def _race(p: float, k: int, cap: int = 10_000) -> tuple[float, float]:
    """(P(the right answer wins), expected samples) of a race to a lead of k between the right
    answer and one wrong one, by dynamic programming over (lead, samples drawn): independent of
    the closed forms under test."""

    @lru_cache(maxsize=None)
    def go(d: int, n: int) -> tuple[float, float]:
        if d >= k:
            return 1.0, 0.0
        if d <= -k or n >= cap:
            return 0.0, 0.0
        w1, e1 = go(d + 1, n + 1)
        w0, e0 = go(d - 1, n + 1)
        return p * w1 + (1 - p) * w0, 1 + p * e1 + (1 - p) * e0

    return go(0, 0)


@pytest.mark.parametrize("p,k", [(0.9, 3), (0.7, 5), (0.55, 4), (0.5, 3), (0.99, 1), (0.6, 2)])
def test_vote_calls_and_accuracy_are_those_of_the_race_to_a_lead_of_k(p, k):
    win, samples = _race(p, k, cap=400)
    assert vote_calls(p, k) == pytest.approx(samples, rel=1e-6)
    assert _vote_accuracy(p, k) == pytest.approx(win, rel=1e-6)


def test_plan_takes_k_min_at_the_low_end_of_the_pilots_interval():
    s = 1_048_575
    plan = plan_k(996, 1000, s)
    lo, hi = _wilson(996, 1000)
    assert plan.p == pytest.approx(0.996) and plan.p_ci == pytest.approx((lo, hi))
    assert plan.k == _k_min(lo, s) and plan.k_point == _k_min(0.996, s)
    assert plan.k >= plan.k_point  # the cautious end plans at least as many votes
    assert plan.reaches_target and plan.projected_success_lo >= plan.target - 1e-12
    assert _vote_accuracy(lo, plan.k - 1) ** s < plan.target  # and it is the smallest such k
    assert plan.expected_calls == pytest.approx(s * vote_calls(0.996, plan.k))
    assert plan.projected_cost is None  # the pilot's cost was not known


def test_more_steps_plan_more_votes_and_calls_grow_like_s_ln_s():
    plans = [plan_k(999, 1000, s) for s in (10**3, 10**4, 10**5, 10**6)]
    ks = [p.k for p in plans]
    assert ks == sorted(ks) and ks[-1] > ks[0]
    per_step = [p.expected_calls / p.steps for p in plans]
    assert per_step == sorted(per_step)  # calls per step grow (with k ~ ln s), never shrink


def test_a_pilot_at_or_below_one_half_plans_the_largest_k_and_says_it_falls_short():
    plan = plan_k(40, 100, 50)
    assert plan.k == MAX_K and plan.k_point is None and not plan.reaches_target
    empty = plan_k(0, 0, 50)  # nothing judged: p's interval is all of [0, 1]
    assert empty.p_ci == (0.0, 1.0) and empty.k == MAX_K and not empty.reaches_target


def test_projected_cost_is_the_expected_calls_at_the_pilots_price_per_call():
    plan = plan_k(95, 100, 200, pilot_calls=100, pilot_tokens=5000, pilot_cost=0.5)
    assert plan.projected_cost == pytest.approx(plan.expected_calls * 0.005)


def test_bad_counts_are_refused():
    with pytest.raises(ValueError):
        plan_k(5, 4, 10)


# --- k = "auto" in a condition --------------------------------------------------------------------


def test_k_auto_is_a_condition_value_and_other_text_is_refused():
    assert get_condition("vote", k="auto").k == "auto"
    assert get_condition("vote", k="4").k == 4
    for bad in (0, MAX_K + 1, "many"):
        with pytest.raises(AgentloopError, match="k="):
            get_condition("vote", k=bad)


def test_k_auto_runs_a_pilot_and_votes_with_the_k_it_plans():
    cond = get_condition("vote", k="auto")
    args = {"error": 0.05}
    rec = run_episode("hanoi", {"disks": 6}, condition=cond, model="scripted/noisy", model_args=args, seed=3, key="e1")
    plan = rec.k_plan
    assert plan is not None and rec.condition == "vote"
    steps = rec.steps_total
    assert plan.steps == steps and plan.pilot_judged == min(steps, PILOT_CALLS) and plan.pilot_calls >= plan.pilot_judged
    assert plan.k == plan_k(plan.pilot_correct, plan.pilot_judged, steps).k
    # the vote ran with that k: every committed step's winner led by k (a tally that ended by the bound aside)
    fixed = run_episode("hanoi", {"disks": 6}, condition=get_condition("vote", k=plan.k), model="scripted/noisy",
                        model_args=args, seed=3, key="e1")
    assert (rec.step_ok, rec.calls, rec.tokens_in) == (fixed.step_ok, fixed.calls, fixed.tokens_in)
    # the same episode again is the same record: the pilot is seeded by the episode's key
    again = run_episode("hanoi", {"disks": 6}, condition=cond, model="scripted/noisy", model_args=args, seed=3, key="e1")
    assert again.k_plan == plan and again.step_ok == rec.step_ok


def test_k_auto_without_a_vote_runs_no_pilot():
    rec = run_episode("hanoi", {"disks": 3}, condition=get_condition("tape", k="auto"), model="scripted/oracle")
    assert rec.k_plan is None and rec.success and rec.calls == 7


def test_the_pilot_counts_against_the_episodes_call_limit():
    cond = get_condition("vote", k="auto")
    rec = run_episode("hanoi", {"disks": 5}, condition=cond, model="scripted/oracle", limits=Limits(max_calls=20))
    assert rec.k_plan is not None and rec.k_plan.pilot_calls == 19  # one call is left for the episode
    assert rec.status == "budget" and rec.calls == 1
    tight = run_episode("hanoi", {"disks": 5}, condition=cond, model="scripted/oracle", limits=Limits(max_calls=1))
    assert tight.k_plan.pilot_calls == 0 and tight.k_plan.k == MAX_K and tight.calls <= 1


def test_the_pilot_counts_against_the_episodes_cost_limit():
    from agentloop.types import Completion

    class Priced:
        """Answers every step right (from the hint) at $0.125 a call."""

        name, args, simulated = "test/priced", {}, True

        def complete(self, messages, *, hint=None, sample=0, seed=None):
            return Completion(text=hint.render(hint.answers), tokens_in=10, tokens_out=2, cost=0.125)

    cond = get_condition("vote", k="auto")
    # the pilot: the 7 moves once each, $0.875 of the $1.25; $0.375 (3 calls) is left for the vote
    rec = run_episode("hanoi", {"disks": 3}, condition=cond, model=Priced(), limits=Limits(max_cost=1.25))
    assert rec.k_plan is not None and rec.k_plan.pilot_calls == 7 and rec.k_plan.pilot_cost == 0.875
    assert rec.status == "budget" and rec.calls == 3 and rec.cost == 0.375


AUTO = """
name = "auto"
seeds = 2
conditions = [{name = "vote", k = "auto"}]

[[scenarios]]
name = "hanoi"
params = { disks = 4 }

[[models]]
name = "scripted/noisy"
args = { error = 0.05 }
"""


def test_k_auto_in_an_experiment_file_is_stored_with_its_plan(tmp_path):
    spec = parse_experiment(AUTO)
    assert {t.condition.k for t in plan_episodes(spec)} == {"auto"}  # the key names auto, not the plan
    summary = run_experiment(spec, tmp_path / "d", progress=False)
    assert summary.stored == 2
    with ResultsStore(tmp_path / "d" / "results.sqlite") as store:
        recs = [r for _, r in store.episodes()]
    assert all(r.k_plan is not None and r.k_plan.steps == r.steps_total for r in recs)
    with pytest.raises(AgentloopError, match=r"k"):
        parse_experiment(AUTO.replace('k = "auto"', 'k = "lots"'))


def test_k_auto_from_the_command_line(tmp_path):
    f = tmp_path / "auto.toml"
    f.write_text(AUTO)
    res = CliRunner().invoke(app, ["experiment", str(f), "--out", str(tmp_path / "d"), "--json"])
    assert res.exit_code == 0, res.output
    bad = tmp_path / "bad.toml"
    bad.write_text(AUTO.replace('k = "auto"', "k = 0"))
    res = CliRunner().invoke(app, ["experiment", str(bad), "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and "error:" in res.output and "Traceback" not in res.output


def test_run_takes_k_auto_as_a_condition_field():
    res = CliRunner().invoke(app, ["run", "hanoi", "-p", "disks=4", "--condition", "vote", "-C", "k=auto",
                                   "--model", "scripted/noisy", "-M", "error=0.05", "--json"])
    assert res.exit_code == 0, res.output
    import json

    rec = json.loads(res.stdout)
    assert rec["condition"] == "vote" and rec["k_plan"]["k"] >= 1 and rec["k_plan"]["steps"] == rec["steps_total"]
    res = CliRunner().invoke(app, ["run", "hanoi", "--condition", "vote", "-C", "k=often"])
    assert res.exit_code == 2 and "k=" in res.output and "Traceback" not in res.output


def test_a_pilot_ended_by_a_provider_error_ends_the_episode_with_it():
    rec = run_episode("hanoi", {"disks": 3}, condition=get_condition("vote", k="auto"), model="scripted/faulty",
                      model_args={"rate": 0.99})
    assert rec.status == "error" and rec.error and rec.k_plan is None and rec.condition == "vote"


def test_the_pilot_asks_single_unverified_calls_even_when_the_condition_votes_and_verifies():
    import random

    from agentloop.types import Completion

    class SlipsOnce:
        """Answers every step right from the hint, except its second request (the pilot's
        second step), which it answers wrong; records what each request asked."""

        name, args, simulated = "test/slips-once", {}, True

        def __init__(self):
            self.questions = []

        def complete(self, messages, *, hint=None, sample=0, seed=None):
            answers = list(hint.answers)
            if len(self.questions) == 1:
                answers[0] = hint.corrupt(0, random.Random(0))
            self.questions.append(messages[-1]["content"])
            return Completion(text=hint.render(answers), tokens_in=10, tokens_out=1)

    cond = get_condition("vote", k="auto", verify=True)
    assert cond.vote and cond.verify
    m = SlipsOnce()
    rec = run_episode("hanoi", {"disks": 2}, condition=cond, model=m, limits=Limits(max_calls=4))
    plan = rec.k_plan
    # one call per step, the slip judged wrong and never re-asked: the single call's accuracy
    assert (plan.pilot_judged, plan.pilot_correct, plan.pilot_calls) == (3, 2, 3)
    assert not any("was rejected" in q for q in m.questions[:3])
