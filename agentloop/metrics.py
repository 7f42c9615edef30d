"""Goal-drift statistics from EpisodeRecords, each with a 95% interval.

Definitions (docs/metrics.md has the longer story):

- success rate: solved episodes / episodes, Wilson interval.
- step accuracy: locally correct steps / recorded steps. Steps of one episode are not
  independent (a drifting episode errs more late on), so the Wilson interval uses an effective
  sample size shrunk by the design effect of a cluster-robust variance (clusters = episodes).
- first-try accuracy: the same for the first attempt of each step, before any feedback; under
  `verify` the after-feedback accuracy says little about the model on its own.
- drift slope: logistic regression of step error on step index (log-odds per step), with a
  fixed effect per grid cell (scenario × params × model) and cluster-robust standard errors by
  episode; also on prompt tokens (log-odds per 1,000, pooled across cells).
  Drift is detected when the interval excludes 0. No errors at all: not estimable (None).
- survival S(t): Kaplan-Meier of T = the 1-based position of the first wrong step (episodes
  without one are censored at their last recorded step); H50 / H90: the smallest t with
  S(t) < 0.5 / 0.9 (strictly: statsmodels' and SAS's convention), None when S never falls
  that far within the data.
- hazard h(t) = P(step t wrong | all steps before t right), pooled in bins of steps.
- cost: calls, tokens and dollars per recorded step, and per solved episode (everything spent,
  failures included, divided by the episodes solved).
- projection (MAKER): from first-try accuracy p, steps reachable at 99% success without
  correction, ln 0.99 / ln p, and with first-to-ahead-by-k voting, p_k = 1/(1+((1-p)/p)^k).
- paired comparisons: each condition against a baseline on the same instances (scenario,
  params, model, seed): McNemar's exact test on success, and the paired difference in the share
  of leading correct steps with a t interval and Wilcoxon's signed-rank test.

numpy, scipy and statsmodels are imported inside the functions: `import agentloop` stays cheap.
"""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from agentloop.types import EpisodeRecord

__all__ = ["GroupMetrics", "Metrics", "PairedComparison", "compute_metrics", "model_label", "summarize"]

Interval = tuple[float, float]
LEVEL = 0.95


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
    p: float
    p_ci: Interval
    steps_at_99: dict[str, float | None]  # "single", "vote_k3", "vote_k5" → steps (None: unbounded)
    steps_at_99_lo: dict[str, float | None]  # from the lower end of p's interval


class GroupMetrics(BaseModel):
    condition: str
    scenario: str | None = None
    params: dict[str, Any] | None = None
    model: str | None = None
    simulated: bool
    episodes: int
    solved: int
    statuses: dict[str, int]
    success_rate: float
    success_ci: Interval
    steps: int
    step_accuracy: float | None
    step_accuracy_ci: Interval | None
    first_try_accuracy: float | None
    first_try_accuracy_ci: Interval | None
    drift_slope: float | None
    drift_slope_ci: Interval | None
    drift_p: float | None
    drift_slope_tokens: float | None
    drift_slope_tokens_ci: Interval | None
    drift_note: str = ""
    first_try_drift_slope: float | None = None
    first_try_drift_slope_ci: Interval | None = None
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


class PairedComparison(BaseModel):
    baseline: str
    condition: str
    pairs: int
    success_baseline: float
    success_condition: float
    success_diff: float
    success_diff_ci: Interval | None
    mcnemar_p: float | None
    steps_share_diff: float
    steps_share_diff_ci: Interval | None
    wilcoxon_p: float | None


class Metrics(BaseModel):
    episodes: int
    simulated: bool
    simulated_models: list[str]
    by_condition: list[GroupMetrics]
    by_cell: list[GroupMetrics]
    paired: list[PairedComparison]


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


def _clustered_accuracy(ok: Sequence[int], groups: Sequence[int]) -> tuple[float, Interval]:
    """Mean of 0/1 outcomes and a Wilson interval on the design-effect-adjusted sample size."""
    import numpy as np
    import statsmodels.api as sm

    y = np.asarray(ok, dtype=float)
    n, p = len(y), float(y.mean())
    if p in (0.0, 1.0) or len(set(groups)) < 2:
        return p, _wilson(p * n, n)
    fit = sm.OLS(y, np.ones(n)).fit(cov_type="cluster", cov_kwds={"groups": np.asarray(groups)})
    deff = max(1.0, float(fit.bse[0]) ** 2 / (p * (1 - p) / n))
    n_eff = n / deff
    return p, _wilson(p * n_eff, n_eff)


def _logit_slope(
    err: Sequence[int], x: Sequence[float], groups: Sequence[int], strata: Sequence[int] | None = None
) -> tuple[float, Interval, float] | str:
    """Slope of logit P(error) on x, cluster-robust by episode; a reason string when not estimable.

    `strata` (one label per row: the grid cell) adds a fixed effect per cell, so the slope is
    measured *within* cells. Without it, pooling cells of different lengths and base error
    rates can fake a trend (long tasks that are also easier give a negative slope). Cells
    without both outcomes say nothing about the slope and are left out.
    """
    import numpy as np
    import statsmodels.api as sm

    y = np.asarray(err, dtype=float)
    xs = np.asarray(x, dtype=float)
    g = np.asarray(groups)
    if y.sum() == 0:
        return "no errors"
    if y.sum() == len(y):
        return "no correct steps"
    columns = [np.ones(len(y))]
    if strata is not None and len(set(strata)) > 1:
        st = np.asarray(strata)
        informative = [c for c in np.unique(st) if 0 < y[st == c].sum() < (st == c).sum()]
        if not informative:
            return "no cell with both right and wrong steps"
        keep = np.isin(st, informative)
        y, xs, g, st = y[keep], xs[keep], g[keep], st[keep]
        columns = [np.ones(len(y))] + [(st == c).astype(float) for c in informative[1:]]
    if np.ptp(xs) == 0:
        return "no spread in x"
    X = np.column_stack([*columns, xs])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kw = {}
            if len(set(g.tolist())) > 1:
                # t intervals on (clusters - 1) degrees of freedom: with few episodes the normal
                # interval of a cluster-robust error is too narrow
                kw = {"cov_type": "cluster", "cov_kwds": {"groups": g}, "use_t": True}
            fit = sm.Logit(y, X).fit(disp=0, maxiter=200, **kw)
    except Exception as exc:  # statsmodels raises several kinds on separation/singularity
        return f"not estimable ({type(exc).__name__})"
    if not fit.mle_retvals.get("converged", False):
        return "not estimable (did not converge)"
    j = X.shape[1] - 1
    lo, hi = fit.conf_int(alpha=1 - LEVEL)[j]
    slope, lo, hi, pval = float(fit.params[j]), float(lo), float(hi), float(fit.pvalues[j])
    if not all(map(math.isfinite, (slope, lo, hi))):
        return "not estimable"
    return slope, (lo, hi), pval


def _loglog_band(s, se) -> tuple[list[float], list[float]]:
    """Pointwise 95% band for S(t) on the log(-log) scale, from statsmodels' Greenwood errors.

    The log(-log) transform keeps the band inside [0, 1] (the plain normal band does not); where
    S is 0 or 1 the band collapses to the point.
    """
    import numpy as np
    from scipy.stats import norm

    z = norm.ppf(0.5 + LEVEL / 2)
    lo, hi = s.copy(), s.copy()
    inner = (s > 0) & (s < 1) & (se > 0)
    ls = np.log(s[inner])
    w = z * se[inner] / (s[inner] * np.abs(ls))
    lo[inner] = s[inner] ** np.exp(w)
    hi[inner] = s[inner] ** np.exp(-w)
    return [float(v) for v in lo], [float(v) for v in hi]


def _survival(recs: Sequence[EpisodeRecord]):
    """(curve, h50, h50_ci, h90, h90_ci) from Kaplan-Meier."""
    import numpy as np
    from statsmodels.duration.survfunc import SurvfuncRight

    times = np.array([(r.first_error_step + 1) if r.first_error_step is not None else len(r.step_ok) for r in recs])
    events = np.array([int(r.first_error_step is not None) for r in recs])
    keep = times > 0  # an episode that recorded no step says nothing about survival
    times, events = times[keep], events[keep]
    if len(times) == 0 or events.sum() == 0:
        end = int(times.max()) if len(times) else 0
        return SurvivalCurve(t=[0, end], s=[1.0, 1.0], lo=[1.0, 1.0], hi=[1.0, 1.0]), None, None, None, None
    sf = SurvfuncRight(times, events)
    s = np.asarray(sf.surv_prob, dtype=float)
    lo, hi = _loglog_band(s, np.asarray(sf.surv_prob_se, dtype=float))
    curve = SurvivalCurve(t=[0, *map(int, sf.surv_times)], s=[1.0, *map(float, s)], lo=[1.0, *lo], hi=[1.0, *hi])

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

    longest = max((len(r.step_ok) for r in recs), default=0)
    if longest == 0:
        return []
    at_risk = np.zeros(longest)
    events = np.zeros(longest)
    for r in recs:
        stop = len(r.step_ok) if r.first_error_step is None else r.first_error_step + 1
        at_risk[:stop] += 1
        if r.first_error_step is not None:
            events[r.first_error_step] += 1
    edges = np.unique(np.linspace(0, longest, min(bins, longest) + 1).round().astype(int))
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        n, e = int(at_risk[a:b].sum()), int(events[a:b].sum())
        if n:
            out.append(Bin(x_lo=float(a + 1), x_hi=float(b), n=n, events=e, rate=e / n, ci=_wilson(e, n)))
    return out


def _accuracy_by_tokens(tokens: Sequence[int], ok: Sequence[int], bins: int = 8) -> list[Bin]:
    import numpy as np

    t, y = np.asarray(tokens, dtype=float), np.asarray(ok, dtype=float)
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
            out.append(Bin(x_lo=float(edges[i]), x_hi=float(edges[i + 1]), n=n, events=k, rate=k / n, ci=_wilson(k, n)))
    return out


def _steps_at_99(p: float, k: int = 1) -> float | None:
    if p <= 0:
        return 0.0
    if p >= 1:
        return None
    pk = 1.0 / (1.0 + ((1 - p) / p) ** k)
    if pk >= 1:
        return None
    return math.log(0.99) / math.log(pk)


def _projection(p: float | None, ci: Interval | None) -> Projection | None:
    if p is None or ci is None:
        return None
    keys = {"single": 1, "vote_k3": 3, "vote_k5": 5}
    return Projection(
        p=p,
        p_ci=ci,
        steps_at_99={name: _steps_at_99(p, k) for name, k in keys.items()},
        steps_at_99_lo={name: _steps_at_99(ci[0], k) for name, k in keys.items()},
    )


def _per(total: float, n: int) -> float | None:
    return total / n if n else None


# --- groups ---------------------------------------------------------------------------------------


def summarize(recs: Sequence[EpisodeRecord], *, curves: bool = True, **group: Any) -> GroupMetrics:
    """All metrics of one group of episodes (normally one condition)."""
    n = len(recs)
    solved = sum(r.success for r in recs)
    statuses = dict(Counter(r.status for r in recs))
    ok, first, idx, toks, groups, cells = [], [], [], [], [], []
    cell_ids: dict[tuple, int] = {}
    for g, r in enumerate(recs):
        cell = cell_ids.setdefault(_cell(r), len(cell_ids))
        for s in r.steps:
            cells.append(cell)
            ok.append(int(s.ok))
            first.append(int(s.first_ok))
            idx.append(s.index)
            toks.append(s.prompt_tokens)
            groups.append(g)
    steps = len(ok)
    acc = acc_ci = ft = ft_ci = None
    if steps:
        acc, acc_ci = _clustered_accuracy(ok, groups)
        ft, ft_ci = _clustered_accuracy(first, groups)
    err = [1 - v for v in ok]
    by_step = _logit_slope(err, idx, groups, cells) if steps else "no steps"
    # Prompt tokens stay pooled: under a tape they are constant within a cell, and differ only
    # between cells, which is exactly the contrast this slope is for.
    by_tok = _logit_slope(err, [t / 1000 for t in toks], groups) if steps else "no steps"
    # Under verify the committed answer is right by construction; the first try shows the model.
    by_first = _logit_slope([1 - v for v in first], idx, groups, cells) if steps and first != ok else by_step
    if curves:
        curve, h50, h50_ci, h90, h90_ci = _survival(recs)
    else:
        curve, h50, h50_ci, h90, h90_ci = None, None, None, None, None
    calls = sum(r.calls for r in recs)
    tokens = sum(r.tokens_in + r.tokens_out for r in recs)
    costs = [r.cost for r in recs if r.cost is not None]
    cost = sum(costs) if costs else None
    return GroupMetrics(
        **group,
        simulated=any(r.simulated for r in recs),
        episodes=n,
        solved=solved,
        statuses=statuses,
        success_rate=solved / n if n else 0.0,
        success_ci=_wilson(solved, n) if n else (0.0, 1.0),
        steps=steps,
        step_accuracy=acc,
        step_accuracy_ci=acc_ci,
        first_try_accuracy=ft,
        first_try_accuracy_ci=ft_ci,
        drift_slope=None if isinstance(by_step, str) else by_step[0],
        drift_slope_ci=None if isinstance(by_step, str) else by_step[1],
        drift_p=None if isinstance(by_step, str) else by_step[2],
        drift_slope_tokens=None if isinstance(by_tok, str) else by_tok[0],
        drift_slope_tokens_ci=None if isinstance(by_tok, str) else by_tok[1],
        drift_note=by_step if isinstance(by_step, str) else "",
        first_try_drift_slope=None if isinstance(by_first, str) else by_first[0],
        first_try_drift_slope_ci=None if isinstance(by_first, str) else by_first[1],
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
        projection=_projection(ft, ft_ci),
        survival=curve,
        hazard=_hazard(recs) if curves else [],
        accuracy_by_tokens=_accuracy_by_tokens(toks, ok) if curves else [],
    )


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


def paired_comparisons(recs: Sequence[EpisodeRecord], baseline: str | None = None) -> list[PairedComparison]:
    """Every condition against `baseline` (default: stepwise, else the first) on shared instances."""
    import numpy as np
    from statsmodels.stats.contingency_tables import mcnemar

    by_cond = _group(recs, lambda r: r.condition)
    if not by_cond:
        return []
    base = baseline if baseline in by_cond else ("stepwise" if "stepwise" in by_cond else next(iter(by_cond)))
    base_by_inst = {_instance(r): r for r in by_cond[base]}
    out = []
    for cond, rs in by_cond.items():
        if cond == base:
            continue
        pairs = [(base_by_inst[_instance(r)], r) for r in rs if _instance(r) in base_by_inst]
        if not pairs:
            continue
        b = np.array([p[0].success for p in pairs], dtype=float)
        c = np.array([p[1].success for p in pairs], dtype=float)
        table = [
            [int(((b == 1) & (c == 1)).sum()), int(((b == 1) & (c == 0)).sum())],
            [int(((b == 0) & (c == 1)).sum()), int(((b == 0) & (c == 0)).sum())],
        ]
        discordant = table[0][1] + table[1][0]
        mc = float(mcnemar(table, exact=discordant < 25).pvalue) if discordant else None
        sb = np.array([p[0].steps_correct / max(1, p[0].steps_total) for p in pairs])
        sc = np.array([p[1].steps_correct / max(1, p[1].steps_total) for p in pairs])
        out.append(
            PairedComparison(
                baseline=base,
                condition=cond,
                pairs=len(pairs),
                success_baseline=float(b.mean()),
                success_condition=float(c.mean()),
                success_diff=float((c - b).mean()),
                success_diff_ci=_paired_ci(c, b),
                mcnemar_p=mc,
                steps_share_diff=float((sc - sb).mean()),
                steps_share_diff_ci=_paired_ci(sc, sb),
                wilcoxon_p=_wilcoxon(sc, sb),
            )
        )
    return out


def _paired_ci(a, b) -> Interval | None:
    from scipy import stats

    d = a - b
    if len(d) < 2:
        return None
    if float(d.max() - d.min()) < 1e-12:  # every pair differs by the same amount: no spread to test
        return float(d.mean()), float(d.mean())
    ci = stats.ttest_rel(a, b).confidence_interval(LEVEL)
    return float(ci.low), float(ci.high)


def _wilcoxon(a, b) -> float | None:
    from scipy import stats

    if not (a - b).any():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite(stats.wilcoxon(a, b).pvalue)


def compute_metrics(recs: Sequence[EpisodeRecord], *, curves: bool = True, baseline: str | None = None) -> Metrics:
    """Per condition, per cell (scenario × params × model × condition), and paired comparisons."""
    by_condition = [summarize(rs, curves=curves, condition=c) for c, rs in _group(recs, lambda r: r.condition).items()]
    cells = _group(recs, lambda r: (*_cell(r), r.condition))
    by_cell = [
        summarize(rs, curves=False, condition=cond, scenario=sc, params=json.loads(params), model=model)
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
    )
