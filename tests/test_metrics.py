"""The estimators: checked on hand-made records and on scripted models of known behaviour.

The scripted runs use fixed seeds, so they are deterministic; each interval claim below is one
that a correct 95% estimator makes (and that would fail for a biased one or a wrong variance).
"""

from __future__ import annotations

import math

import pytest

from agentloop.loop import run_episode
from agentloop.metrics import _hazard, _logit_slope, _steps_at_99, _wilson, compute_metrics, summarize
from agentloop.types import EpisodeRecord, StepRecord


def make_record(step_ok: list[bool], *, condition: str = "tape", seed: int = 0, steps_total: int | None = None,
                tokens: list[int] | None = None, simulated: bool = True) -> EpisodeRecord:
    first = next((i for i, ok in enumerate(step_ok) if not ok), None)
    steps = [
        StepRecord(index=i, label=f"s{i}", code="ok" if ok else "wrong", ok=ok, first_ok=ok,
                   on_track=first is None or i < first, committed=True, calls=1,
                   prompt_tokens=(tokens[i] if tokens else 100))
        for i, ok in enumerate(step_ok)
    ]
    total = steps_total if steps_total is not None else len(step_ok)
    return EpisodeRecord(
        scenario="eca", params={"width": 8}, condition=condition, model="scripted/noisy", seed=seed,
        status="solved" if all(step_ok) and len(step_ok) == total else "failed",
        success=all(step_ok) and len(step_ok) == total, steps_total=total,
        steps_correct=len(step_ok) if first is None else first, first_error_step=first, step_ok=step_ok,
        calls=len(step_ok), tokens_in=100 * len(step_ok), tokens_out=len(step_ok), wall_s=0.0, simulated=simulated,
        steps=steps,
    )


# --- hand-made records ---------------------------------------------------------------------------


def test_wilson_matches_the_textbook_value():
    lo, hi = _wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)


def test_survival_horizons_and_hazard_on_known_first_errors():
    # first errors at steps 1, 2, 3 (0-based); one episode of 5 steps without an error
    recs = [make_record([True] * k + [False] + [True] * (4 - k), seed=k) for k in (1, 2, 3)]
    recs.append(make_record([True] * 5, seed=9))
    g = summarize(recs, condition="tape")
    # T = 2, 3, 4 and 5 (censored): S(2) = 3/4, S(3) = 1/2, S(4) = 1/4
    # a point at every observed time: the first errors and the censoring at 5
    assert g.survival.t == [0, 2, 3, 4, 5]
    assert g.survival.s == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.25])
    assert all(lo <= s <= hi for lo, s, hi in zip(g.survival.lo, g.survival.s, g.survival.hi))
    # horizons: the first t with S(t) strictly below 0.5 / 0.9 (statsmodels' and SAS's convention)
    assert g.h50 == 4 and g.h90 == 2
    hz = _hazard(recs, bins=100)
    # at step 2 (1-based): 4 at risk, 1 error; at step 3: 3 at risk, 1 error; at step 4: 2 at risk, 1 error
    rates = {int(b.x_hi): (b.events, b.n) for b in hz}
    assert rates[1] == (0, 4) and rates[2] == (1, 4) and rates[3] == (1, 3) and rates[4] == (1, 2)
    assert rates[5] == (0, 1)
    assert g.success_rate == 0.25 and g.calls_per_step == 1.0 and g.calls_per_solved == 20.0


def test_no_errors_means_no_slope_and_no_horizon():
    g = summarize([make_record([True] * 6, seed=s) for s in range(5)], condition="verify")
    assert g.drift_slope is None and g.drift_note == "no errors"
    assert g.h50 is None and g.success_rate == 1.0 and g.success_ci[0] < 1.0


def test_projection_follows_the_maker_formula():
    assert _steps_at_99(0.99) == pytest.approx(1.0)
    p = 0.9
    pk = 1 / (1 + ((1 - p) / p) ** 3)
    assert _steps_at_99(p, 3) == pytest.approx(math.log(0.99) / math.log(pk))
    assert _steps_at_99(1.0) is None and _steps_at_99(0.0) == 0.0


def test_paired_comparison_sees_a_condition_that_always_wins():
    recs = [make_record([True, False, True], condition="stepwise", seed=s) for s in range(12)]
    recs += [make_record([True, True, True], condition="verify", seed=s) for s in range(12)]
    recs += [make_record([True, True, True], condition="orphan", seed=s + 100) for s in range(3)]
    m = compute_metrics(recs)
    (p,) = [x for x in m.paired if x.condition == "verify"]
    assert p.baseline == "stepwise" and p.pairs == 12 and p.success_diff == 1.0
    assert p.mcnemar_p < 0.001
    assert not [x for x in m.paired if x.condition == "orphan"]  # no shared instances, no comparison
    assert m.simulated and m.simulated_models == ["scripted/noisy"]


def test_drift_slope_recovers_a_planted_trend():
    # deterministic pattern: errors get denser along the episode
    recs = []
    for s in range(40):
        ok = [not ((i * 7 + s * 13) % 100 < 2 + 3 * i) for i in range(30)]
        recs.append(make_record(ok, seed=s))
    g = summarize(recs, condition="stepwise")
    assert g.drift_slope > 0 and g.drift_slope_ci[0] > 0


# --- scripted models of known behaviour -------------------------------------------------------------

ECA = {"rule": 110, "width": 8, "steps": 2}  # 16 atomic steps


def _run(condition: str, args: dict, n: int, params=ECA) -> list[EpisodeRecord]:
    return [
        run_episode("eca", params, condition=condition, model="scripted/noisy", model_args=args, seed=s)
        for s in range(n)
    ]


@pytest.fixture(scope="module")
def noisy_tape():
    # A 95% interval misses for about 1 model seed in 20 (seed 7 is one: 250 episodes at 0.9585);
    # the coverage over many seeds is measured in docs/metrics.md.
    return _run("tape", {"error": 0.05, "seed": 0}, 250)


def test_step_accuracy_interval_covers_the_true_rate(noisy_tape):
    g = summarize(noisy_tape, condition="tape")
    lo, hi = g.step_accuracy_ci
    assert lo <= 0.95 <= hi and hi - lo < 0.03
    assert g.steps == 250 * 16


def test_success_rate_matches_p_to_the_steps(noisy_tape):
    g = summarize(noisy_tape, condition="tape")
    lo, hi = g.success_ci
    assert lo <= 0.95**16 <= hi
    # and the survival curve agrees with p^t where the data are dense
    s = dict(zip(g.survival.t, zip(g.survival.lo, g.survival.hi)))
    t = max(k for k in s if k <= 8)
    assert s[t][0] <= 0.95**t <= s[t][1] or t == 0


def test_drift_under_stepwise_has_a_slope_above_zero():
    recs = _run("stepwise", {"error": 0.02, "drift": 0.2, "seed": 3}, 50, {"rule": 110, "width": 8, "steps": 4})
    g = summarize(recs, condition="stepwise")
    assert g.drift_slope_ci[0] > 0
    assert g.drift_slope_tokens_ci[0] > 0


def test_no_drift_under_stepwise_covers_zero():
    # A 95% interval misses 0 in 5% of seeds by design: over 300 simulator seeds of a setting
    # like this one the slope's interval excluded 0 in 4.3% (docs/metrics.md). Seed 4 is fixed.
    recs = _run("stepwise", {"error": 0.05, "seed": 4}, 80, {"rule": 110, "width": 8, "steps": 4})
    g = summarize(recs, condition="stepwise")
    lo, hi = g.drift_slope_ci
    assert lo < 0 < hi


def test_the_tape_flattens_the_same_drift():
    recs = _run("tape", {"error": 0.02, "drift": 0.2, "seed": 3}, 50, {"rule": 110, "width": 8, "steps": 4})
    g = summarize(recs, condition="tape")
    lo, hi = g.drift_slope_ci
    assert lo < 0 < hi


def test_cells_of_different_difficulty_do_not_fake_a_trend():
    # Within each cell the errors sit symmetrically around the middle: no trend. But the short
    # cell is hard and the long one easy, so pooled, late steps look far better than early ones.
    recs = []
    for s in range(30):
        short = make_record([i not in (s % 6, 5 - s % 6) for i in range(6)], seed=s)
        long_ok = [not (s % 5 == 0 and i in (5, 34)) for i in range(40)]
        recs += [short, make_record(long_ok, seed=s).model_copy(update={"params": {"width": 40}})]
    err = [int(not st.ok) for r in recs for st in r.steps]
    idx = [st.index for r in recs for st in r.steps]
    groups = [g for g, r in enumerate(recs) for _ in r.steps]
    pooled = _logit_slope(err, idx, groups)
    assert pooled[1][1] < 0  # the fake trend, without cell effects
    g = summarize(recs, condition="tape")
    lo, hi = g.drift_slope_ci
    assert lo < 0 < hi and abs(g.drift_slope) < 1e-6
