"""Benchmark the experiment runner (simulated models only; the numbers measure agentloop itself).

1. Throughput: a 1,000-episode experiment on scripted/oracle (eca width 16, 4 generations,
   64 steps each, condition tape): episodes per second and the size of the results store.
2. Concurrency: scripted/oracle with 200 ms simulated latency per request and 32 connections:
   the mean number of requests in flight (model time / wall time) against the ideal, 32.

    .venv/bin/python tools/bench_experiment.py [--episodes 1000] [--latency-episodes 96]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from agentloop.experiment import ExperimentSpec, run_experiment


def throughput(n: int, out: Path) -> None:
    spec = ExperimentSpec.model_validate(
        {
            "name": "bench-throughput",
            "seeds": n,
            "conditions": ["tape"],
            "scenarios": [{"name": "eca", "params": {"rule": 110, "width": 16, "steps": 4}}],
            # One connection per core is enough: the simulator is pure Python, bound by the GIL.
            "models": [{"name": "scripted/oracle", "max_connections": os.cpu_count() or 1}],
        }
    )
    s = run_experiment(spec, out, progress=False)
    db = out / "results.sqlite"
    size = sum(p.stat().st_size for p in out.glob("results.sqlite*"))
    print(f"throughput (simulated, scripted/oracle): {s.stored} episodes × 64 steps in {s.wall_s:.1f} s "
          f"= {s.episodes_per_s:.1f} episodes/s ({s.episodes_per_s * 64:.0f} steps/s); "
          f"store {size / 1e6:.1f} MB ({size / max(1, s.stored) / 1e3:.1f} kB per episode) at {db}")


def concurrency(n: int, out: Path, connections: int = 32, latency: float = 0.2) -> None:
    spec = ExperimentSpec.model_validate(
        {
            "name": "bench-concurrency",
            "seeds": n,
            "conditions": ["tape"],
            "scenarios": [{"name": "eca", "params": {"rule": 110, "width": 4, "steps": 1}}],
            "models": [{"name": "scripted/oracle", "args": {"latency": latency}, "max_connections": connections}],
        }
    )
    s = run_experiment(spec, out, progress=False)
    achieved = s.model_busy_s / s.wall_s if s.wall_s else 0.0
    ideal_wall = s.model_busy_s / connections
    print(f"concurrency (simulated, {latency * 1000:.0f} ms latency, {connections} connections): {s.stored} episodes, "
          f"{s.calls} requests in {s.wall_s:.2f} s (ideal {ideal_wall:.2f} s); mean in flight {achieved:.1f} of "
          f"{connections} ({100 * achieved / connections:.0f}%), peak {s.peak_in_flight}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--latency-episodes", type=int, default=96)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        throughput(a.episodes, Path(tmp) / "throughput")
        concurrency(a.latency_episodes, Path(tmp) / "concurrency")


if __name__ == "__main__":
    main()
