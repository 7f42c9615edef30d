"""The estimators, pinned so that a wrong one fails.

Each interval is compared with scipy/statsmodels or a textbook formula at asymmetric values
(so that swapping the method, the level or the variance shows); the clustered intervals are
checked to widen when errors cluster; coverage and false-positive rates are measured over
simulated replications with fixed seeds (several, never one hand-picked); and a few runs of the
real loop on `scripted/noisy` check that the pieces fit together.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from agentloop.loop import run_episode
from agentloop.metrics import (
    LengthPoint,
    _clustered_accuracy,
    _drift,
    _fit_error_rate,
    _hazard,
    _k_min,
    _steps_at_99,
    _tango_paired,
    _vote_accuracy,
    _wilson,
    _within_episode_p,
    compute_metrics,
    interaction_tests,
    paired_comparisons,
    summarize,
)
from agentloop.types import Attempt, EpisodeRecord, Reply, StepRecord, Verdict

ROOT = Path(__file__).resolve().parents[1]


def make_record(step_ok: list[bool], *, condition: str = "tape", seed: int = 0, steps_total: int | None = None,
                tokens: list[int] | None = None, simulated: bool = True, params: dict | None = None,
                status: str | None = None) -> EpisodeRecord:
    first = next((i for i, ok in enumerate(step_ok) if not ok), None)
    steps = [
        StepRecord(index=i, label=f"s{i}", code="ok" if ok else "wrong", ok=ok, first_ok=ok,
                   on_track=first is None or i < first, committed=True, calls=1,
                   prompt_tokens=(tokens[i] if tokens else 100))
        for i, ok in enumerate(step_ok)
    ]
    total = steps_total if steps_total is not None else len(step_ok)
    success = all(step_ok) and len(step_ok) == total
    return EpisodeRecord(
        scenario="eca", params=params or {"width": 8}, condition=condition, model="scripted/noisy", seed=seed,
        status=status or ("solved" if success else "failed"), success=success, steps_total=total,
        steps_correct=len(step_ok) if first is None else first, first_error_step=first, step_ok=step_ok,
        calls=len(step_ok), tokens_in=100 * len(step_ok), tokens_out=len(step_ok), wall_s=0.0, simulated=simulated,
        steps=steps,
    )


def records_from(ok: np.ndarray, **kw) -> list[EpisodeRecord]:
    """One record per row of a 0/1 matrix (episodes × steps)."""
    return [make_record([bool(v) for v in row], seed=i, **kw) for i, row in enumerate(ok)]


def wilson_formula(k: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's score interval written out (independent of statsmodels)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def calibrate():
    spec = importlib.util.spec_from_file_location("calibrate", ROOT / "tools" / "calibrate.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


# --- binomial intervals: the method, the level, no interval dropped -------------------------------


def test_success_interval_is_wilson_at_95_percent_on_an_asymmetric_count():
    recs = [make_record([True] * 4, seed=s) for s in range(3)] + [make_record([True, False, True, True], seed=s)
                                                                  for s in range(3, 17)]
    g = summarize(recs, condition="tape")
    want = proportion_confint(3, 17, alpha=0.05, method="wilson")
    assert g.success_ci == pytest.approx(want, abs=1e-12)
    assert g.success_ci == pytest.approx(wilson_formula(3, 17), abs=1e-12)
    # the pin has teeth: other methods and levels differ here by more than the tolerance
    for method, alpha in (("normal", 0.05), ("beta", 0.05), ("agresti_coull", 0.05), ("wilson", 0.10)):
        other = proportion_confint(3, 17, alpha=alpha, method=method)
        assert abs(other[0] - want[0]) + abs(other[1] - want[1]) > 1e-3
    assert _wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_every_interval_is_present_when_it_can_be_computed():
    rng = np.random.default_rng(3)
    g = summarize(records_from(rng.random((30, 20)) > 0.1), condition="tape")
    for name in ("success_ci", "step_accuracy_ci", "first_try_accuracy_ci", "format_rate_ci", "drift_slope_ci",
                 "h50_ci", "h90_ci"):
        assert getattr(g, name) is not None, name
    assert g.drift_p is not None and g.projection is not None and g.projection.p_ci is not None


# --- clustered step accuracy ------------------------------------------------------------------------


def clopper_pearson(k: float, n: float) -> tuple[float, float]:
    lo = stats.beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return lo, hi


def korn_graubard_by_hand(y: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """Clopper-Pearson on n / deff · (z / t_{G−1})²; deff = the cluster-robust variance of the
    mean (with statsmodels' G/(G−1) correction) over the binomial one; at 0% or 100%, G trials."""
    n, p = len(y), y.mean()
    groups = np.unique(g)
    if p in (0.0, 1.0):
        n_eff = len(groups)
    else:
        r = y - p
        v_cluster = len(groups) / (len(groups) - 1) * sum(r[g == k].sum() ** 2 for k in groups) / n**2
        n_eff = n / max(1.0, v_cluster / (p * (1 - p) / n))
    n_eff *= (stats.norm.ppf(0.975) / stats.t.ppf(0.975, len(groups) - 1)) ** 2
    return clopper_pearson(p * n_eff, n_eff)


def test_step_accuracy_interval_is_korn_graubard_on_the_design_effect_sample_size():
    # errors concentrated in a few episodes: a design effect well above 1
    ok = np.ones((20, 15), dtype=bool)
    ok[0, 3:12] = ok[1, ::2] = ok[2, 5:9] = ok[7, 1] = ok[11, 14] = False
    g = summarize(records_from(ok), condition="tape")
    y, groups = ok.ravel().astype(float), np.repeat(np.arange(20), 15)
    assert g.step_accuracy_ci == pytest.approx(korn_graubard_by_hand(y, groups), abs=1e-9)
    naive = wilson_formula(y.sum(), len(y))
    width = g.step_accuracy_ci[1] - g.step_accuracy_ci[0]
    assert width > 1.5 * (naive[1] - naive[0])  # clustering widens it


def test_at_100_percent_the_interval_is_never_narrower_than_the_episodes_give():
    for ok in (np.ones((20, 30), dtype=bool), np.zeros((20, 30), dtype=bool)):
        g = summarize(records_from(ok), condition="vote")
        y, groups = ok.ravel().astype(float), np.repeat(np.arange(20), 30)
        assert g.step_accuracy_ci == pytest.approx(korn_graubard_by_hand(y, groups), abs=1e-9)
        episodes_only = wilson_formula(20 * ok.mean(), 20)
        assert g.step_accuracy_ci[1] - g.step_accuracy_ci[0] >= episodes_only[1] - episodes_only[0]


def test_clustered_accuracy_covers_over_clustered_replications():
    # 300 replications, 30 episodes × 20 steps, each episode's error ~ Beta(mean 0.1): the
    # clustered interval covers the mean accuracy; a Wilson over all steps does not.
    rng = np.random.default_rng(20261130)
    groups = np.repeat(np.arange(30), 20)
    covered = naive = 0
    for _ in range(300):
        e = rng.beta(0.5, 4.5, size=30)
        y = (rng.random((30, 20)) >= e[:, None]).ravel().astype(float)
        _, (lo, hi) = _clustered_accuracy(y, groups)
        covered += lo <= 0.9 <= hi
        nlo, nhi = wilson_formula(y.sum(), len(y))
        naive += nlo <= 0.9 <= nhi
    assert covered / 300 >= 0.92
    assert naive / 300 < 0.85


# --- drift: the permutation test, its gate, the slope -------------------------------------------------


def test_permutation_p_matches_full_enumeration():
    # two episodes: 7 steps with errors at 4 and 6, 5 steps with an error at 3
    err = np.array([0, 0, 0, 0, 1, 0, 1] + [0, 0, 0, 1, 0])
    x = np.array(list(range(7)) + list(range(5)), dtype=float)
    ep = np.array([0] * 7 + [1] * 5)
    xc = x - np.where(ep == 0, 3.0, 2.0)
    u = float(err @ xc)
    stats_ = [xc[list(a)].sum() + xc[7 + b] for a in itertools.combinations(range(7), 2) for b in range(5)]
    exact = np.mean(np.abs(stats_) >= abs(u) - 1e-9)
    p = _within_episode_p(err, x, ep)
    assert p == pytest.approx(exact, abs=0.03)


def null_drift(rng, episodes: int, steps: int, errors: int) -> tuple:
    """`errors` errors placed at random steps of random episodes: no drift by construction."""
    err = np.zeros(episodes * steps, dtype=int)
    err[rng.choice(episodes * steps, size=errors, replace=False)] = 1
    x = np.tile(np.arange(steps), episodes).astype(float)
    ep = np.repeat(np.arange(episodes), steps)
    return err, x, ep, np.ones_like(ep, dtype=bool)


@pytest.mark.parametrize("errors", [5, 8, 20])
def test_drift_test_keeps_its_false_positive_rate_with_few_errors(errors):
    # where the cluster-robust logit interval collapsed (a few episodes hold all the errors)
    rng = np.random.default_rng(errors)
    rejected = [_drift(*null_drift(rng, 40, 32, errors)).p < 0.05 for _ in range(150)]
    assert np.mean(rejected) <= 0.08


def test_too_few_errors_means_no_drift_test_and_a_note_that_says_so():
    ok = np.ones((10, 12), dtype=bool)
    ok[2, 5] = ok[4, 1] = ok[9, 11] = False
    g = summarize(records_from(ok), condition="stepwise")
    assert g.drift_p is None and g.drift_slope is None and g.drift_slope_ci is None
    assert g.drift_note == "too few errors (3) for a drift test"


def test_vote_at_full_accuracy_reports_no_slope():
    g = summarize(records_from(np.ones((8, 20), dtype=bool), condition="vote"), condition="vote")
    assert g.drift_slope is None and g.drift_p is None and g.drift_note == "no errors"
    assert g.first_try_drift_slope is None and g.drift_slope_tokens is None
    assert g.h50 is None and g.success_rate == 1.0 and g.success_ci[0] < 1.0


def test_drift_test_and_slope_see_a_planted_trend():
    recs = []
    for s in range(40):
        ok = [not ((i * 7 + s * 13) % 100 < 2 + 3 * i) for i in range(30)]
        recs.append(make_record(ok, seed=s))
    g = summarize(recs, condition="stepwise")
    assert g.drift_p < 0.001 and g.drift_slope > 0 and g.drift_slope_ci[0] > 0


def test_drift_slope_and_interval_are_the_conditional_logit_score_at_zero():
    from statsmodels.discrete.conditional_models import ConditionalLogit

    rng = np.random.default_rng(11)
    ok = rng.random((25, 20)) > 0.05 + 0.01 * np.arange(20)
    g = summarize(records_from(ok), condition="stepwise")
    y = (~ok).ravel().astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it says it drops the episodes without errors, as U does
        model = ConditionalLogit(y, np.tile(np.arange(20.0), 25)[:, None], groups=np.repeat(np.arange(25), 20))
    u, info = model.score(np.zeros(1))[0], -model.hessian(np.zeros(1))[0, 0]
    assert g.drift_slope == pytest.approx(u / info, rel=1e-6)
    half = stats.norm.ppf(0.975) / math.sqrt(info)  # a 95% interval, not 90%
    assert g.drift_slope_ci == pytest.approx((u / info - half, u / info + half), rel=1e-6)
    assert g.drift_p < 0.05 and g.drift_slope_ci[0] > 0  # the interval and the test agree


def test_cells_of_different_difficulty_do_not_fake_a_trend():
    # Within each cell the errors sit symmetrically around the middle: no trend. But the short
    # cell is hard and the long one easy, so pooled, late steps look far better than early ones.
    recs = []
    for s in range(30):
        short = make_record([i not in (s % 6, 5 - s % 6) for i in range(6)], seed=s)
        long_ok = [not (s % 5 == 0 and i in (5, 34)) for i in range(40)]
        recs += [short, make_record(long_ok, seed=s, params={"width": 40})]
    import statsmodels.api as sm

    err = [int(not st.ok) for r in recs for st in r.steps]
    idx = [st.index for r in recs for st in r.steps]
    pooled = sm.Logit(err, sm.add_constant(np.asarray(idx, dtype=float))).fit(disp=0)
    assert pooled.conf_int(0.05)[1][1] < 0  # the fake trend, comparing across episodes
    g = summarize(recs, condition="tape")
    lo, hi = g.drift_slope_ci
    assert lo < 0 < hi and abs(g.drift_slope) < 1e-6 and g.drift_p > 0.5


def test_a_step_that_stopped_its_episode_is_not_shuffled():
    # every episode stops at its first error (illegal answer, not committed): under a constant
    # error rate the last step is an error by construction, not drift
    rng = np.random.default_rng(5)
    recs = []
    for s in range(60):
        n = int(min(rng.geometric(0.08), 25))
        ok = [True] * (n - 1) + [n == 25]
        r = make_record(ok, seed=s, steps_total=25)
        if not ok[-1]:
            r.steps[-1] = r.steps[-1].model_copy(update={"committed": False, "code": "illegal"})
        recs.append(r)
    g = summarize(recs, condition="tape")
    assert g.drift_p is None and g.drift_errors == 0 and "ended their episode" in g.drift_note


# --- paired comparisons ------------------------------------------------------------------------------


TABLES = [[[2, 3], [4, 6]], [[14, 5], [0, 22]], [[1, 1], [7, 12]], [[30, 9], [2, 3]], [[5, 0], [6, 1]]]


def tango_z(table, delta: float) -> float:
    """Tango's score statistic with the restricted MLE found numerically (not by the closed form)."""
    from scipy.optimize import minimize_scalar

    (a, b), (c, d) = table
    n = a + b + c + d

    def nll(q21):  # cells: only1 = q21 + δ, only2 = q21, the concordant pairs share the rest
        q12 = q21 + delta
        rest = 1 - q12 - q21
        if min(q12, q21, rest) <= 0:
            return np.inf
        return -(b * math.log(q12) + c * math.log(q21) + (a + d) * math.log(rest))

    q = minimize_scalar(nll, bounds=(max(0, -delta) + 1e-12, (1 - delta) / 2 - 1e-12), method="bounded",
                        options={"xatol": 1e-13}).x
    return (b - c - n * delta) / math.sqrt(n * (2 * q + delta * (1 - delta)))


@pytest.mark.parametrize("table", TABLES)
def test_tango_interval_inverts_the_score_test(table):
    from statsmodels.stats.contingency_tables import mcnemar

    lo, hi = _tango_paired(table)
    (a, b), (c, d) = table
    assert lo < (b - c) / sum(map(sum, table)) < hi
    z = stats.norm.ppf(0.975)
    assert tango_z(table, lo) == pytest.approx(z, abs=1e-4)  # 95%, not 90%
    assert tango_z(table, hi) == pytest.approx(-z, abs=1e-4)
    # at δ = 0 the score test is McNemar's (asymptotic, uncorrected): 0 is outside iff it rejects
    chi2 = mcnemar(table, exact=False, correction=False).statistic
    assert (lo > 0 or hi < 0) == (chi2 > z**2)


def test_paired_comparison_of_a_condition_that_always_wins():
    recs = [make_record([True, False, True], condition="stepwise", seed=s) for s in range(12)]
    recs += [make_record([True, True, True], condition="verify", seed=s) for s in range(12)]
    recs += [make_record([True, True, True], condition="orphan", seed=s + 100) for s in range(3)]
    m = compute_metrics(recs)
    (p,) = [x for x in m.paired if x.condition == "verify"]
    assert p.baseline == "stepwise" and p.pairs == 12 and p.success_diff == 1.0
    lo, hi = p.success_diff_ci
    assert hi == 1.0 and lo == pytest.approx(0.5150, abs=1e-4)  # never [1, 1]: 12 pairs prove no certainty
    assert p.mcnemar_p == pytest.approx(stats.binomtest(12, 12, 0.5).pvalue)  # exact McNemar
    assert p.steps_share_diff_ci is None  # every pair differs the same: no spread, no zero-width interval
    assert not [x for x in m.paired if x.condition == "orphan"]  # no shared instances, no comparison
    assert m.simulated and m.simulated_models == ["scripted/noisy"]


def test_mcnemar_is_exact_even_with_many_discordant_pairs():
    recs = []
    for s in range(60):
        b, c = s % 2 == 0, s % 3 != 0  # 40 discordant-ish pairs
        recs.append(make_record([True, b], condition="stepwise", seed=s))
        recs.append(make_record([True, c], condition="tape", seed=s))
    (p,) = paired_comparisons(recs)
    wins = sum(1 for s in range(60) if s % 3 != 0 and s % 2 != 0)
    losses = sum(1 for s in range(60) if s % 3 == 0 and s % 2 == 0)
    assert p.mcnemar_p == pytest.approx(stats.binomtest(wins, wins + losses, 0.5).pvalue)


# --- the projection ----------------------------------------------------------------------------------


def test_projection_follows_the_maker_formula():
    assert _steps_at_99(0.99) == pytest.approx(1.0)
    p = 0.9
    pk = 1 / (1 + ((1 - p) / p) ** 3)
    assert _steps_at_99(p, 3) == pytest.approx(math.log(0.99) / math.log(pk))
    assert _steps_at_99(1.0) is None and _steps_at_99(0.0) == 0.0
    # the low end of an interval from a few wrong steps can be tiny: no overflow in ((1-p)/p)^k
    assert 0 < _steps_at_99(1e-300, 5) < 1e-5 and _vote_accuracy(1e-300, 5) == 0.0
    g = summarize(records_from(np.zeros((2, 3), dtype=bool)), condition="tape")
    assert g.projection.p == 0.0 and g.projection.steps_at_99["vote_k5"] == 0.0


@pytest.mark.parametrize("p, steps", [(0.9, 10), (0.99, 1000), (0.7, 50), (0.995, 1_000_000), (0.51, 20)])
def test_k_min_is_the_smallest_k_reaching_the_target(p, steps):
    k = _k_min(p, steps)
    assert _vote_accuracy(p, k) ** steps >= 0.99
    assert k == 1 or _vote_accuracy(p, k - 1) ** steps < 0.99
    assert _k_min(0.5, steps) is None and _k_min(0.3, steps) is None


def test_projection_bound_comes_from_the_low_end_of_p():
    rng = np.random.default_rng(2)
    g = summarize(records_from(rng.random((30, 24)) > 0.04), condition="tape")
    pr = g.projection
    lo, hi = pr.p_ci
    assert lo < pr.p < hi
    for key, k in (("single", 1), ("vote_k3", 3), ("vote_k5", 5)):
        assert pr.steps_at_99_lo[key] == pytest.approx(_steps_at_99(lo, k))
        assert pr.steps_at_99_lo[key] < pr.steps_at_99[key] < pr.steps_at_99_hi[key]
    assert pr.k_min == _k_min(pr.p, 24) and pr.k_min_hi == _k_min(lo, 24) and pr.k_min_hi >= pr.k_min


def vote_step(i: int, first_sample_right: bool) -> StepRecord:
    replies = [Reply(sample=0, text="x", answer=1 if first_sample_right else 0)]
    replies += [Reply(sample=j, text="x", answer=1) for j in (1, 2, 3)]
    votes = {"1": 3 + first_sample_right, "0": 1 - first_sample_right}
    att = Attempt(replies=replies, verdict=Verdict.accept(), votes=votes)
    return StepRecord(index=i, label=f"s{i}", answer=1, code="ok", ok=True, first_ok=True, on_track=True,
                      committed=True, attempts=[att], votes=att.votes, samples=4, calls=4)


def test_projection_under_a_vote_uses_the_first_sample_not_the_voted_answer():
    recs = []
    for s in range(20):
        r = make_record([True] * 10, condition="vote", seed=s)
        r.steps = [vote_step(i, (i + s) % 5 != 0) for i in range(10)]  # first samples 80% right
        recs.append(r)
    g = summarize(recs, condition="vote")
    assert g.step_accuracy == 1.0 and g.first_try_accuracy == 1.0
    assert g.projection.source == "first vote sample" and g.projection.p == pytest.approx(0.8)


# --- interaction: does a condition change the drift? -----------------------------------------------


def test_interaction_is_the_likelihood_ratio_of_the_condition_by_position_term():
    import statsmodels.api as sm

    rng = np.random.default_rng(8)
    pos = np.arange(20)
    a = rng.random((40, 20)) > 0.03 + 0.012 * pos  # drifting
    b = rng.random((40, 20)) > 0.08  # flat
    recs = records_from(a, condition="stepwise") + records_from(b, condition="tape")
    (t,) = interaction_tests(recs)
    y = np.concatenate([(~a).ravel(), (~b).ravel()]).astype(float)
    x = np.tile(pos, 80).astype(float)
    c = np.repeat([0.0, 1.0], 800)
    full = sm.Logit(y, np.column_stack([np.ones(1600), c, x, c * x])).fit(disp=0)
    reduced = sm.Logit(y, np.column_stack([np.ones(1600), c, x])).fit(disp=0)
    lr = 2 * (full.llf - reduced.llf)
    assert t.lr == pytest.approx(lr, rel=1e-5) and t.p == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-5)
    assert t.p < 0.05 and t.slope_baseline > 0 and t.slope_diff < 0
    # the slopes per step, as statsmodels fits them on the raw positions
    assert t.slope_baseline == pytest.approx(full.params[2], rel=1e-4)
    assert t.slope_diff == pytest.approx(full.params[3], rel=1e-4)
    assert t.slope_condition == pytest.approx(full.params[2] + full.params[3], rel=1e-4)
    assert (t.baseline, t.condition) == ("stepwise", "tape")


def test_interaction_needs_errors_in_both_conditions():
    a = np.random.default_rng(1).random((10, 20)) > 0.2
    recs = records_from(a, condition="stepwise") + records_from(np.ones((10, 20), bool), condition="vote")
    (t,) = interaction_tests(recs)
    assert t.p is None and "too few errors" in t.note


# --- curves per cell, never pooled ------------------------------------------------------------------


def test_survival_horizons_and_hazard_on_known_first_errors():
    # first errors at steps 1, 2, 3 (0-based); one episode of 5 steps without an error
    recs = [make_record([True] * k + [False] + [True] * (4 - k), seed=k) for k in (1, 2, 3)]
    recs.append(make_record([True] * 5, seed=9))
    g = summarize(recs, condition="tape")
    # T = 2, 3, 4 and 5 (censored); a point at step 1 and at every observed time
    assert g.survival.t == [0, 1, 2, 3, 4, 5]
    assert g.survival.s == pytest.approx([1.0, 1.0, 0.75, 0.5, 0.25, 0.25])
    assert all(lo <= s <= hi for lo, s, hi in zip(g.survival.lo, g.survival.s, g.survival.hi))
    # horizons: the first t with S(t) strictly below 0.5 / 0.9 (statsmodels' and SAS's convention)
    assert g.h50 == 4 and g.h90 == 2
    assert g.hazard == _hazard(recs) and g.hazard  # a group of one task carries its hazard
    hz = _hazard(recs, bins=100)
    # at step 2 (1-based): 4 at risk, 1 error; at step 3: 3 at risk, 1 error; at step 4: 2 at risk, 1 error
    rates = {int(b.x_hi): (b.events, b.n) for b in hz}
    assert rates[1] == (0, 4) and rates[2] == (1, 4) and rates[3] == (1, 3) and rates[4] == (1, 2)
    assert rates[5] == (0, 1)
    assert g.success_rate == 0.25 and g.calls_per_step == 1.0 and g.calls_per_solved == 20.0


def test_survival_band_is_clopper_pearson_on_greenwoods_effective_sample():
    from statsmodels.duration.survfunc import SurvfuncRight

    recs = [make_record([True] * k + [False] + [True] * (9 - k), seed=k) for k in (0, 2, 2, 5, 7)]
    recs += [make_record([True] * 10, seed=s) for s in range(10, 17)]
    g = summarize(recs, condition="tape")
    sf = SurvfuncRight(np.array([1, 3, 3, 6, 8] + [10] * 7), np.array([1] * 5 + [0] * 7))
    for t, s_t, se in zip(sf.surv_times, sf.surv_prob, sf.surv_prob_se):
        i = g.survival.t.index(int(t))
        n_eff = s_t * (1 - s_t) / se**2
        assert g.survival.s[i] == pytest.approx(s_t)
        assert (g.survival.lo[i], g.survival.hi[i]) == pytest.approx(clopper_pearson(s_t * n_eff, n_eff), abs=1e-9)
    # the horizons and their 95% intervals are statsmodels' quantiles of the same curve
    finite = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731
    for q, h, ci in ((0.5, g.h50, g.h50_ci), (0.1, g.h90, g.h90_ci)):
        assert h == (None if finite(sf.quantile(q)) is None else int(sf.quantile(q)))
        assert list(ci) == [finite(v) for v in sf.quantile_ci(q, alpha=0.05)]
    assert g.h90 == 3 and g.h90_ci[0] is not None  # a horizon with a finite interval was compared


def test_survival_band_before_the_first_error_is_not_a_point():
    recs = [make_record([True] * 10, seed=s) for s in range(12)] + [make_record([True] * 8 + [False, True], seed=99)]
    g = summarize(recs, condition="tape")
    # S = 1 from step 1 up to the first error at 9: 13 episodes seen that far, none failed
    assert g.survival.t[:3] == [0, 1, 9]
    assert g.survival.s[1] == 1.0 and g.survival.lo[1] == pytest.approx(clopper_pearson(13, 13)[0])
    # before the first step every episode is alive: the band there is the point 1
    assert (g.survival.s[0], g.survival.lo[0], g.survival.hi[0]) == (1.0, 1.0, 1.0)


def test_curves_and_horizons_exist_per_cell_only():
    recs = [make_record([i % 7 != 3 for i in range(n)], seed=s, params={"n": n}) for n in (8, 16) for s in range(10)]
    m = compute_metrics(recs)
    (pooled,) = m.by_condition
    assert pooled.cells == 2
    assert pooled.survival is None and pooled.h50 is None and pooled.hazard == [] and pooled.projection is None
    assert len(m.by_cell) == 2 and all(c.survival is not None and c.projection is not None for c in m.by_cell)
    assert {c.max_steps: c.projection.steps for c in m.by_cell} == {8: 8, 16: 16}


def test_success_against_length_fits_one_per_step_rate():
    recs = []
    for n, solved in ((4, 18), (8, 15), (16, 9)):
        recs += [make_record([True] * n, seed=s, params={"n": n}) for s in range(solved)]
        recs += [make_record([True] * (n - 1) + [False], seed=s, params={"n": n}) for s in range(solved, 20)]
    (curve,) = compute_metrics(recs).length_curves
    assert [p.steps_total for p in curve.points] == [4, 8, 16]
    grid = np.linspace(1e-4, 0.3, 30001)
    ll = [sum(k * n * math.log1p(-e) + (20 - k) * math.log(1 - (1 - e) ** n) for n, k in ((4, 18), (8, 15), (16, 9)))
          for e in grid]
    assert curve.error_rate == pytest.approx(grid[int(np.argmax(ll))], abs=2e-5)
    lo, hi = curve.error_rate_ci
    assert lo < curve.error_rate < hi
    assert curve.h50 == pytest.approx(math.log(0.5) / math.log(1 - curve.error_rate))
    assert curve.h50_ci[0] < curve.h50 < curve.h50_ci[1]
    assert _fit_error_rate(curve.points)[0] == curve.error_rate
    # the profile-likelihood interval: where the log-likelihood is within χ²₁(95%)/2 of its top
    inside = grid[np.asarray(ll) >= max(ll) - 3.841459 / 2]
    assert (lo, hi) == pytest.approx((inside[0], inside[-1]), abs=2e-5)
    for point, (n, solved) in zip(curve.points, ((4, 18), (8, 15), (16, 9))):
        assert point.episodes == 20 and point.success_rate == solved / 20
        assert point.step_accuracy == pytest.approx((solved * n + (20 - solved) * (n - 1)) / (20 * n))
        assert point.step_accuracy_ci[0] < point.step_accuracy < point.step_accuracy_ci[1]


def test_no_length_fit_without_sizes_or_with_a_size_of_no_steps():
    point = LengthPoint(params={}, steps_total=0, episodes=5, success_rate=1.0, success_ci=(0.5, 1.0),
                        step_accuracy=None, step_accuracy_ci=None)
    assert _fit_error_rate([]) is None
    assert _fit_error_rate([point]) is None


# --- format failures ---------------------------------------------------------------------------------


def test_unreadable_replies_are_counted_apart_and_are_not_errors():
    recs = [make_record([True] * 6, seed=s) for s in range(8)]
    for s in (8, 9):
        r = make_record([True, True, False], seed=s, steps_total=6, status="format")
        r.steps[-1] = r.steps[-1].model_copy(update={"code": "format", "committed": False})
        r.format_retries = 2
        recs.append(r)
    g = summarize(recs, condition="tape")
    assert g.format_failures == 2 and g.format_rate == 0.2 and g.format_steps == 2
    assert g.format_rate_ci == pytest.approx(wilson_formula(2, 10))
    assert g.format_retries_per_step == pytest.approx(4 / 54)
    assert g.step_accuracy == 1.0  # the unreadable steps are not wrong answers
    assert g.survival.s[-1] == 1.0 and g.h50 is None  # and they censor, not fail, the survival


# --- calibration, cheap -------------------------------------------------------------------------------


def test_calibration_in_miniature():
    # tools/calibrate.py with 40 replications of a small design (bounds looser than its 0.93 / 0.05)
    cal = calibrate()
    design = cal.Design(20, 16, format=0.2)
    rng = np.random.default_rng(1130)
    true = cal.truth(design, 0.05)
    counts: dict[str, list[int]] = {}
    for _ in range(40):
        for k, v in cal.check(design, 0.05, rng, true).items():
            if v is not None:
                counts.setdefault(k, []).append(int(v))
    for name, hits in counts.items():
        rate = np.mean(hits)
        if "(p < .05)" in name or "excludes 0" in name:
            assert rate <= 0.15, name
        else:
            assert rate >= 0.85, name


# --- the loop and the metrics together ------------------------------------------------------------------

ECA = {"rule": 110, "width": 8, "steps": 4}  # 32 atomic steps


def _run(condition: str, args: dict, n: int, params=ECA) -> list[EpisodeRecord]:
    return [
        run_episode("eca", params, condition=condition, model="scripted/noisy", model_args=args, seed=s)
        for s in range(n)
    ]


def test_loop_records_measure_what_scripted_noisy_was_told():
    recs = _run("tape", {"error": 0.05, "format": 0.2}, 60, {"rule": 110, "width": 8, "steps": 2})
    g = summarize(recs, condition="tape")
    readable = 1 - 0.2**3
    assert g.step_accuracy_ci[0] <= 0.95 <= g.step_accuracy_ci[1]
    assert g.success_ci[0] <= (0.95 * readable) ** 16 <= g.success_ci[1]
    assert g.format_rate_ci[0] <= 1 - readable**16 <= g.format_rate_ci[1]
    assert g.projection.source == "first try"


def test_loop_drift_under_stepwise_is_detected_and_the_tape_flattens_it():
    args = {"error": 0.02, "drift": 0.2, "seed": 3}
    g = summarize(_run("stepwise", args, 30), condition="stepwise")
    assert g.drift_p < 0.01 and g.drift_slope > 0
    t = summarize(_run("tape", args, 30), condition="tape")
    assert t.drift_p is None or t.drift_p > 0.01


def test_a_paired_difference_of_shares_stays_within_its_possible_range():
    import numpy as np

    from agentloop.metrics import _paired_ci

    lo, hi = _paired_ci(np.array([1.0, 1.0, 0.9, 1.0, 1.0, 0.5]), np.array([0.1, 0.0, 0.2, 0.1, 0.0, 0.4]))
    assert -1 <= lo < hi <= 1


def test_the_paired_comparisons_use_the_baseline_asked_for():
    recs = [make_record([True, s % 2 == 0, True], condition=c, seed=s) for c in ("stepwise", "tape", "verify")
            for s in range(6)]
    default = compute_metrics(recs, curves=False).paired
    assert {p.baseline for p in default} == {"stepwise"} and {p.condition for p in default} == {"tape", "verify"}
    chosen = compute_metrics(recs, curves=False, baseline="tape").paired
    assert {p.baseline for p in chosen} == {"tape"} and {p.condition for p in chosen} == {"stepwise", "verify"}
    assert all(p.pairs == 6 for p in chosen)
    tests = compute_metrics(recs, curves=False, baseline="tape").interactions
    assert {(t.baseline, t.condition) for t in tests} == {("tape", "stepwise"), ("tape", "verify")}


def test_a_group_whose_episodes_never_reached_a_step_has_no_accuracy_and_counts_its_format_failures():
    recs = [make_record([], status="format", steps_total=5, seed=s) for s in range(3)]
    recs.append(make_record([], status="error", steps_total=5, seed=3))
    g = summarize(recs, condition="tape")
    assert (g.episodes, g.steps, g.format_steps, g.format_failures) == (4, 0, 0, 3)
    assert g.format_rate == 0.75 and g.format_rate_ci == pytest.approx(wilson_formula(3, 4))
    assert g.step_accuracy is None and g.first_try_accuracy is None and g.format_retries_per_step is None
    assert g.success_rate == 0.0 and g.success_ci == pytest.approx(wilson_formula(0, 4))


def test_first_try_drift_is_the_drift_of_the_first_answers_when_a_checker_repaired_them():
    rng = np.random.default_rng(3)
    first = rng.random((30, 20)) > 0.02 + 0.02 * np.arange(20)  # first tries drift; verify repaired every one
    repaired = records_from(first, condition="verify")
    for r in repaired:
        for s in r.steps:
            s.ok, s.code, s.on_track = True, "ok", True
        r.step_ok = [True] * len(r.step_ok)
    g = summarize(repaired, condition="verify")
    plain = summarize(records_from(first, condition="verify"), condition="verify")  # the first tries, kept
    assert g.drift_note == "no errors" and g.drift_p is None
    assert (g.first_try_drift_slope, g.first_try_drift_p) == (plain.drift_slope, plain.drift_p)
    assert g.first_try_drift_slope_ci == plain.drift_slope_ci and g.first_try_drift_p < 0.01


def test_a_cell_is_the_same_whatever_order_its_parameters_were_written_in():
    a = make_record([True, False], seed=1, params={"width": 8, "steps": 2})
    b = make_record([True, True], seed=2, params={"steps": 2, "width": 8})  # as read back from a store: sorted
    (cell,) = compute_metrics([a, b]).by_cell
    assert cell.episodes == 2


def test_drift_needs_steps_that_differ_within_an_episode():
    one_step_each = [make_record([s % 2 == 0], seed=s) for s in range(12)]  # 6 errors, each alone in its episode
    d = _drift([0 if r.step_ok[0] else 1 for r in one_step_each], [0] * 12, list(range(12)), [True] * 12)
    assert (d.errors, d.note, d.slope, d.p) == (6, "no spread within episodes to test", None, None)


def test_a_step_stored_without_its_transcript_has_a_single_call_verdict_only_when_one_call_decided_it():
    from agentloop.metrics import _single_call_ok

    def step(**kw):
        base = dict(index=0, label="s0", code="ok", ok=True, first_ok=True, on_track=True, committed=True, samples=1)
        return StepRecord(**{**base, **kw})

    assert _single_call_ok(step()) is True and _single_call_ok(step(ok=False, first_ok=False, code="wrong")) is False
    assert _single_call_ok(step(code="format", ok=False, first_ok=False)) is None  # unreadable: no verdict
    assert _single_call_ok(step(votes={"1": 3}, samples=3)) is None  # a vote: its samples are unknown
    assert _single_call_ok(step(samples=2)) is None and _single_call_ok(step(samples=2, format_retries=1)) is True


def test_a_group_of_no_episodes_has_no_rates_and_the_widest_band():
    g = summarize([], condition="tape")
    assert (g.episodes, g.solved, g.steps, g.success_rate, g.success_ci) == (0, 0, 0, 0.0, (0.0, 1.0))
    assert g.format_rate == 0.0 and g.format_rate_ci is None and g.step_accuracy is None


def test_a_length_fit_takes_one_step_tasks_where_success_is_the_step_accuracy():
    def point(steps, solved):
        return LengthPoint(params={}, steps_total=steps, episodes=20, success_rate=solved / 20, success_ci=(0.0, 1.0),
                           step_accuracy=None, step_accuracy_ci=None)

    e, (lo, hi) = _fit_error_rate([point(1, 18)])
    assert e == pytest.approx(0.1, abs=1e-6) and lo < 0.1 < hi  # one step: e is the failure rate itself
    e2, _ = _fit_error_rate([point(1, 18), point(2, 16)])
    assert 0.09 < e2 < 0.11


def test_single_call_answers_are_compared_as_json_whatever_the_key_order():
    from agentloop.metrics import _same_answer

    assert _same_answer({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1})
    assert _same_answer((1, 2), [1, 2]) and not _same_answer({"a": 1}, {"a": 2})


def test_without_curves_no_group_has_a_survival_curve():
    recs = [make_record([i % 5 != 3 for i in range(10)], seed=s) for s in range(8)]  # one task: curves possible
    with_curves, without = compute_metrics(recs), compute_metrics(recs, curves=False)
    assert with_curves.by_condition[0].survival is not None and with_curves.by_cell[0].survival is not None
    assert without.by_condition[0].survival is None and without.by_cell[0].survival is None
    assert without.by_condition[0].hazard == [] and without.by_condition[0].projection is None
