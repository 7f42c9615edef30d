"""Per-step accuracy of the local models on the eca and life atomic step prompts.

Runs `tape` episodes (one atomic step per call, the prompt rendered from the tape) and counts
locally correct steps: each answer is judged against the simulator applied to the agent's own
committed state, so an earlier error does not make later steps wrong. 95% Wilson intervals
(statsmodels). The "majority" column is the accuracy of always giving the more frequent right
answer of that set, the floor a model without skill reaches.

    .venv/bin/python tools/measure_local.py [--models gemma3-270m smollm2-135m] [--seeds 3]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    from agentloop.models._weights import CATALOGUE

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(CATALOGUE))
    ap.add_argument("--seeds", type=int, default=3)
    a = ap.parse_args()

    from statsmodels.stats.proportion import proportion_confint

    from agentloop.loop import run_episode
    from agentloop.models import get_model

    sets = [("eca", {"rule": r, "width": 16, "steps": 2}) for r in (30, 90, 110)] + [
        ("life", {"rows": 6, "cols": 6, "steps": 1})
    ]
    print("model | set | per-step accuracy [95% CI] | majority | steps | s/call")
    for name in a.models:
        model = get_model(f"local/{name}")
        model.inner.load()
        for scenario, params in sets:
            ok = n = ones = calls = 0
            t = time.perf_counter()
            for seed in range(a.seeds):
                rec = run_episode(scenario, params, condition="tape", model=model, seed=seed)
                ok += sum(rec.step_ok)
                n += len(rec.step_ok)
                calls += rec.calls
                # the right answer of each step: the answer if it was right, else its complement (bits)
                # (an unreadable reply has no answer; it counts as wrong and, being the last step
                # of its episode, is left out of the majority count)
                ones += sum((s.answer if s.ok else 1 - s.answer) == 1 for s in rec.steps if s.answer is not None)
            lo, hi = proportion_confint(ok, n, alpha=0.05, method="wilson")
            label = scenario + (f" rule {params['rule']}" if scenario == "eca" else f" {params['rows']}x{params['cols']}")
            print(
                f"local/{name} | {label} | {ok / n:.3f} [{lo:.3f}, {hi:.3f}] | {max(ones, n - ones) / n:.3f} | "
                f"{n} | {(time.perf_counter() - t) / calls:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
