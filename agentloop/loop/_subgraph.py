"""The agent loop as a LangGraph subgraph, for LangGraph applications to embed.

    from agentloop.loop import episode_graph

    parent = StateGraph(MyState)              # MyState has the keys of EpisodeState it uses
    parent.add_node("solve", episode_graph())
    ...
    out = app.invoke({"task": {"scenario": "hanoi", "params": {"disks": 3}, "condition": "verify",
                               "model": "scripted/oracle"}})
    out["tape"], out["verdicts"], out["record"]

The subgraph reads `task` and writes the episode's committed answers (`tape`), one verdict per
step (`verdicts`) and the whole record (`record`), all plain JSON, where a LangGraph user
expects state. The run itself is `run_episode`, the same loop the CLI uses.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph


class EpisodeState(TypedDict, total=False):
    task: dict[str, Any]  # scenario, params, condition, model, model_args, seed, limits (as run_episode takes them)
    tape: list[Any]  # the committed answers, in step order
    verdicts: list[dict[str, Any]]  # per step: index, ok, code, reason
    record: dict[str, Any]  # the EpisodeRecord, as JSON


def _episode(state: EpisodeState) -> EpisodeState:
    from agentloop.loop import run_episode
    from agentloop.types import Limits

    task = dict(state["task"])
    scenario = task.pop("scenario")
    params = task.pop("params", None)
    if isinstance(task.get("limits"), dict):
        task["limits"] = Limits(**task["limits"])
    rec = run_episode(scenario, params, **task)
    verdicts = [
        {"index": s.index, "ok": s.ok, "code": s.code,
         "reason": s.attempts[-1].verdict.reason if s.attempts and s.attempts[-1].verdict else ""}
        for s in rec.steps
    ]
    return {
        "tape": [s.answer for s in rec.steps if s.committed],
        "verdicts": verdicts,
        "record": rec.model_dump(mode="json"),
    }


def episode_graph():
    """A compiled one-node graph that runs an episode from `state["task"]`."""
    g = StateGraph(EpisodeState)
    g.add_node("episode", _episode)
    g.add_edge(START, "episode")
    g.add_edge("episode", END)
    return g.compile()
