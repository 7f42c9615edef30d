"""The agent loop as a LangGraph StateGraph: one node that advances the episode.

A super-step is a unit of durability and streaming, not of logic: the node runs whole steps
(`_steps.run_step`: plan → work → check → commit, plain functions) until a time quantum is
used up — at least one step — then returns, so the graph can checkpoint, stream progress or be
interrupted, and the step records leave for the sink — or, in a resumable run, for the
journal in the store, with a checkpoint of the episode's state (`_durable`). A real model call outlasts the quantum,
so real runs return after every step; a simulator runs thousands of steps per super-step.
This module imports langgraph; nothing imports it until an episode runs.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from agentloop.loop._episode import Episode
from agentloop.loop._steps import run_step

QUANTUM_S = 0.05  # the most time one super-step spends on steps (it always takes at least one)


class LoopState(TypedDict):
    step: int  # steps recorded so far


def recursion_limit(ep: Episode) -> int:
    """Super-steps the graph may take: at most one per step, and the last to end."""
    return len(ep.steps) + 8


def advance(state: LoopState, runtime: Runtime[Episode]) -> Command[Literal["advance", "__end__"]]:
    """Run steps for one quantum; end when the episode is over."""
    ep: Episode = runtime.context
    deadline = time.perf_counter() + QUANTUM_S
    going = run_step(ep)
    while going and time.perf_counter() < deadline:
        going = run_step(ep)
    ep.flush(checkpoint=going)  # a checkpoint between steps, only while the episode goes on
    return Command(goto="advance" if going else END, update={"step": len(ep.step_ok)})


@lru_cache(maxsize=1)
def build_graph():
    """The compiled graph (the same for every episode; the episode comes in the run context)."""
    g = StateGraph(LoopState, context_schema=Episode)
    g.add_node("advance", advance)
    g.add_edge(START, "advance")
    return g.compile()
