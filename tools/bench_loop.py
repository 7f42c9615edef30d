"""Framework overhead per atomic step: the agent loop vs a bare loop over the same simulator.

    .venv/bin/python tools/bench_loop.py [--disks 14] [--repeat 3]

Runs Tower of Hanoi (2^disks − 1 steps) under `tape` on `scripted/oracle` through
`run_episode`, and a bare loop doing only the simulator's work (solve, check, apply) in the
same process. Prints µs per step for both, the difference (the framework's overhead), the
ratio, and LangGraph's own floor (a trivial one-node self-loop). Best of `--repeat` runs each. Figures come from a scripted model (no model latency).

Times are this process's CPU time (`time.process_time`), so other jobs on a shared machine
slow the figures less than they would wall time; the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import time

from agentloop.loop import run_episode
from agentloop.scenarios import get_scenario


def bare(disks: int) -> tuple[float, int]:
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=disks, start="classic"), 0)
    t = time.process_time()
    state = sc.initial_state(inst)
    steps = sc.steps(inst)
    for step in steps:
        answer = sc.solve(inst, state, step)
        assert sc.check(inst, state, step, answer).ok
        state = sc.apply(inst, state, step, answer)
    assert sc.is_goal(inst, state)
    return time.process_time() - t, len(steps)


def framework(disks: int, condition: str = "tape") -> tuple[float, int]:
    """One episode through `run_episode`; its records go to a sink that drops them (as a run
    with a store streams them out), so the figure is the loop's, not a growing list's."""
    t = time.process_time()
    r = run_episode("hanoi", {"disks": disks, "start": "classic"}, condition=condition, model="scripted/oracle",
                    seed=0, sink=lambda records, prompts: None)
    elapsed = time.process_time() - t
    assert r.success and r.steps_total == 2**disks - 1
    return elapsed, r.calls


def langgraph_floor(n: int) -> float:
    """Seconds per super-step of a trivial one-node LangGraph self-loop: the framework's floor."""
    from typing import Literal, TypedDict

    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command

    class S(TypedDict):
        i: int

    def node(s: S) -> Command[Literal["node", "__end__"]]:
        return Command(update={"i": s["i"] + 1}, goto="node" if s["i"] + 1 < n else END)

    g = StateGraph(S)
    g.add_node("node", node)
    g.add_edge(START, "node")
    graph = g.compile()
    t = time.process_time()
    graph.invoke({"i": 0}, config={"recursion_limit": n + 10})
    return (time.process_time() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--disks", type=int, default=14)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    framework(3)  # warm up: imports and graph compilation are not per-step costs
    b = min(bare(a.disks)[0] for _ in range(a.repeat))
    f = min(framework(a.disks)[0] for _ in range(a.repeat))
    n = 2**a.disks - 1
    per_request = {}
    for cond in ("vote", "verify"):
        t, calls = min(framework(a.disks, cond) for _ in range(a.repeat))
        per_request[cond] = (t - b) / calls
    floor = min(langgraph_floor(n) for _ in range(a.repeat))
    print(f"hanoi disks={a.disks}: {n} steps, condition tape, model scripted/oracle (simulated), best of {a.repeat}, "
          f"CPU time; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"bare simulator loop : {b / n * 1e6:8.1f} µs/step")
    print(f"agentloop episode   : {f / n * 1e6:8.1f} µs/step")
    print(f"framework overhead  : {(f - b) / n * 1e6:8.1f} µs/step   (aim: <= 100)")
    for cond, per in per_request.items():
        print(f"{cond:<6} overhead     : {per * 1e6:8.1f} µs/request ({per / ((f - b) / n):.1f}x tape's; aim: <= 2x)")
    print(f"ratio episode/bare  : {f / b:8.1f}x")
    print(f"LangGraph floor     : {floor * 1e6:8.1f} µs per super-step (trivial one-node loop; the loop takes one per 50 ms quantum)")


if __name__ == "__main__":
    main()
