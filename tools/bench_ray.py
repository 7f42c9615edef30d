"""Benchmark the Ray executor against the local one, in the same process (simulated models only;
the numbers measure agentloop and Ray, not a model). Needs the [ray] extra.

1. An experiment file (default: scenarios/drift-study.toml) run by both executors into fresh
   directories: wall time, episodes/s, requests/s, and whether the two stores hold the same
   records under the same keys (every field but the clocks).
2. Latency-bound: scripted/oracle with simulated latency per request (as a real model is):
   wall time and the mean requests in flight against `max_connections`.

    .venv/bin/python tools/bench_ray.py [FILE] [--latency-episodes 48] [--cpus N]

Ray is started once, locally (`--cpus`, default all), and its start-up is printed apart.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from agentloop.experiment import ExperimentSpec, load_experiment, run_experiment
from agentloop.store import ResultsStore

TIMING = {"wall_s", "latency_s"}


def _untimed(x):
    if isinstance(x, dict):
        return {k: _untimed(v) for k, v in x.items() if k not in TIMING}
    if isinstance(x, list):
        return [_untimed(v) for v in x]
    return x


def records(out: Path) -> dict[str, dict]:
    with ResultsStore(out / "results.sqlite", create=False) as s:
        return {key: _untimed(r.model_dump(mode="json")) for key, r in s.episodes()}


def compare(a: Path, b: Path) -> str:
    ra, rb = records(a), records(b)
    same = sum(1 for k in ra if k in rb and ra[k] == rb[k])
    steps = sum(len(r["steps"]) for r in ra.values())
    return (f"{same} of {len(ra)} local / {len(rb)} ray records identical under the same keys "
            f"({steps} step records compared; {len(set(ra) ^ set(rb))} keys in one store only)")


def line(name: str, s) -> str:
    calls_s = s.calls / s.wall_s if s.wall_s else 0.0
    return (f"  {name:5}: {s.stored} episodes stored, {s.calls} requests in {s.wall_s:.1f} s = "
            f"{s.episodes_per_s:.1f} episodes/s, {calls_s:.0f} requests/s; peak in flight {s.peak_in_flight}")


def grid(path: str, tmp: Path) -> None:
    spec = load_experiment(path)
    local = run_experiment(spec, tmp / "grid-local", progress=False, executor="local")
    ray_ = run_experiment(spec, tmp / "grid-ray", progress=False, executor="ray")
    print(f"{path} (simulated):")
    print(line("local", local))
    print(line("ray", ray_))
    print(f"  ray / local wall time: {ray_.wall_s / local.wall_s:.1f}×; {compare(tmp / 'grid-local', tmp / 'grid-ray')}")


def latency(n: int, tmp: Path, connections: int = 16, latency_s: float = 0.2) -> None:
    spec = ExperimentSpec.model_validate(
        {
            "name": "bench-ray-latency",
            "seeds": n,
            "conditions": ["tape"],
            "scenarios": [{"name": "eca", "params": {"rule": 110, "width": 4, "steps": 2}}],
            "models": [{"name": "scripted/oracle", "args": {"latency": latency_s}, "max_connections": connections}],
        }
    )
    print(f"latency-bound (simulated, {latency_s * 1000:.0f} ms a request, max_connections {connections}):")
    for name in ("local", "ray"):
        s = run_experiment(spec, tmp / f"lat-{name}", progress=False, executor=name)
        mean = s.model_busy_s / s.wall_s if s.wall_s else 0.0
        print(line(name, s) + f"; mean in flight {mean:.1f} of {connections}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", default="scenarios/drift-study.toml")
    ap.add_argument("--latency-episodes", type=int, default=48)
    ap.add_argument("--cpus", type=int, default=None)
    args = ap.parse_args()
    import ray

    t = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="WARNING")
    print(f"ray start-up: {time.perf_counter() - t:.1f} s ({ray.cluster_resources().get('CPU', 0):.0f} CPUs)")
    try:
        with tempfile.TemporaryDirectory() as d:
            grid(args.file, Path(d))
            if args.latency_episodes:
                latency(args.latency_episodes, Path(d))
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
