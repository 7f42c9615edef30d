"""MAKER-scale runs: Tower of Hanoi under `vote` on a simulated model, measured.

    .venv/bin/python tools/bench_maker.py [--disks 20] [--error 0.0022] [--k 3]
                                         [--price-in 0.40] [--price-out 1.60] [--out DIR] [--transcripts]

Runs `hanoi` (classic start, 2^disks − 1 moves) under first-to-ahead-by-k voting on
`scripted/noisy` with the given per-call error (MAKER, arXiv 2511.09030: gpt-4.1-mini, 0.22%),
the way `agentloop run ... --json` runs it: without `--out` no step record is built (the
`discard` sink) and no per-step answer list is kept; with `--out DIR` the steps stream into
DIR/results.sqlite with a checkpoint every quantum (the resumable path of `run --out`). Prints
wall and CPU time, steps/s, calls/s, peak RSS, errors, the load average while it ran, the bare
simulator loop over the same moves in the same process (the floor), and the projected cost of
the same calls on a priced model (dollars per million tokens in/out; defaults: gpt-4.1-mini's
list prices). The figures come from a simulated model: they measure agentloop, not a language model.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from agentloop.conditions import get_condition
from agentloop.loop import run_episode
from agentloop.loop._episode import discard
from agentloop.scenarios import get_scenario


def bare(disks: int) -> float:
    """Seconds the simulator alone takes over the same moves (solve, check, apply)."""
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=disks, start="classic"), 1)
    t = time.perf_counter()
    state = sc.initial_state(inst)
    for step in sc.steps(inst):
        answer = sc.solve(inst, state, step)
        assert sc.check(inst, state, step, answer).ok
        state = sc.apply(inst, state, step, answer)
    assert sc.is_goal(inst, state)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--disks", type=int, default=20)
    ap.add_argument("--error", type=float, default=0.0022)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--price-in", type=float, default=0.40, help="dollars per million prompt tokens")
    ap.add_argument("--price-out", type=float, default=1.60, help="dollars per million reply tokens")
    ap.add_argument("--transcripts", action="store_true", help="keep reply texts (off: verdicts and counts only)")
    ap.add_argument("--out", help="stream the steps into DIR/results.sqlite with checkpoints (a fresh DIR)")
    a = ap.parse_args()
    cond = get_condition("vote", k=a.k)
    params = {"disks": a.disks, "start": "classic"}
    run_episode("hanoi", {"disks": 3, "start": "classic"}, condition=cond, model="scripted/noisy", sink=discard)
    load_before = os.getloadavg()
    started, cpu = time.perf_counter(), time.process_time()
    if a.out:
        from agentloop.store import ResultsStore

        with ResultsStore(Path(a.out) / "results.sqlite") as store, store.journal("bench") as journal:
            r = run_episode("hanoi", params, condition=cond, model="scripted/noisy", model_args={"error": a.error},
                            seed=1, key="bench", transcripts=a.transcripts, journal=journal)
            store.add_episode("bench", r, store.begin_run({"command": "bench_maker"}, {}))
    else:
        r = run_episode("hanoi", params, condition=cond, model="scripted/noisy", model_args={"error": a.error},
                        seed=1, transcripts=a.transcripts, sink=discard, answers=False)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    load_after = os.getloadavg()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    floor = bare(a.disks)
    steps = len(r.step_ok)
    cost = (r.tokens_in * a.price_in + r.tokens_out * a.price_out) / 1e6
    how = f"streamed into {a.out} with checkpoints" if a.out else "no step records kept (as `run --json`)"
    print(f"hanoi disks={a.disks} (classic start), vote k={a.k}, scripted/noisy error={a.error} (simulated); {how}")
    print(f"status            : {r.status}, {steps:,} of {r.steps_total:,} steps, {steps - sum(r.step_ok)} wrong")
    print(f"wall time         : {wall:.1f} s   (CPU {cpu:.1f} s; load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after, {os.cpu_count()} CPUs)")
    print(f"steps/s           : {steps / wall:,.0f}   ({wall / steps * 1e6:.0f} µs a step; bare simulator "
          f"{floor / steps * 1e6:.1f} µs a step in this process)")
    print(f"calls/s           : {r.calls / wall:,.0f}   ({r.calls:,} calls, {r.calls / steps:.2f} a step)")
    print(f"peak RSS          : {rss_mb:,.0f} MB")
    print(f"projected cost    : ${cost:,.2f} for {r.tokens_in:,} tokens in and {r.tokens_out:,} out "
          f"at ${a.price_in}/{a.price_out} per million")


if __name__ == "__main__":
    main()
