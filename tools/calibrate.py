"""Calibration of agentloop's statistics on simulated experiments whose truth is known.

    .venv/bin/python tools/calibrate.py [--reps 200] [--errors 0.005,0.05,0.2] [--designs grid,small,clustered]
    .venv/bin/python tools/calibrate.py --check-loop 200   # the simulator below against run_episode

Each experiment is two conditions run on the same seeds: `stepwise` with per-step error e and
`tape` with e/2 (a support that helps), no drift. Draws are shared between the two conditions
on one seed, as `scripted/noisy` shares them (its randomness is keyed by the instance). A reply
is unreadable with probability `format`; like the loop, an unreadable reply is re-asked twice
and a step still unreadable stops the episode (status `format`); a wrong answer is committed
and the episode goes on (eca). Records are built directly, in the shape `run_episode` gives
for `eca` on `scripted/noisy`, about 20 times faster; `--check-loop` compares the two.

Designs:
  grid       40 episodes × 32 steps, format 0.2 (so ≈ 23% of episodes stop unreadable)
  small      10 episodes × 16 steps, no format failures
  clustered  40 episodes × 32 steps, each episode's error drawn from a Beta with mean e
             (concentration 20): errors cluster in some episodes, the case clustered
             intervals exist for

Prints, per design and error rate, the share of 95% intervals that cover the truth and the
share of 5% tests that reject a true null (drift: no drift was simulated; interaction: the
two conditions differ in level, not in slope; with the draws shared as scripted/noisy shares
them, and independent as a real model's), and the power of the drift test when the error
doubles along the episode. The fitted per-step failure rate of success against length is
checked on tape runs at 1/4, 1/2 and all of the design's length. Targets: coverage >= 0.93,
false positives <= 0.05.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentloop import metrics as M  # noqa: E402
from agentloop.types import EpisodeRecord, StepRecord  # noqa: E402

FORMAT_RETRIES = 2  # the conditions' default: an unreadable reply is re-asked twice
MODEL = "scripted/noisy"
TOKENS_STEPWISE = (150, 40)  # prompt tokens at step i: 150 + 40·i (the transcript grows)
TOKENS_TAPE = 150


@dataclass(frozen=True)
class Design:
    episodes: int
    steps: int
    format: float = 0.0
    concentration: float | None = None  # Beta concentration of per-episode error; None: none


DESIGNS = {
    "grid": Design(40, 32, format=0.2),
    "small": Design(10, 16),
    "clustered": Design(40, 32, concentration=20.0),
}


# --- the simulator ------------------------------------------------------------------------------


def _episode(condition: str, seed: int, errors: np.ndarray, fmt: np.ndarray, tokens: list[int]) -> EpisodeRecord:
    """One episode from its draws: errors[i] (the readable reply is wrong), fmt[i] (replies read
    before one was readable; FORMAT_RETRIES + 1 means none was)."""
    steps, ok_list = [], []
    retries = 0
    status = "solved"
    for i, (wrong, unread) in enumerate(zip(errors, fmt)):
        unread = int(unread)
        if unread > FORMAT_RETRIES:  # every reply unreadable: the episode stops here
            retries += FORMAT_RETRIES
            steps.append(StepRecord.model_construct(
                index=i, label=f"s{i}", answer=None, code="format", ok=False, first_ok=False, on_track=False,
                committed=False, attempts=[], format_retries=FORMAT_RETRIES, votes=None,
                samples=FORMAT_RETRIES + 1, calls=FORMAT_RETRIES + 1, prompt_tokens=tokens[i], tokens_out=1,
                latency_s=0.0))
            ok_list.append(False)
            status = "format"
            break
        retries += unread
        ok = not wrong
        steps.append(StepRecord.model_construct(
            index=i, label=f"s{i}", answer=int(ok), code="ok" if ok else "wrong", ok=ok, first_ok=ok,
            on_track=ok and (not ok_list or all(ok_list)), committed=True, attempts=[], format_retries=unread,
            votes=None, samples=unread + 1, calls=unread + 1, prompt_tokens=tokens[i], tokens_out=1, latency_s=0.0))
        ok_list.append(ok)
    if status == "solved" and not all(ok_list):
        status = "failed"
    first = next((i for i, ok in enumerate(ok_list) if not ok), None)
    return EpisodeRecord.model_construct(
        scenario="eca", params={"steps": len(errors)}, condition=condition, model=MODEL, model_args={},
        seed=seed, status=status, success=status == "solved", steps_total=len(errors),
        steps_correct=len(ok_list) if first is None else first, first_error_step=first, step_ok=ok_list,
        calls=sum(s.calls for s in steps), retries=0, format_retries=retries, tokens_in=sum(tokens[: len(steps)]),
        tokens_out=len(steps), cost=None, wall_s=0.0, simulated=True, error=None, initial=None, expected=None,
        answer=None, steps=steps, prompts={}, agentloop_version="calibrate")


def _tokens(condition: str, steps: int) -> list[int]:
    if condition == "stepwise":
        return [TOKENS_STEPWISE[0] + TOKENS_STEPWISE[1] * i for i in range(steps)]
    return [TOKENS_TAPE] * steps


def simulate(design: Design, error: float, rng: np.random.Generator, *, drift_to: float | None = None):
    """Records of one experiment: (stepwise, tape) lists of EpisodeRecords on the same seeds.

    `drift_to`: the stepwise error grows linearly from `error` at the first step to `drift_to`
    at the last (a true drift, for the power row); tape keeps e/2 throughout.
    """
    n, s = design.episodes, design.steps
    if design.concentration:
        a = error * design.concentration
        per_ep = rng.beta(a, design.concentration - a, size=n)
    else:
        per_ep = np.full(n, error)
    u = rng.random((n, s))  # shared by both conditions, as scripted/noisy shares its draws
    unread = np.zeros((n, s), dtype=int)
    if design.format:
        # replies read until one is readable, capped at FORMAT_RETRIES + 1 (all unreadable)
        unread = np.minimum(rng.geometric(1 - design.format, size=(n, s)) - 1, FORMAT_RETRIES + 1)
    ramp = np.zeros(s) if drift_to is None else np.linspace(0, drift_to - error, s)
    out = []
    for cond, scale in (("stepwise", 1.0), ("tape", 0.5)):
        p = per_ep[:, None] * scale + (ramp[None, :] if cond == "stepwise" else 0.0)
        tokens = _tokens(cond, s)
        out.append([_episode(cond, seed, u[seed] < p[seed], unread[seed], tokens) for seed in range(n)])
    return out


# --- the truth ------------------------------------------------------------------------------------


def _beta_moment(error: float, scale: float, concentration: float, steps: int) -> float:
    """E[(1 − scale·e)^steps] for e ~ Beta(error·c, (1 − error)·c)."""
    from scipy import integrate, stats

    a = error * concentration
    dist = stats.beta(a, concentration - a)
    return float(integrate.quad(lambda e: (1 - scale * e) ** steps * dist.pdf(e), 0, 1, limit=200)[0])


def truth(design: Design, error: float) -> dict[str, float]:
    s = design.steps
    readable = 1 - design.format ** (FORMAT_RETRIES + 1)
    out = {}
    for cond, scale in (("stepwise", 1.0), ("tape", 0.5)):
        e = error * scale
        if design.concentration:
            success = _beta_moment(error, scale, design.concentration, s)
        else:
            success = (1 - e) ** s
        out[f"{cond}.success"] = success * readable**s
        out[f"{cond}.accuracy"] = 1 - e
        out[f"{cond}.format"] = 1 - readable**s
        out[f"{cond}.steps_at_99"] = math.log(0.99) / math.log(1 - e)
        # S(t) at a quarter of the task, for the survival band (format stops only censor)
        t = max(1, s // 4)
        out[f"{cond}.survival_t"] = t
        out[f"{cond}.survival"] = (
            _beta_moment(error, scale, design.concentration, t) if design.concentration else (1 - e) ** t
        )
    out["paired.diff"] = out["tape.success"] - out["stepwise.success"]
    return out


# --- one experiment's checks ----------------------------------------------------------------------


def _covers(ci, value) -> bool | None:
    if ci is None or value is None:
        return None
    lo, hi = ci
    return lo - 1e-12 <= value <= hi + 1e-12


def _survival_covers(g, t: int, value: float) -> bool | None:
    c = g.survival
    if c is None:
        return None
    i = max(j for j, tt in enumerate(c.t) if tt <= t)  # the step function at t
    return c.lo[i] - 1e-12 <= value <= c.hi[i] + 1e-12


def _h50_true(e: float, steps: int) -> int | None:
    """The smallest t with (1 − e)^t < 0.5, when within the task."""
    t = math.floor(math.log(0.5) / math.log(1 - e)) + 1 if e > 0 else None
    return t if t is not None and t <= steps else None


def check(design: Design, error: float, rng: np.random.Generator, true: dict[str, float]) -> dict[str, bool | None]:
    """Covered (True / False) per interval and rejected per test, for one simulated experiment."""
    step, tape = simulate(design, error, rng)
    res: dict[str, bool | None] = {}
    for name, recs in (("stepwise", step), ("tape", tape)):
        g = M.summarize(recs, condition=name, scenario="eca", params={"steps": design.steps}, model=MODEL)
        res[f"success {name}"] = _covers(g.success_ci, true[f"{name}.success"])
        res[f"step accuracy {name}"] = _covers(g.step_accuracy_ci, true[f"{name}.accuracy"])
        res[f"first-try accuracy {name}"] = _covers(g.first_try_accuracy_ci, true[f"{name}.accuracy"])
        if design.format:
            res[f"format rate {name}"] = _covers(g.format_rate_ci, true[f"{name}.format"])
        pr = g.projection
        if pr is not None:
            ci = (pr.steps_at_99_lo["single"] or 0.0, pr.steps_at_99_hi["single"] or math.inf)
            res[f"projection {name}"] = _covers(ci, true[f"{name}.steps_at_99"])
        res[f"survival S(t) {name}"] = _survival_covers(g, true[f"{name}.survival_t"], true[f"{name}.survival"])
        h50 = _h50_true(error * (1.0 if name == "stepwise" else 0.5), design.steps)
        if h50 is not None and not design.concentration and g.h50_ci is not None:
            res[f"H50 {name}"] = _covers((g.h50_ci[0] or 0.0, g.h50_ci[1] or math.inf), h50)
        res[f"drift test {name} (p < .05)"] = None if g.drift_p is None else g.drift_p < 0.05
        ci = g.drift_slope_ci
        res[f"drift slope CI {name} excludes 0"] = None if ci is None else not _covers(ci, 0.0)
        if name == "stepwise":
            res["token test stepwise (p < .05)"] = None if g.drift_tokens_p is None else g.drift_tokens_p < 0.05
    (pc,) = M.paired_comparisons(step + tape)
    res["paired success diff"] = _covers(pc.success_diff_ci, true["paired.diff"])
    (it,) = M.interaction_tests(step + tape)
    res["interaction test, shared draws (p < .05)"] = None if it.p is None else it.p < 0.05
    # real models draw each condition's samples independently
    _, other = simulate(design, error, rng)
    (it,) = M.interaction_tests(step + other)
    res["interaction test, independent draws (p < .05)"] = None if it.p is None else it.p < 0.05
    return res


def length_check(design: Design, error: float, rng: np.random.Generator) -> bool | None:
    """Does the per-step failure rate fitted to success at 1/4, 1/2 and all of the task length
    cover the true one?"""
    cells = []
    for steps in (design.steps // 4, design.steps // 2, design.steps):
        _, tape = simulate(Design(design.episodes, steps, design.format, design.concentration), error, rng)
        cells.append(M.summarize(tape, curves=False, condition="tape", scenario="eca", params={"steps": steps},
                                 model=MODEL))
    (curve,) = M.length_curves(cells)
    readable = 1 - design.format ** (FORMAT_RETRIES + 1)
    return _covers(curve.error_rate_ci, 1 - readable * (1 - error / 2))


def power(design: Design, error: float, rng: np.random.Generator) -> bool | None:
    """Did the drift test see a stepwise error that doubles from the first step to the last?"""
    step, _ = simulate(design, error, rng, drift_to=min(0.9, 2 * error))
    g = M.summarize(step, condition="stepwise", scenario="eca", params={"steps": design.steps}, model=MODEL)
    return None if g.drift_p is None else g.drift_p < 0.05


# --- running --------------------------------------------------------------------------------------


def run(designs: list[str], errors: list[float], reps: int, seed: int = 20261130) -> dict:
    """{(design, error): {check: (hits, n)}} over `reps` experiments each."""
    table = {}
    for d in designs:
        design = DESIGNS[d]
        for e in errors:
            rng = np.random.default_rng([seed, int(e * 1e6), len(d)])
            true = truth(design, e)
            counts: dict[str, list[int]] = {}
            for _ in range(reps):
                for k, v in check(design, e, rng, true).items():
                    c = counts.setdefault(k, [0, 0])
                    if v is not None:
                        c[0] += int(v)
                        c[1] += 1
            if not design.concentration:  # with clustering success is not (1 − e)^steps
                for _ in range(reps):
                    v = length_check(design, e, rng)
                    c = counts.setdefault("fitted per-step failure (success vs length)", [0, 0])
                    if v is not None:
                        c[0] += int(v)
                        c[1] += 1
            for _ in range(reps):
                v = power(design, e, rng)
                c = counts.setdefault("POWER drift test, error doubling", [0, 0])
                if v is not None:
                    c[0] += int(v)
                    c[1] += 1
            table[(d, e)] = counts
            print(f"  {d} e={e:g} done", file=sys.stderr, flush=True)
    return table


def _is_test(name: str) -> bool:
    return "(p < .05)" in name or "excludes 0" in name


def print_table(table: dict) -> None:
    keys = list(table)
    names = list(dict.fromkeys(k for c in table.values() for k in c))
    head = " | ".join(f"{d} e={e:g}" for d, e in keys)
    for title, pick in (
        ("coverage of 95% intervals (target >= 0.93)", lambda n: not _is_test(n) and not n.startswith("POWER")),
        ("false-positive rate of 5% tests, no drift / no interaction (target <= 0.05)", _is_test),
        ("power", lambda n: n.startswith("POWER")),
    ):
        print(f"\n{title}\n| | {head} |\n|---|" + "---|" * len(keys))
        for n in filter(pick, names):
            cells = []
            for k in keys:
                hits, total = table[k].get(n, (0, 0))
                cells.append(f"{hits / total:.3f} ({total})" if total else "– (0)")
            print(f"| {n.removeprefix('POWER ')} | " + " | ".join(cells) + " |")


# --- the simulator against the loop ---------------------------------------------------------------


def check_loop(n: int, error: float = 0.05, fmt: float = 0.2) -> None:
    """Mean outcomes of `n` eca episodes (32 steps) through run_episode on scripted/noisy, and of
    `n` simulated ones with the same error and format rate."""
    from agentloop.loop import run_episode

    t = time.perf_counter()
    loop = [
        run_episode("eca", {"rule": 110, "width": 8, "steps": 4}, condition="tape", model=MODEL,
                    model_args={"error": error, "format": fmt}, seed=s)
        for s in range(n)
    ]
    t_loop = time.perf_counter() - t
    t = time.perf_counter()
    _, sim = simulate(Design(n, 32, format=fmt), 2 * error, np.random.default_rng(0))  # tape runs at e/2
    t_sim = time.perf_counter() - t
    for name, recs, secs in (("run_episode", loop, t_loop), ("simulated", sim, t_sim)):
        g = M.summarize(recs, condition="tape")
        print(f"{name:12s} success {g.success_rate:.3f} {g.success_ci}  step accuracy {g.step_accuracy:.4f}  "
              f"format stops {g.format_rate:.3f}  format retries/step {g.format_retries_per_step:.3f}  ({secs:.2f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--errors", default="0.005,0.05,0.2")
    ap.add_argument("--designs", default=",".join(DESIGNS))
    ap.add_argument("--check-loop", type=int, default=0, metavar="N", help="compare N loop episodes with the simulator")
    args = ap.parse_args()
    if args.check_loop:
        check_loop(args.check_loop)
        return
    t = time.perf_counter()
    table = run(args.designs.split(","), [float(e) for e in args.errors.split(",")], args.reps)
    print_table(table)
    print(f"\n{args.reps} experiments per column; {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
