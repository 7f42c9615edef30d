"""Goal-drift statistics from EpisodeRecords, each with a 95% interval.

Definitions (docs/metrics.md has the longer story and the calibration):

- success rate: solved episodes / episodes, Wilson interval.
- step accuracy: locally correct steps / readable steps (a `format` step, whose reply could not
  be read, is counted apart: format is not drift). Steps of one episode are not independent,
  so the Wilson interval uses an effective sample size shrunk by the design effect of a
  cluster-robust variance (clusters = episodes); at 0% or 100%, where no design effect can be
  estimated, the effective size is the number of episodes (the worst case).
- first-try accuracy: the same for each step's first attempt, before any feedback.
- single-call accuracy: the first readable reply alone (under a vote: its first sample), the
  input of the reliability projection.
- drift: does the error grow along the episode? Within episodes only (each has its own error
  level, so cells and instances of different difficulty cannot fake a trend): a permutation
  test that shuffles each episode's error indicators among its committed steps (exact under no
  drift at any error count), no test at all below `MIN_DRIFT_ERRORS` errors, and the slope in
  log-odds per step with the interval that inverts the same score test. The same along prompt
  tokens (log-odds per 1,000), and for first tries.
- survival S(t): Kaplan-Meier of T = the 1-based position of the first wrong step (episodes
  without one, or stopped by an unreadable reply, are censored); H50 / H90: the smallest t with
  S(t) < 0.5 / 0.9, None when S never falls that far within the data.
- hazard h(t) = P(step t wrong | all steps before t right), pooled in bins of steps.
- cost: calls, tokens and dollars per recorded step, and per solved episode.
- projection (MAKER): from single-call accuracy p, steps reachable at 99% success alone,
  ln 0.99 / ln p, and with first-to-ahead-by-k voting, p_k = 1/(1+((1-p)/p)^k); k_min, the
  smallest k with p_k^s >= 0.99 for the cell's s steps.
- paired comparisons: each condition against a baseline on the same instances: Tango's score
  interval for the difference in success, McNemar's exact test.
- interaction: does a condition change the drift? A likelihood-ratio test of condition ×
  position in a logistic regression, per scenario × params × model.
- checker (rules, critic, program): each verdict against the simulator's on the same answer;
  false-accept rate = accepted wrong answers / wrong answers judged, false-reject rate =
  rejected right answers / right answers judged, clustered intervals as for step accuracy.

Curves, horizons and projections exist only per cell (scenario × params × model × condition):
pooled over tasks of different lengths they mean nothing.

numpy, scipy and statsmodels are imported inside the functions: `import agentloop` stays cheap.
"""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from pydantic import BaseModel, Field

from agentloop.types import EpisodeRecord, StepRecord

__all__ = [
    "CheckerScore",
    "GroupMetrics",
    "InteractionTest",
    "LengthCurve",
    "Metrics",
    "PairedComparison",
    "checker_score",
    "compute_metrics",
    "model_label",
    "summarize",
]

Interval = tuple[float, float]
LEVEL = 0.95
# Below this many errors a drift test has almost no power: none is run, and the note says so.
MIN_DRIFT_ERRORS = 5
# Monte Carlo permutations of the drift test (fixed seed: a report is reproducible).
PERMUTATIONS = 2000
STOP_AFTER_HITS = 50  # permutations stop once this many are as extreme (p is then plainly large)
# Above this many shuffled rows × permutations, the normal law with the exact permutation
# variance replaces Monte Carlo (it is then many errors, and a little liberal when they cluster).
MONTE_CARLO_BUDGET = 50_000_000
TARGET = 0.99  # the success the projection aims at


class SurvivalCurve(BaseModel):
    t: list[int]
    s: list[float]
    lo: list[float]
    hi: list[float]


class Bin(BaseModel):
    """One bin of a curve: its x range, the counts, the rate and its Wilson interval."""

    x_lo: float
    x_hi: float
    n: int
    events: int
    rate: float
    ci: Interval


class Projection(BaseModel):
    """How far single calls carry, alone and with voting (MAKER, arXiv 2511.09030)."""

    p: float  # single-call accuracy
    p_ci: Interval
    source: str  # which reply p was read from
    steps_at_99: dict[str, float | None]  # "single", "vote_k3", "vote_k5" → steps (None: unbounded)
    steps_at_99_lo: dict[str, float | None]  # from the LOWER end of p's interval: the cautious bound
    steps_at_99_hi: dict[str, float | None]  # from the upper end
    target: float = TARGET
    steps: int  # the cell's task length, for k_min
    k_min: int | None  # smallest k with p_k^steps >= target; None: no k reaches it (p <= 1/2)
    k_min_hi: int | None  # from the lower end of p: the cautious (larger) k


class CheckerScore(BaseModel):
    """A deployable checker (rules, critic, program) against the simulator, over a group's
    episodes: each verdict it gave compared with the truth about the answer it judged.

    false_accept_rate = P(accepted | the answer was wrong); false_reject_rate = P(rejected | it
    was right). Intervals: Korn-Graubard for verdicts clustered in episodes, as step accuracy.
    """

    checker: str
    episodes: int
    judged: int  # verdicts (attempts with a readable answer)
    wrong: int  # of them, on wrong answers
    right: int
    false_accepts: int
    false_rejects: int
    false_accept_rate: float | None
    false_accept_ci: Interval | None
    false_reject_rate: float | None
    false_reject_ci: Interval | None
    unjudged: int = 0  # answers it could not judge and let pass (counted as accepts above)
    overruled: int = 0  # illegal answers it accepted, which the environment refused anyway
    program_runs: int = 0
    program_ok: int = 0
    program_accuracy: float | None = None  # the program's own answers the simulator accepts
    program_accuracy_ci: Interval | None = None
    calls: int = 0  # the checker's own model calls (also in the condition's calls)
    calls_per_judgement: float | None = None


class GroupMetrics(BaseModel):
    condition: str
    scenario: str | None = None
    params: dict[str, Any] | None = None
    model: str | None = None
    cells: int = 1  # grid cells pooled here; curves and horizons only when 1
    simulated: bool
    episodes: int
    solved: int
    statuses: dict[str, int]
    success_rate: float
    success_ci: Interval
    steps: int
    format_steps: int = 0  # steps whose reply stayed unreadable (the episode stopped there)
    format_failures: int = 0  # episodes stopped by an unreadable reply
    format_rate: float = 0.0  # format_failures / episodes
    format_rate_ci: Interval | None = None
    format_retries_per_step: float | None = None  # re-asks of unreadable replies per step
    step_accuracy: float | None
    step_accuracy_ci: Interval | None
    first_try_accuracy: float | None
    first_try_accuracy_ci: Interval | None
    drift_slope: float | None
    drift_slope_ci: Interval | None
    drift_p: float | None  # the permutation test's two-sided p-value
    drift_errors: int = 0  # errors the drift test could move (committed wrong steps)
    drift_note: str = ""
    drift_slope_tokens: float | None
    drift_slope_tokens_ci: Interval | None
    drift_tokens_p: float | None = None
    drift_tokens_note: str = ""
    first_try_drift_slope: float | None = None
    first_try_drift_slope_ci: Interval | None = None
    first_try_drift_p: float | None = None
    first_try_drift_note: str = ""
    h50: int | None
    h50_ci: tuple[float | None, float | None] | None
    h90: int | None
    h90_ci: tuple[float | None, float | None] | None
    max_steps: int
    calls_per_step: float | None
    tokens_per_step: float | None
    cost_per_step: float | None
    calls_per_solved: float | None
    tokens_per_solved: float | None
    cost_per_solved: float | None
    projection: Projection | None
    survival: SurvivalCurve | None = None
    hazard: list[Bin] = []
    accuracy_by_tokens: list[Bin] = []
    checker: CheckerScore | None = None  # rules, critic or program, scored against the simulator


class PairedComparison(BaseModel):
    baseline: str
    condition: str
    pairs: int
    success_baseline: float
    success_condition: float
    success_diff: float
    success_diff_ci: Interval | None  # Tango's score interval for paired proportions
    mcnemar_p: float | None  # exact (binomial on the discordant pairs)
    steps_share_diff: float
    steps_share_diff_ci: Interval | None
    wilcoxon_p: float | None


class InteractionTest(BaseModel):
    """Does `condition` change the drift of `baseline`, in one scenario × params × model?"""

    scenario: str
    params: dict[str, Any]
    model: str
    baseline: str
    condition: str
    slope_baseline: float | None = None  # log-odds per step
    slope_condition: float | None = None
    slope_diff: float | None = None
    lr: float | None = None  # likelihood-ratio statistic of the interaction term (1 df)
    p: float | None = None
    note: str = ""


class LengthPoint(BaseModel):
    params: dict[str, Any]
    steps_total: int
    episodes: int
    success_rate: float
    success_ci: Interval
    step_accuracy: float | None
    step_accuracy_ci: Interval | None


class LengthCurve(BaseModel):
    """Success against task length for one scenario × model × condition, over the sizes run,
    with the per-step failure rate e that fits success = (1 - e)^steps and the H50 it implies."""

    scenario: str
    model: str
    condition: str
    points: list[LengthPoint]
    error_rate: float | None = None
    error_rate_ci: Interval | None = None
    h50: float | None = None  # ln 0.5 / ln(1 - e); None: unbounded (e = 0)
    h50_ci: tuple[float | None, float | None] | None = None


class PlannerRates(BaseModel):
    """The planner agent's error apart from the worker's, pooled per condition (planner=llm)."""

    condition: str
    proposals: int = Field(description="readable proposals the planner made (re-plans included)")
    plan_errors: int = Field(description="of those, rejected by the simulator (code plan)")
    plan_error_rate: float | None
    plan_error_ci: Interval | None = None
    planned_steps: int = Field(description="steps a right plan chose")
    worker_error_rate: float | None = Field(description="wrong steps among those a right plan chose")
    worker_error_ci: Interval | None = None


class InjectionSplit(BaseModel):
    """Local step accuracy before and after the step where the injection (or padding) entered
    the context, pooled per condition; a condition without injection is split at the same step
    when the experiment injects at one step only (what position alone does)."""

    condition: str
    inject_step: int
    injected: bool = Field(description="False: no injection, split at the injected conditions' step")
    steps_before: int
    accuracy_before: float | None
    accuracy_before_ci: Interval | None = None
    steps_after: int
    accuracy_after: float | None
    accuracy_after_ci: Interval | None = None


class Metrics(BaseModel):
    episodes: int
    simulated: bool
    simulated_models: list[str]
    by_condition: list[GroupMetrics]
    by_cell: list[GroupMetrics]
    paired: list[PairedComparison]
    interactions: list[InteractionTest] = []
    length_curves: list[LengthCurve] = []
    planner: list[PlannerRates] = []
    injection: list[InjectionSplit] = []


def model_label(rec: EpisodeRecord) -> str:
    args = " ".join(f"{k}={v}" for k, v in sorted(rec.model_args.items()))
    return f"{rec.model} {args}".strip()


# --- small pieces ----------------------------------------------------------------------------------


def _wilson(events: float, n: float) -> Interval:
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(events, n, alpha=1 - LEVEL, method="wilson")
    return float(lo), float(hi)


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _exact(events: float, n: float) -> Interval:
    """Clopper-Pearson (statsmodels `proportion_confint(method="beta")`), for a possibly
    fractional effective sample size."""
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(events, n, alpha=1 - LEVEL, method="beta")
    return float(lo), float(hi)


def _clustered_accuracy(ok: Sequence[int], groups: Sequence[int]) -> tuple[float, Interval]:
    """Mean of 0/1 outcomes and Korn and Graubard's (1998) interval for clustered data.

    The effective sample size is n / deff, the design effect being the cluster-robust variance
    of the mean (statsmodels OLS, episodes as clusters) over the binomial one (never below 1);
    it is shrunk further by (z / t)², t on (episodes − 1) degrees of freedom, because a variance
    from few clusters is itself uncertain; and the interval on it is Clopper-Pearson's, which
    holds near 0% and 100% where Wilson's is too short when errors pile up in a few episodes.
    At 0% or 100% (or with one episode) no design effect can be estimated: under the worst
    case, every step of an episode shares its fate, the episodes are the trials — the interval
    is never narrower than they support.
    """
    import numpy as np
    import statsmodels.api as sm
    from scipy.stats import norm, t

    y = np.asarray(ok, dtype=float)
    g = np.asarray(groups)
    n, p = len(y), float(y.mean())
    clusters = len(np.unique(g))
    if p in (0.0, 1.0) or clusters < 2:
        n_eff = float(clusters)
    else:
        fit = sm.OLS(y, np.ones(n)).fit(cov_type="cluster", cov_kwds={"groups": g})
        n_eff = n / max(1.0, float(fit.bse[0]) ** 2 / (p * (1 - p) / n))
    q = 0.5 + LEVEL / 2
    n_eff *= (norm.ppf(q) / t.ppf(q, max(1, clusters - 1))) ** 2
    return p, _exact(p * n_eff, n_eff)


def _within_episode_score(err, x, episode):
    """The score of a logistic slope with one intercept per episode (conditional logistic
    regression) at slope 0, and its variance: U = Σ errors × (x − the episode's mean x), and
    Var U = Σ over episodes of e·(m − e)/(m·(m − 1)) · Σ(x − x̄)², the variance of U when each
    episode's e errors are shuffled among its m steps (statsmodels' ConditionalLogit gives the
    same numbers as its score and information at 0).

    Returns (U, Var U, rows that can move: error, centred x, episode) or None.
    """
    import numpy as np

    y = np.asarray(err, dtype=float)
    xs = np.asarray(x, dtype=float)
    ep = np.asarray(episode)
    if not len(y):
        return None
    order = np.argsort(ep, kind="stable")
    y, xs, ep = y[order], xs[order], ep[order]
    _, start, m = np.unique(ep, return_index=True, return_counts=True)
    e = np.add.reduceat(y, start)
    xc = xs - np.repeat(np.add.reduceat(xs, start) / m, m)
    # Episodes with all steps right (or all wrong) contribute the same U under every shuffle.
    moves = (e > 0) & (e < m)
    ss = np.add.reduceat(xc**2, start)
    var = float(np.sum(np.where(moves, e * (m - e) * ss / (m * np.maximum(m - 1, 1)), 0.0)))
    if var <= 1e-12:
        return None
    moving = np.repeat(moves, m)
    return float(y @ xc), var, (y[moving], xc[moving], ep[moving])


def _within_episode_p(err, x, episode, *, seed: int = 0) -> float | None:
    """Two-sided p-value for a trend of `err` along `x` inside episodes, by permutation.

    Under no drift the error indicators of one episode's steps are exchangeable, whatever the
    episode's own error rate: shuffling them within each episode gives the exact null
    distribution of the score U (`_within_episode_score`). Unlike a sandwich error it does not
    collapse when only one or two episodes hold errors. Monte Carlo with a fixed seed; beyond
    `MONTE_CARLO_BUDGET` (huge runs, many errors) U is taken as normal with its exact permutation
    variance. None when no episode can move.
    """
    import numpy as np
    from scipy.stats import norm

    score = _within_episode_score(err, x, episode)
    if score is None:
        return None
    u, var, (y, xc, ep) = score
    if len(y) * PERMUTATIONS > MONTE_CARLO_BUDGET:
        return float(2 * norm.sf(abs(u) / math.sqrt(var)))
    rank = np.unique(ep, return_inverse=True)[1].astype(float)
    rng = np.random.default_rng(seed)
    hits, done = 0, 0
    chunk = max(1, min(250, 4_000_000 // max(1, len(y))))
    while done < PERMUTATIONS:
        b = min(chunk, PERMUTATIONS - done)
        # random keys in [rank, rank + 1): sorting keeps every row inside its episode's block
        perm = np.argsort(rng.random((b, len(y))) + rank, axis=1)
        hits += int(np.sum(np.abs(y[perm] @ xc) >= abs(u) - 1e-9))
        done += b
        if hits >= STOP_AFTER_HITS:
            # Besag & Clifford's sequential p-value: valid, and far cheaper when p is large
            return hits / done
    return (1 + hits) / (1 + PERMUTATIONS)


@dataclass
class _Drift:
    slope: float | None = None
    ci: Interval | None = None
    p: float | None = None
    errors: int = 0
    note: str = ""


def _drift(err, x, episode, movable) -> _Drift:
    """Drift of one outcome along x, within episodes: the permutation test, and the slope.

    The slope is the one-step (score) estimate of the conditional logistic slope, U / Var U,
    with the interval U / Var U ± z / √Var U: the inversion of the same score test, so the
    interval excludes 0 when the (normal) test rejects and not otherwise. It is exact in the
    small slopes drift is about and shrinks large ones toward 0 (never an overstatement).
    Per-episode intercepts also take care of cells of different difficulty: nothing is compared
    across episodes.

    `movable` marks committed steps: the step that stopped an episode (an illegal answer, or a
    rejected one under verify) is an error *because* it is last, so it cannot be shuffled.
    """
    import numpy as np
    from scipy.stats import norm

    err, movable = np.asarray(err), np.asarray(movable, dtype=bool)
    errors, stops = int(err[movable].sum()), int(err[~movable].sum())
    if not len(err):
        return _Drift(note="no steps")
    if err.sum() == 0:
        return _Drift(note="no errors")
    if errors < MIN_DRIFT_ERRORS:
        more = f"; {stops} more ended their episode" if stops else ""
        return _Drift(errors=errors, note=f"too few errors ({errors}) for a drift test{more}")
    x, episode = np.asarray(x, dtype=float)[movable], np.asarray(episode)[movable]
    score = _within_episode_score(err[movable], x, episode)
    if score is None:
        return _Drift(errors=errors, note="no spread within episodes to test")
    u, var, _ = score
    slope, half = u / var, norm.ppf(0.5 + LEVEL / 2) / math.sqrt(var)
    p = _within_episode_p(err[movable], x, episode)
    return _Drift(slope=slope, ci=(slope - half, slope + half), p=p, errors=errors)


def _km_band(s, se) -> tuple[list[float], list[float]]:
    """Pointwise 95% band for S(t): Clopper-Pearson on the effective sample size
    S(1 − S) / se², se being Greenwood's (statsmodels). Inside [0, 1] by construction and, unlike
    the log(-log) band, not too short with ten episodes and S near 1 (tools/calibrate.py)."""
    import numpy as np
    from statsmodels.stats.proportion import proportion_confint

    s, se = np.asarray(s, dtype=float), np.asarray(se, dtype=float)
    lo, hi = s.copy(), s.copy()
    inner = (s > 0) & (s < 1) & (se > 0)
    if inner.any():
        n_eff = s[inner] * (1 - s[inner]) / se[inner] ** 2
        lo[inner], hi[inner] = proportion_confint(s[inner] * n_eff, n_eff, alpha=1 - LEVEL, method="beta")
    return [float(v) for v in lo], [float(v) for v in hi]


def _first_error(r: EpisodeRecord) -> tuple[int, bool]:
    """(T, event): T the 1-based position of the first wrong step (event), or the number of
    steps the episode was seen to survive (censored) — an unreadable reply censors: format is
    not an error of the task."""
    if not r.steps:
        if r.first_error_step is not None:
            return r.first_error_step + 1, True
        return len(r.step_ok), False
    for i, s in enumerate(r.steps):
        if not s.ok:
            return (i, False) if s.code == "format" else (i + 1, True)
    return len(r.steps), False


def _survival(recs: Sequence[EpisodeRecord]):
    """(curve, h50, h50_ci, h90, h90_ci) from Kaplan-Meier (statsmodels).

    The curve has a point at step 1 and at every observed time (first errors and censorings),
    so its pointwise band is right between events too. Where S is still 1 (no error yet)
    Greenwood's error is 0 and a band would collapse to the point; there the episodes seen to
    survive past t are a binomial sample with no failure, and the band's low end is
    Clopper-Pearson's on them.
    """
    import numpy as np
    from statsmodels.duration.survfunc import SurvfuncRight

    te = [_first_error(r) for r in recs]
    times = np.array([t for t, _ in te])
    events = np.array([int(e) for _, e in te])
    keep = times > 0  # an episode that recorded no step says nothing about survival
    times, events = times[keep], events[keep]
    grid = np.unique(np.concatenate([[0, 1], times])) if len(times) else np.array([0])
    if len(times) == 0 or events.sum() == 0:
        s, se = np.ones(len(grid)), np.zeros(len(grid))
    else:
        sf = SurvfuncRight(times, events)
        # KM and Greenwood's error as step functions on the grid of observed times
        at = np.searchsorted(np.asarray(sf.surv_times), grid, side="right") - 1
        s = np.where(at >= 0, np.asarray(sf.surv_prob, dtype=float)[np.maximum(at, 0)], 1.0)
        se = np.where(at >= 0, np.asarray(sf.surv_prob_se, dtype=float)[np.maximum(at, 0)], 0.0)
    lo, hi = _km_band(s, se)
    for i in range(1, len(grid)):
        if s[i] == 1.0:
            # the value holds until the next grid point; the fewest episodes seen that far
            n = int((times >= grid[min(i + 1, len(grid) - 1)]).sum())
            lo[i] = _exact(n, n)[0] if n else 0.0
    if events.sum() == 0:
        curve = SurvivalCurve(t=[int(t) for t in grid], s=[1.0] * len(grid), lo=lo, hi=hi)
        return curve, None, None, None, None
    curve = SurvivalCurve(t=[int(t) for t in grid], s=[float(v) for v in s], lo=lo, hi=hi)

    def horizon(q: float):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            h = _finite(sf.quantile(q))
            try:
                a, b = sf.quantile_ci(q, alpha=1 - LEVEL)
                ci = (_finite(a), _finite(b))
            except Exception:
                ci = (None, None)
        return (int(h) if h is not None else None), ci

    h50, h50_ci = horizon(0.5)
    h90, h90_ci = horizon(0.1)  # S falls to 0.9 where the CDF of T reaches 0.1
    return curve, h50, h50_ci, h90, h90_ci


def _hazard(recs: Sequence[EpisodeRecord], bins: int = 16) -> list[Bin]:
    """Discrete hazard pooled over equal-width bins of the step position."""
    import numpy as np

    te = [_first_error(r) for r in recs]
    longest = max((t for t, _ in te), default=0)
    if longest == 0:
        return []
    at_risk = np.zeros(longest)
    events = np.zeros(longest)
    for t, event in te:
        at_risk[:t] += 1
        if event:
            events[t - 1] += 1
    edges = np.unique(np.linspace(0, longest, min(bins, longest) + 1).round().astype(int))
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        n, e = int(at_risk[a:b].sum()), int(events[a:b].sum())
        if n:
            out.append(Bin(x_lo=float(a + 1), x_hi=float(b), n=n, events=e, rate=e / n, ci=_wilson(e, n)))
    return out


def _accuracy_by_tokens(tokens: Sequence[int], ok: Sequence[int], episode: Sequence[int], bins: int = 8) -> list[Bin]:
    """Step accuracy in quantile bins of prompt tokens; each bin's interval is clustered by
    episode like the overall accuracy (a long episode fills a bin with correlated steps)."""
    import numpy as np

    t, y, g = np.asarray(tokens, dtype=float), np.asarray(ok, dtype=float), np.asarray(episode)
    if len(t) == 0:
        return []
    edges = np.unique(np.quantile(t, np.linspace(0, 1, bins + 1)))
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)
    out = []
    for i in range(len(edges) - 1):
        m = idx == i
        n = int(m.sum())
        if n:
            k = int(y[m].sum())
            _, ci = _clustered_accuracy(y[m], g[m])
            out.append(Bin(x_lo=float(edges[i]), x_hi=float(edges[i + 1]), n=n, events=k, rate=k / n, ci=ci))
    return out


# --- the projection --------------------------------------------------------------------------------


def _log_vote_accuracy(p: float, k: int) -> float:
    """log p_k, MAKER's per-step success of first-to-ahead-by-k voting on independent samples of
    accuracy p: p_k = 1 / (1 + ((1 − p)/p)^k) = expit(k · logit p), in logs so that a p near 0
    (the low end of an interval from few steps) cannot overflow."""
    if p <= 0:
        return -math.inf
    if p >= 1:
        return 0.0
    z = k * (math.log(p) - math.log1p(-p))
    return -math.log1p(math.exp(-z)) if z > 0 else z - math.log1p(math.exp(z))


def _vote_accuracy(p: float, k: int) -> float:
    return math.exp(_log_vote_accuracy(p, k))


def _steps_at_99(p: float, k: int = 1) -> float | None:
    """Steps s with p_k^s = 0.99 (None: unbounded, p_k = 1)."""
    log_pk = _log_vote_accuracy(p, k)
    if log_pk == 0:
        return None
    return math.log(TARGET) / log_pk


def _k_min(p: float, steps: int, target: float = TARGET) -> int | None:
    """The smallest k with p_k^steps >= target; None when no k reaches it (p <= 1/2).

    p_k^s >= t  ⇔  log1p(r^k) <= −ln(t)/s  ⇔  r^k <= expm1(−ln(t)/s), with r = (1 − p)/p < 1.
    """
    if steps <= 0 or p >= 1:
        return 1
    if p <= 0.5:
        return None
    r = (1 - p) / p
    c = math.expm1(-math.log(target) / steps)
    k = max(1, math.ceil(math.log(c) / math.log(r) - 1e-9))
    while k > 1 and _vote_accuracy(p, k - 1) ** steps >= target:  # guard the rounding
        k -= 1
    while _vote_accuracy(p, k) ** steps < target:
        k += 1
    return k


def _projection(p: float | None, ci: Interval | None, steps: int, source: str) -> Projection | None:
    if p is None or ci is None:
        return None
    keys = {"single": 1, "vote_k3": 3, "vote_k5": 5}
    lo, hi = ci
    return Projection(
        p=p,
        p_ci=ci,
        source=source,
        steps_at_99={name: _steps_at_99(p, k) for name, k in keys.items()},
        # fewer steps are reachable at the low end of p: that end is the cautious bound
        steps_at_99_lo={name: _steps_at_99(lo, k) for name, k in keys.items()},
        steps_at_99_hi={name: _steps_at_99(hi, k) for name, k in keys.items()},
        steps=steps,
        k_min=_k_min(p, steps),
        k_min_hi=_k_min(lo, steps),
    )


# --- one step's outcomes ---------------------------------------------------------------------------


def _same_answer(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _single_call_ok(s: StepRecord) -> bool | None:
    """Whether the step's first readable reply, on its own, was right; None when unknown.

    Without a vote that is the first attempt's verdict (format re-asks happen inside an
    attempt). Under a vote the verdict is on the voted answer, so the first sample is read from
    the transcript: right when it equals an answer the checker accepted. A first sample that
    differs from a rejected vote winner cannot be judged and counts as wrong (cautious; rare).
    """
    if not s.attempts:  # a store written before transcripts: a vote shows in its samples
        if s.code == "format" or s.votes is not None or s.samples > 1 + s.format_retries:
            return None
        return s.first_ok
    first = s.attempts[0]
    if first.votes is None:
        if first.verdict is None or first.verdict.code == "format":
            return None
        return first.verdict.ok
    reply = next((r for r in first.replies if r.problem is None), None)
    if reply is None:
        return None
    return bool(s.ok and _same_answer(reply.answer, s.answer))


def _is_vote(recs: Sequence[EpisodeRecord]) -> bool:
    return any(s.votes is not None for r in recs for s in r.steps[:1])


@dataclass
class _Steps:
    """The steps of a group as parallel numpy columns (built by `_steps`)."""

    episode: Any
    index: Any
    tokens: Any
    ok: Any
    first: Any
    single: Any  # 1 / 0, −1 unknown
    readable: Any
    committed: Any


def _steps(recs: Sequence[EpisodeRecord]) -> _Steps:
    import numpy as np

    cols: dict[str, list] = {f.name: [] for f in fields(_Steps)}
    for g, r in enumerate(recs):
        for s in r.steps:
            single = _single_call_ok(s)
            cols["episode"].append(g)
            cols["index"].append(s.index)
            cols["tokens"].append(s.prompt_tokens)
            cols["ok"].append(int(s.ok))
            cols["first"].append(int(s.first_ok))
            cols["single"].append(-1 if single is None else int(single))
            cols["readable"].append(s.code != "format")
            cols["committed"].append(bool(s.committed))
    kinds = {"readable": bool, "committed": bool, "tokens": float}
    return _Steps(**{k: np.asarray(v, dtype=kinds.get(k, int)) for k, v in cols.items()})


def _per(total: float, n: int) -> float | None:
    return total / n if n else None


# --- groups ---------------------------------------------------------------------------------------


def summarize(recs: Sequence[EpisodeRecord], *, curves: bool = True, **group: Any) -> GroupMetrics:
    """All metrics of one group of episodes: a cell, or a condition pooled over cells.

    Survival, horizons, hazard, accuracy by tokens and the projection need one task (one
    scenario × params × model): pooled over several they are left empty. Drift is measured
    within episodes, so it stays meaningful pooled.
    """
    n = len(recs)
    solved = sum(r.success for r in recs)
    statuses = dict(Counter(r.status for r in recs))
    cells = len({_cell(r) for r in recs})
    st = _steps(recs)
    steps = len(st.ok)
    rd = st.readable
    acc = acc_ci = ft = ft_ci = None
    if rd.any():
        acc, acc_ci = _clustered_accuracy(st.ok[rd], st.episode[rd])
        ft, ft_ci = _clustered_accuracy(st.first[rd], st.episode[rd])
    err, first_err = 1 - st.ok[rd], 1 - st.first[rd]
    movable, episode = st.committed[rd], st.episode[rd]
    by_step = _drift(err, st.index[rd], episode, movable)
    # Prompt tokens within episodes too: under a tape they hardly vary inside an episode, so
    # there is (rightly) nothing to test; under stepwise they grow with the transcript.
    by_tok = _drift(err, st.tokens[rd] / 1000, episode, movable)
    # Under verify the committed answer is right by construction; the first try shows the model.
    same = bool((first_err == err).all())
    by_first = by_step if same else _drift(first_err, st.index[rd], episode, movable)
    one_task = cells == 1
    curve = h50 = h50_ci = h90 = h90_ci = None
    projection = None
    if curves and one_task:
        curve, h50, h50_ci, h90, h90_ci = _survival(recs)
        projection = _single_call_projection(recs, st)
    calls = sum(r.calls for r in recs)
    tokens = sum(r.tokens_in + r.tokens_out for r in recs)
    costs = [r.cost for r in recs if r.cost is not None]
    cost = sum(costs) if costs else None
    fmt = statuses.get("format", 0)
    return GroupMetrics(
        **group,
        cells=cells,
        simulated=any(r.simulated for r in recs),
        episodes=n,
        solved=solved,
        statuses=statuses,
        success_rate=solved / n if n else 0.0,
        success_ci=_wilson(solved, n) if n else (0.0, 1.0),
        steps=steps,
        format_steps=int(steps - rd.sum()) if steps else 0,
        format_failures=fmt,
        format_rate=fmt / n if n else 0.0,
        format_rate_ci=_wilson(fmt, n) if n else None,
        format_retries_per_step=_per(sum(r.format_retries for r in recs), steps),
        step_accuracy=acc,
        step_accuracy_ci=acc_ci,
        first_try_accuracy=ft,
        first_try_accuracy_ci=ft_ci,
        drift_slope=by_step.slope,
        drift_slope_ci=by_step.ci,
        drift_p=by_step.p,
        drift_errors=by_step.errors,
        drift_note=by_step.note,
        drift_slope_tokens=by_tok.slope,
        drift_slope_tokens_ci=by_tok.ci,
        drift_tokens_p=by_tok.p,
        drift_tokens_note=by_tok.note,
        first_try_drift_slope=by_first.slope,
        first_try_drift_slope_ci=by_first.ci,
        first_try_drift_p=by_first.p,
        first_try_drift_note=by_first.note,
        h50=h50,
        h50_ci=h50_ci,
        h90=h90,
        h90_ci=h90_ci,
        max_steps=max((r.steps_total for r in recs), default=0),
        calls_per_step=_per(calls, steps),
        tokens_per_step=_per(tokens, steps),
        cost_per_step=_per(cost, steps) if cost is not None else None,
        calls_per_solved=_per(calls, solved),
        tokens_per_solved=_per(tokens, solved),
        cost_per_solved=_per(cost, solved) if cost is not None else None,
        projection=projection,
        survival=curve,
        hazard=_hazard(recs) if curves and one_task else [],
        accuracy_by_tokens=_accuracy_by_tokens(st.tokens[rd], st.ok[rd], st.episode[rd]) if curves and one_task else [],
        checker=checker_score(recs),
    )


def _rate_of(events: list[int], groups: list[int]) -> tuple[float | None, Interval | None]:
    """`_clustered_accuracy` of 0/1 events, or (None, None) when there are none."""
    return _clustered_accuracy(events, groups) if events else (None, None)


def checker_score(recs: Sequence[EpisodeRecord]) -> CheckerScore | None:
    """The group's checker scored against the simulator (None when the simulator itself judged).

    From each episode's `CheckTally`, so it holds with transcripts off too. A group that mixes
    checkers (never a condition: the checker is part of its name) is scored as one, named by all.
    """
    tallies = [(i, r.checks) for i, r in enumerate(recs) if r.checks is not None]
    if not tallies:
        return None
    fa_events: list[int] = []  # per wrong answer judged: 1 when accepted
    fa_groups: list[int] = []
    fr_events: list[int] = []  # per right answer judged: 1 when rejected
    fr_groups: list[int] = []
    prog_events: list[int] = []
    prog_groups: list[int] = []
    for i, t in tallies:
        fa_events += [1] * t.accepted_wrong + [0] * t.rejected_wrong
        fa_groups += [i] * (t.accepted_wrong + t.rejected_wrong)
        fr_events += [1] * t.rejected_right + [0] * t.accepted_right
        fr_groups += [i] * (t.rejected_right + t.accepted_right)
        prog_events += [1] * t.program_ok + [0] * (t.program_runs - t.program_ok)
        prog_groups += [i] * t.program_runs
    fa, fa_ci = _rate_of(fa_events, fa_groups)
    fr, fr_ci = _rate_of(fr_events, fr_groups)
    pa, pa_ci = _rate_of(prog_events, prog_groups)
    judged = len(fa_events) + len(fr_events)
    calls = sum(t.calls for _, t in tallies)
    return CheckerScore(
        checker="/".join(sorted({t.checker for _, t in tallies})),
        episodes=len(tallies),
        judged=judged,
        wrong=len(fa_events),
        right=len(fr_events),
        false_accepts=sum(fa_events),
        false_rejects=sum(fr_events),
        false_accept_rate=fa,
        false_accept_ci=fa_ci,
        false_reject_rate=fr,
        false_reject_ci=fr_ci,
        unjudged=sum(t.unjudged for _, t in tallies),
        overruled=sum(t.overruled for _, t in tallies),
        program_runs=len(prog_events),
        program_ok=sum(prog_events),
        program_accuracy=pa,
        program_accuracy_ci=pa_ci,
        calls=calls,
        calls_per_judgement=_per(calls, judged),
    )


def _single_call_projection(recs: Sequence[EpisodeRecord], st: _Steps) -> Projection | None:
    """The projection of one cell, from single calls — never from an already-voted accuracy."""
    known = st.single >= 0
    if not known.any():
        return None
    p, ci = _clustered_accuracy(st.single[known], st.episode[known])
    source = "first vote sample" if _is_vote(recs) else "first try"
    return _projection(p, ci, max(r.steps_total for r in recs), source)


def _group(recs: Sequence[EpisodeRecord], key: Callable[[EpisodeRecord], Any]) -> dict[Any, list[EpisodeRecord]]:
    out: dict[Any, list[EpisodeRecord]] = {}
    for r in recs:
        out.setdefault(key(r), []).append(r)
    return out


def _cell(r: EpisodeRecord) -> tuple[str, str, str]:
    """The grid cell of an episode, condition aside: (scenario, params as JSON, model label)."""
    return (r.scenario, json.dumps(r.params, sort_keys=True), model_label(r))


def _instance(r: EpisodeRecord) -> tuple:
    return (*_cell(r), r.seed)


def _baseline(conditions: Sequence[str], baseline: str | None) -> str:
    if baseline in conditions:
        return baseline
    return "stepwise" if "stepwise" in conditions else conditions[0]


# --- paired comparisons ---------------------------------------------------------------------------


def _tango_paired(table: Sequence[Sequence[int]]) -> Interval:
    """Tango's (1998) score interval for p1 − p2 of paired proportions.

    `table` = [[both, only 1], [only 2, neither]]: p1 = (both + only 1)/n, p2 = (both + only 2)/n.
    The interval is every δ whose score statistic
        Z(δ) = (b − c − nδ) / √(n (2 q̂ + δ(1 − δ))),   b = only 1, c = only 2,
    stays within ±1.96, q̂ being the restricted maximum-likelihood P(only 2) given δ; at δ = 0,
    Z is McNemar's statistic. Unlike a paired t interval it does not collapse when every pair
    goes the same way (12 wins in 12 pairs: [0.52, 1]), and it kept 95% coverage with ten pairs
    where Newcombe's hybrid interval fell to 92% (tools/calibrate.py, docs/metrics.md).
    """
    from scipy.optimize import brentq
    from scipy.stats import norm

    (_, b), (c, _) = table
    n = sum(map(sum, table))
    z = norm.ppf(0.5 + LEVEL / 2)
    est = (b - c) / n

    def score(delta: float) -> float:
        big_a, big_b, big_c = 2 * n, -b - c + (2 * n - b + c) * delta, -c * delta * (1 - delta)
        q = (math.sqrt(max(big_b * big_b - 4 * big_a * big_c, 0.0)) - big_b) / (2 * big_a)
        var = n * (2 * q + delta * (1 - delta))
        gap = b - c - n * delta
        return gap / math.sqrt(var) if var > 0 else math.copysign(math.inf, gap) if gap else 0.0

    eps = 1e-12
    lo = -1.0 if est <= -1 + eps or score(-1 + eps) <= z else brentq(lambda d: score(d) - z, -1 + eps, est)
    hi = 1.0 if est >= 1 - eps or score(1 - eps) >= -z else brentq(lambda d: score(d) + z, est, 1 - eps)
    return float(lo), float(hi)


def paired_comparisons(recs: Sequence[EpisodeRecord], baseline: str | None = None) -> list[PairedComparison]:
    """Every condition against `baseline` (default: stepwise, else the first) on shared instances."""
    import numpy as np
    from statsmodels.stats.contingency_tables import mcnemar

    by_cond = _group(recs, lambda r: r.condition)
    if not by_cond:
        return []
    base = _baseline(list(by_cond), baseline)
    base_by_inst = {_instance(r): r for r in by_cond[base]}
    out = []
    for cond, rs in by_cond.items():
        if cond == base:
            continue
        pairs = [(base_by_inst[_instance(r)], r) for r in rs if _instance(r) in base_by_inst]
        if not pairs:
            continue
        b = np.array([p[0].success for p in pairs], dtype=bool)
        c = np.array([p[1].success for p in pairs], dtype=bool)
        # rows: the condition solved / did not; columns: the baseline solved / did not
        table = [[int((c & b).sum()), int((c & ~b).sum())], [int((~c & b).sum()), int((~c & ~b).sum())]]
        discordant = table[0][1] + table[1][0]
        mc = float(mcnemar(table, exact=True).pvalue) if discordant else None
        sb = np.array([p[0].steps_correct / max(1, p[0].steps_total) for p in pairs])
        sc = np.array([p[1].steps_correct / max(1, p[1].steps_total) for p in pairs])
        out.append(
            PairedComparison(
                baseline=base,
                condition=cond,
                pairs=len(pairs),
                success_baseline=float(b.mean()),
                success_condition=float(c.mean()),
                success_diff=float(c.mean() - b.mean()),
                success_diff_ci=_tango_paired(table),
                mcnemar_p=mc,
                steps_share_diff=float((sc - sb).mean()),
                steps_share_diff_ci=_paired_ci(sc, sb),
                wilcoxon_p=_wilcoxon(sc, sb),
            )
        )
    return out


def _paired_ci(a, b) -> Interval | None:
    """Paired t interval of the difference of two shares, within the differences' possible range
    [-1, 1]; None when the differences have no spread (a zero-width interval would claim certainty
    the data do not give)."""
    from scipy import stats

    d = a - b
    if len(d) < 2 or float(d.max() - d.min()) < 1e-12:
        return None
    ci = stats.ttest_rel(a, b).confidence_interval(LEVEL)
    return max(-1.0, float(ci.low)), min(1.0, float(ci.high))


def _wilcoxon(a, b) -> float | None:
    from scipy import stats

    if not (a - b).any():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite(stats.wilcoxon(a, b).pvalue)


# --- does a condition change the drift? -------------------------------------------------------------


def _interaction(base: list[EpisodeRecord], other: list[EpisodeRecord], **ids: Any) -> InteractionTest:
    """Likelihood-ratio test of condition × position in logit P(error) = a + b·cond + c·pos + d·cond·pos.

    Readable steps only. Each condition needs `MIN_DRIFT_ERRORS` errors: a condition without
    errors has no slope (its intercept runs to −∞ whatever the slope), so there is no contrast.
    """
    import numpy as np
    import statsmodels.api as sm
    from scipy.stats import chi2

    res = InteractionTest(**ids)
    sb, so = _steps(base), _steps(other)
    rb, ro = sb.readable.astype(bool), so.readable.astype(bool)
    errs = (int((1 - sb.ok[rb]).sum()), int((1 - so.ok[ro]).sum()))
    if min(errs) < MIN_DRIFT_ERRORS:
        res.note = f"too few errors ({errs[0]} and {errs[1]}) for an interaction test"
        return res
    y = np.concatenate([1 - sb.ok[rb], 1 - so.ok[ro]]).astype(float)
    pos = np.concatenate([sb.index[rb], so.index[ro]]).astype(float)
    cond = np.concatenate([np.zeros(rb.sum()), np.ones(ro.sum())])
    if (y == 1).all() or np.ptp(pos) == 0:
        res.note = "no contrast to test"
        return res
    scale = max(1.0, float(pos.max()))  # positions on [0, 1] for the optimiser; slopes per step below
    x = pos / scale
    full_x = np.column_stack([np.ones_like(x), cond, x, cond * x])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = sm.Logit(y, full_x).fit(disp=0, maxiter=200)
            reduced = sm.Logit(y, full_x[:, :3]).fit(disp=0, maxiter=200)
    except Exception as exc:
        res.note = f"not estimable ({type(exc).__name__})"
        return res
    if not (full.mle_retvals.get("converged") and reduced.mle_retvals.get("converged")):
        res.note = "not estimable (did not converge)"
        return res
    lr = max(0.0, 2 * float(full.llf - reduced.llf))
    c, d = float(full.params[2]) / scale, float(full.params[3]) / scale
    res.slope_baseline, res.slope_condition, res.slope_diff = c, c + d, d
    res.lr, res.p = lr, float(chi2.sf(lr, 1))
    return res


def interaction_tests(recs: Sequence[EpisodeRecord], baseline: str | None = None) -> list[InteractionTest]:
    """Per scenario × params × model: each condition's drift against the baseline's."""
    out = []
    for (sc, params, model), rs in _group(recs, _cell).items():
        by_cond = _group(rs, lambda r: r.condition)
        if len(by_cond) < 2:
            continue
        base = _baseline(list(by_cond), baseline)
        for cond, other in by_cond.items():
            if cond != base:
                out.append(
                    _interaction(by_cond[base], other, scenario=sc, params=json.loads(params), model=model,
                                 baseline=base, condition=cond)
                )
    return out


# --- success against task length ---------------------------------------------------------------------


def _fit_error_rate(points: list[LengthPoint]) -> tuple[float, Interval] | None:
    """Per-step failure rate e with success = (1 − e)^steps, by maximum likelihood over the
    sizes (binomial at each), with a profile-likelihood interval (one parameter: χ²₁)."""
    import numpy as np
    from scipy.optimize import brentq, minimize_scalar
    from scipy.stats import chi2

    s = np.array([p.steps_total for p in points], dtype=float)
    k = np.array([round(p.success_rate * p.episodes) for p in points], dtype=float)
    n = np.array([p.episodes for p in points], dtype=float)
    if not len(s) or s.min() <= 0:
        return None

    def loglik(e: float) -> float:
        log_q = s * math.log1p(-e)  # log of the success probability at each size
        failed = n - k > 0
        if e <= 0:
            return -math.inf if failed.any() else 0.0
        fail = np.log(-np.expm1(log_q[failed]))
        return float(np.sum(k * log_q) + np.sum((n - k)[failed] * fail))

    eps = 1e-12
    if k.sum() == n.sum():
        e_hat = 0.0
    elif k.sum() == 0:
        e_hat = 1 - eps
    else:
        e_hat = float(minimize_scalar(lambda e: -loglik(e), bounds=(eps, 1 - eps), method="bounded",
                                      options={"xatol": 1e-12}).x)
    top = loglik(max(e_hat, eps)) if e_hat > 0 else loglik(0.0)
    cut = top - chi2.ppf(LEVEL, 1) / 2
    f = lambda e: loglik(e) - cut  # noqa: E731
    lo = 0.0 if e_hat <= eps or f(eps) >= 0 else brentq(f, eps, e_hat)
    hi = 1.0 if f(1 - eps) >= 0 else brentq(f, max(e_hat, eps), 1 - eps)
    return e_hat, (float(lo), float(hi))


def _h50_of(e: float) -> float | None:
    if e <= 0:
        return None
    if e >= 1:
        return 0.0
    return math.log(0.5) / math.log1p(-e)


def length_curves(cells: Sequence[GroupMetrics]) -> list[LengthCurve]:
    """Success against task length per scenario × model × condition, from the per-cell metrics."""
    out = []
    keyed = _group(cells, lambda g: (g.scenario, g.model, g.condition))  # type: ignore[arg-type]
    for (sc, model, cond), gs in keyed.items():
        points = sorted(
            (
                LengthPoint(params=g.params or {}, steps_total=g.max_steps, episodes=g.episodes,
                            success_rate=g.success_rate, success_ci=g.success_ci,
                            step_accuracy=g.step_accuracy, step_accuracy_ci=g.step_accuracy_ci)
                for g in gs
            ),
            key=lambda p: p.steps_total,
        )
        curve = LengthCurve(scenario=sc or "", model=model or "", condition=cond, points=points)
        fit = _fit_error_rate(points)
        if fit is not None:
            e, (lo, hi) = fit
            curve.error_rate, curve.error_rate_ci = e, (lo, hi)
            curve.h50, curve.h50_ci = _h50_of(e), (_h50_of(hi), _h50_of(lo))
        out.append(curve)
    return out


def compute_metrics(recs: Sequence[EpisodeRecord], *, curves: bool = True, baseline: str | None = None) -> Metrics:
    """Per condition (pooled over cells: an overview), per cell (scenario × params × model ×
    condition: every curve and horizon), success against length, paired comparisons and
    condition × position interactions."""
    by_condition = [summarize(rs, curves=curves, condition=c) for c, rs in _group(recs, lambda r: r.condition).items()]
    cells = _group(recs, lambda r: (*_cell(r), r.condition))
    by_cell = [
        summarize(rs, curves=curves, condition=cond, scenario=sc, params=json.loads(params), model=model)
        for (sc, params, model, cond), rs in cells.items()
    ]
    sim = sorted({model_label(r) for r in recs if r.simulated})
    return Metrics(
        episodes=len(recs),
        simulated=bool(sim),
        simulated_models=sim,
        by_condition=by_condition,
        by_cell=by_cell,
        paired=paired_comparisons(recs, baseline),
        interactions=interaction_tests(recs, baseline),
        length_curves=length_curves(by_cell),
        planner=planner_rates(recs),
        injection=injection_splits(recs),
    )


def planner_rates(recs: Sequence[EpisodeRecord]) -> list[PlannerRates]:
    """Per condition whose planner is the model: how often its proposals were wrong, and how often
    the worker erred on the steps a right plan chose — planner error measured apart from worker error."""
    out = []
    for cond, rs in _group(recs, lambda r: r.condition).items():
        proposals = sum(r.plans for r in rs)
        if not proposals and not any(r.planned_right for r in rs):
            continue
        errors = sum(r.plan_errors for r in rs)
        planned = sum(r.planned_right for r in rs)
        worker_wrong = planned - sum(r.planned_right_ok for r in rs)
        out.append(PlannerRates(
            condition=cond, proposals=proposals, plan_errors=errors,
            plan_error_rate=errors / proposals if proposals else None,
            plan_error_ci=_wilson(errors, proposals) if proposals else None,
            planned_steps=planned, worker_error_rate=worker_wrong / planned if planned else None,
            worker_error_ci=_wilson(worker_wrong, planned) if planned else None,
        ))
    return out


def injection_splits(recs: Sequence[EpisodeRecord]) -> list[InjectionSplit]:
    """Per condition with an injection: local step accuracy before and after its step (episodes as
    clusters in the intervals); the other conditions too, split at the same step, when every
    injected condition injects at one step."""
    groups = _group(recs, lambda r: r.condition)
    steps_of = {c: {r.inject_step for r in rs} - {None} for c, rs in groups.items()}
    at = set().union(*steps_of.values()) if steps_of else set()
    if not at:
        return []
    out = []
    for cond, rs in groups.items():
        injected = bool(steps_of[cond])
        if not injected and len(at) != 1:
            continue
        split = next(iter(steps_of[cond] or at))
        if len(steps_of[cond]) > 1:
            continue  # one condition, several injection steps: a label tells them apart
        before: list[int] = []
        after: list[int] = []
        g_before: list[int] = []
        g_after: list[int] = []
        for e, r in enumerate(rs):
            for i, ok in enumerate(r.step_ok):
                (before if i < split else after).append(int(ok))
                (g_before if i < split else g_after).append(e)
        acc_b = _rate_of(before, g_before)
        acc_a = _rate_of(after, g_after)
        out.append(InjectionSplit(
            condition=cond, inject_step=split, injected=injected,
            steps_before=len(before), accuracy_before=acc_b[0], accuracy_before_ci=acc_b[1],
            steps_after=len(after), accuracy_after=acc_a[0], accuracy_after_ci=acc_a[1],
        ))
    return out
