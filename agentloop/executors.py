"""Where an experiment's episodes run: worker threads here (`local`, the default) or a Ray
cluster (`ray`, the [ray] extra; `agentloop._ray`).

`agentloop.experiment` plans the episodes, decides which to run, and stores every result: it is
the one writer of the store, whichever executor runs them. An executor only runs one episode
when asked (`await executor.run(task)`) and hands back its record and the first budget refusal;
every request of it passes the same layers (the episode's limits, the response cache, retries,
the experiment's ledger, the model's connection limit), so both executors give the same records
for the same seeds and hold the same budgets.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agentloop.errors import AgentloopError
from agentloop.models import ModelWrapper

if TYPE_CHECKING:
    from agentloop.budget import BudgetExceeded
    from agentloop.experiment import EpisodeTask, ExperimentSpec
    from agentloop.types import EpisodeRecord, Limits

__all__ = ["EXECUTORS", "ConnectionLimit", "Executor", "ExecutorStats", "LocalExecutor", "check_executor", "make_executor"]

EXECUTORS: tuple[str, ...] = ("local", "ray")


@dataclass
class ExecutorStats:
    """What an executor saw, for the run's summary."""

    peak_in_flight: int = 0
    cache_hits: int = 0
    cache_misses: int = 0


class Executor(Protocol):
    async def run(self, task: EpisodeTask) -> tuple[EpisodeRecord, BudgetExceeded | None]:
        """Run one episode; its record and the first refusal of a request (None: none)."""

    def close(self, *, wait: bool) -> ExecutorStats:
        """Release the workers (`wait`: let episodes in flight finish first)."""


def make_executor(name: str, spec: ExperimentSpec, out: Path, *, ledger, store_path: Path, run_id: int,
                  stop: threading.Event, episodes: int) -> Executor:
    """The executor `name` for a run of `spec` into `out` (`episodes` to run). `ledger` is the
    driver's experiment budget; a remote executor opens its own on `store_path` for `run_id`."""
    check_executor(name)
    if name == "local":
        return LocalExecutor(spec, out, ledger=ledger, stop=stop, episodes=episodes, store_path=store_path)
    from agentloop._ray import RayExecutor

    return RayExecutor(spec, out, store_path=store_path, run_id=run_id, stop=stop, episodes=episodes)


def check_executor(name: str) -> None:
    """An AgentloopError unless `name` is one of `EXECUTORS`."""
    if name not in EXECUTORS:
        raise AgentloopError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")


def guard(retrying, wire, ledger, cache, limits: Limits, stop) -> Any:
    """The model as one episode sees it, outermost first: the episode's limits (they count the
    agent's calls, cache hits included), the cache, the retry layer (`retrying`'s settings), the
    experiment's ledger (every attempt is a request sent and paid for), then `wire`: the
    provider behind its connection limit."""
    from agentloop.budget import Budget, GuardedModel
    from agentloop.models import RetryingModel
    from agentloop.store import CachingModel

    model = GuardedModel(wire, [ledger], stop)
    model = RetryingModel(model, attempts=retrying.attempts, wait=retrying.wait)
    if cache is not None:
        model = CachingModel(model, cache)
    return GuardedModel(model, [Budget(limits, "episode")], stop)


def run_one(task: EpisodeTask, model, limits: Limits, transcripts: bool = True, journal=None):
    """One episode, behind its budgets (`model` is the outer guard of `guard`). Returns (record,
    the first refusal or None). The same function runs in a thread here or in a Ray worker.
    With a `journal` (`ResultsStore.journal`) it resumes from its last checkpoint and streams
    its step records into the store (the record then has none)."""
    from agentloop.loop import run_episode

    rec: EpisodeRecord = run_episode(
        task.scenario,
        task.params,
        condition=task.condition,
        model=model,
        model_args=dict(task.model.args),
        seed=task.seed,
        limits=limits,
        key=task.key,  # every request's seed derives from it: a re-run replays the same requests
        transcripts=transcripts,
        journal=journal,
    )
    refused = model.refused
    if refused is not None and refused.scope == "episode" and rec.status == "error":
        rec = rec.model_copy(update={"status": "budget", "success": False})
    return rec, refused


class ConnectionLimit(ModelWrapper):
    """At most `n` requests in flight to the wrapped model, across all threads; `peak` is the
    most that ever were (the achieved concurrency)."""

    def __init__(self, inner, n: int) -> None:
        super().__init__(inner)
        self._slots = threading.BoundedSemaphore(n)
        self._lock = threading.Lock()
        self._in_flight = 0
        self.peak = 0

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def complete(self, messages, *, hint=None, sample: int = 0, seed: int | None = None):
        with self._slots:
            self._enter()
            try:
                return self.inner.complete(messages, hint=hint, sample=sample, seed=seed)
            finally:
                self._leave()

    async def acomplete(self, messages, *, hint=None, sample: int = 0, seed: int | None = None):
        await asyncio.to_thread(self._slots.acquire)
        self._enter()
        try:
            return await self.inner.acomplete(messages, hint=hint, sample=sample, seed=seed)
        finally:
            self._leave()
            self._slots.release()


class LocalExecutor:
    """Episodes in worker threads of this process (the loop is synchronous), every model shared
    by its episodes: the provider behind its connection limit, its retry settings (from
    `get_model`) and the response cache."""

    def __init__(self, spec: ExperimentSpec, out: Path, *, ledger, stop: threading.Event, episodes: int,
                 store_path: Path | None = None) -> None:
        from agentloop.models import get_model
        from agentloop.store import ResponseCache

        self.spec, self.ledger, self.stop, self.store_path = spec, ledger, stop, store_path
        self.cache = ResponseCache(out / "cache.sqlite") if spec.cache else None
        self.retrying = {m.label: get_model(m.name, **m.args) for m in spec.models}
        # Episodes may send several requests at once (the samples of a vote): the connection
        # limit holds per request, not per episode.
        self.wire = {m.label: ConnectionLimit(self.retrying[m.label].inner, m.max_connections) for m in spec.models}
        workers = max(1, sum(min(m.max_connections, episodes) for m in spec.models))
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agentloop-episode")

    async def run(self, task: EpisodeTask):
        label, limits = task.model.label, self.spec.limits
        model = guard(self.retrying[label], self.wire[label], self.ledger, self.cache, limits, self.stop)
        loop = asyncio.get_running_loop()
        if self.store_path is None:
            return await loop.run_in_executor(self.pool, run_one, task, model, limits, self.spec.transcripts)
        from agentloop.store import EpisodeJournal

        # The episode streams its steps into the store with checkpoints: a killed run resumes
        # it from its last checkpoint, not from its first step.
        with EpisodeJournal(self.store_path, task.key) as journal:
            return await loop.run_in_executor(self.pool, run_one, task, model, limits, self.spec.transcripts, journal)

    def close(self, *, wait: bool) -> ExecutorStats:
        self.pool.shutdown(wait=wait, cancel_futures=True)
        stats = ExecutorStats(peak_in_flight=max((w.peak for w in self.wire.values()), default=0))
        if self.cache is not None:
            stats.cache_hits, stats.cache_misses = self.cache.hits, self.cache.misses
            self.cache.close()
        return stats
