"""MAKER-scale runs: Tower of Hanoi under `vote` on a simulated model, measured.

    .venv/bin/python tools/bench_maker.py [--disks 16] [--error 0.0022] [--k 3]
                                         [--price-in 0.40] [--price-out 1.60]

Runs `hanoi` (classic start, 2^disks − 1 moves) under first-to-ahead-by-k voting on
`scripted/noisy` with the given per-call error (MAKER, arXiv 2511.09030: gpt-4.1-mini, 0.22%),
its step records streamed to a sink that drops them (as a run into a store would), and prints
wall time, steps/s, calls/s, peak RSS, errors, and the projected cost of the same calls on a
priced model (dollars per million tokens in/out; defaults: gpt-4.1-mini's list prices). The
figures come from a simulated model: they measure agentloop, not a language model.
"""

from __future__ import annotations

import argparse
import resource
import time

from agentloop.conditions import get_condition
from agentloop.loop import run_episode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--disks", type=int, default=16)
    ap.add_argument("--error", type=float, default=0.0022)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--price-in", type=float, default=0.40, help="dollars per million prompt tokens")
    ap.add_argument("--price-out", type=float, default=1.60, help="dollars per million reply tokens")
    ap.add_argument("--transcripts", action="store_true", help="keep reply texts (off: verdicts and counts only)")
    a = ap.parse_args()
    cond = get_condition("vote", k=a.k)
    started = time.perf_counter()
    r = run_episode("hanoi", {"disks": a.disks, "start": "classic"}, condition=cond, model="scripted/noisy",
                    model_args={"error": a.error}, seed=1, transcripts=a.transcripts, sink=lambda recs, prompts: None)
    wall = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    steps = len(r.step_ok)
    cost = (r.tokens_in * a.price_in + r.tokens_out * a.price_out) / 1e6
    print(f"hanoi disks={a.disks} (classic start), vote k={a.k}, scripted/noisy error={a.error} (simulated)")
    print(f"status            : {r.status}, {steps:,} of {r.steps_total:,} steps, {steps - sum(r.step_ok)} wrong")
    print(f"wall time         : {wall:.1f} s")
    print(f"steps/s           : {steps / wall:,.0f}   ({wall / steps * 1e6:.0f} µs a step)")
    print(f"calls/s           : {r.calls / wall:,.0f}   ({r.calls:,} calls, {r.calls / steps:.2f} a step)")
    print(f"peak RSS          : {rss_mb:,.0f} MB")
    print(f"projected cost    : ${cost:,.2f} for {r.tokens_in:,} tokens in and {r.tokens_out:,} out "
          f"at ${a.price_in}/{a.price_out} per million")


if __name__ == "__main__":
    main()
