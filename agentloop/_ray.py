"""The Ray executor (`agentloop experiment FILE --executor ray`, the [ray] extra).

Episodes run in threads of `_Runner` actors (one per CPU of the cluster, spread over its
nodes): a runner builds the episode's model from the experiment's model spec and runs
`executors.run_one`, exactly as a local thread does, and returns the record to the driver,
which stores it. What the episodes share lives in one actor, `_Service`, placed on the driver's node (it opens the driver's store): the experiment's
ledger, each model's connection slots, the response cache and the journals of the episodes
running (their step records and checkpoints, streamed into the store as locally, so a killed
run resumes an episode mid-way wherever it ran). A request reserves against the
ledger and takes a connection slot in one call to that actor, and settles in another, so the
experiment's budget holds across every worker as it does across threads (the ledger is the same
SQLite ledger; the budget is never passed), and so does each model's `max_connections`. When the
run stops, the actor refuses every further request (scope "stopped"): episodes in flight end at
their next request, as local ones do.

The cluster is `RAY_ADDRESS` when it is set (`ray start --head` on a node, this command on a
node of it), otherwise a local Ray started for the run and shut down after. A Ray already
initialised in this process (`ray.init(...)` before `run_experiment`) is used as it is.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from agentloop.budget import BudgetExceeded, Hold
from agentloop.errors import AgentloopError
from agentloop.executors import ExecutorStats, guard, run_one
from agentloop.types import Completion, Limits

__all__ = ["RayExecutor"]


def _import_ray():
    try:
        import ray
    except ImportError:
        raise AgentloopError(
            "--executor ray needs the [ray] extra: pip install 'agentloop[ray]' (ray on every node of the cluster)"
        ) from None
    return ray


def _check_reachable(address: str) -> None:
    """A cluster address that nothing answers is one line now: Ray itself retries for minutes."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        raise AgentloopError(
            f"cannot reach the Ray cluster at RAY_ADDRESS={address} ({exc.strerror or exc}); is `ray start --head` "
            "running there?"
        ) from None


class _Service:
    """What the episodes share, in one actor on the driver's node: the ledger, the connection
    slots of each model, the response cache, the running episodes' journals and the stop flag.
    Async: a request that waits for a slot does not hold up the others."""

    def __init__(self, store_path: str, budget: Limits, run_id: int, slots: dict[str, int],
                 cache_path: str | None) -> None:
        from agentloop.store import Ledger, ResponseCache

        self.store_path = Path(store_path)
        self.ledger = Ledger(self.store_path, budget, run_id)
        self.journals: dict[str, Any] = {}  # episode key → its EpisodeJournal, while it runs
        self.slots = {label: asyncio.Semaphore(n) for label, n in slots.items()}
        self.in_flight = {label: 0 for label in slots}
        self.peak = 0
        self.stopped = False
        self.cache = ResponseCache(cache_path) if cache_path is not None else None

    async def reserve(self, label: str, tokens: int, prompt: int) -> tuple[str, Any, Any]:
        """("held", hold, None), or ("refused", scope, message): nothing may be sent."""
        if self.stopped:
            return "refused", "stopped", "the run is stopping"
        try:
            hold = self.ledger.reserve(tokens, prompt)
        except BudgetExceeded as exc:
            return "refused", exc.scope, str(exc)
        await self.slots[label].acquire()
        self.in_flight[label] += 1
        self.peak = max(self.peak, self.in_flight[label])
        return "held", hold, None

    def _free(self, label: str) -> None:
        self.in_flight[label] -= 1
        self.slots[label].release()

    async def settle(self, label: str, hold: Hold, c: Completion | None) -> None:
        self._free(label)
        self.ledger.settle(hold, c)

    async def release(self, label: str, hold: Hold) -> None:
        self._free(label)
        self.ledger.release(hold)

    async def stop(self) -> None:
        self.stopped = True

    async def cache_get(self, key: str) -> Completion | None:
        return self.cache.get(key)

    async def cache_put(self, key: str, model: str, c: Completion) -> None:
        self.cache.put(key, model, c)

    async def journal(self, key: str, method: str, *args: Any) -> Any:
        """One call of an episode's journal (`EpisodeJournal`, on the store), or "close"."""
        from agentloop.store import EpisodeJournal

        if method == "close":
            j = self.journals.pop(key, None)
            if j is not None:
                j.close()
            return None
        if method not in _JOURNAL_METHODS:
            raise ValueError(f"not a journal method: {method}")
        j = self.journals.get(key)
        if j is None:
            j = self.journals[key] = EpisodeJournal(self.store_path, key)
        return getattr(j, method)(*args)

    async def close(self) -> ExecutorStats:
        for j in self.journals.values():
            j.close()
        self.journals.clear()
        self.ledger.close()
        stats = ExecutorStats(peak_in_flight=self.peak)
        if self.cache is not None:
            stats.cache_hits, stats.cache_misses = self.cache.hits, self.cache.misses
            self.cache.close()
        return stats


class _RemoteLedger:
    """In a worker: the experiment's ledger and one model's connection slots, in the service
    actor (the budget interface `GuardedModel` asks before every request)."""

    def __init__(self, service, label: str, stop: threading.Event) -> None:
        self.service, self.label, self.stop = service, label, stop
        self._unsettled: list = []
        self._lock = threading.Lock()

    def exhausted(self) -> bool:
        return False  # the driver asks its own ledger before an episode starts

    def reserve(self, tokens: int, prompt: int) -> Hold:
        import ray

        state, a, b = ray.get(self.service.reserve.remote(self.label, tokens, prompt))
        if state == "refused":
            if a == "stopped":
                self.stop.set()
            raise BudgetExceeded(a, b)
        return a

    # Settling is sent without waiting for it (a round trip fewer per request): the call was
    # counted when it was reserved, so the bound on calls never depends on it; `flush` waits for
    # every settlement before the episode returns, so none is lost when the run ends.
    def settle(self, hold: Hold, c: Completion | None) -> None:
        self._sent(self.service.settle.remote(self.label, hold, c))

    def release(self, hold: Hold) -> None:
        self._sent(self.service.release.remote(self.label, hold))

    def _sent(self, ref) -> None:
        with self._lock:
            self._unsettled.append(ref)

    def flush(self) -> None:
        import ray

        with self._lock:
            refs, self._unsettled = self._unsettled, []
        ray.get(refs)


# What a running episode asks of its journal (`agentloop.loop._durable.Journal`).
_JOURNAL_METHODS = ("load", "discard", "save", "step_ok", "committed_answers")


class _RemoteJournal:
    """In a worker: the episode's journal, kept by the service actor on the driver's node. Every
    call waits for its answer: a checkpoint is on disk before the episode goes on."""

    def __init__(self, service, key: str) -> None:
        self.service, self.key = service, key

    def _call(self, method: str, *args: Any) -> Any:
        import ray

        return ray.get(self.service.journal.remote(self.key, method, *args))

    def load(self):
        return self._call("load")

    def discard(self) -> None:
        self._call("discard")

    def save(self, records, prompts, checkpoint) -> None:
        self._call("save", records, prompts, checkpoint)

    def step_ok(self, upto: int) -> bytes:
        return self._call("step_ok", upto)

    def committed_answers(self, upto: int) -> list:
        return self._call("committed_answers", upto)

    def close(self) -> None:
        self._call("close")


class _RemoteCache:
    """In a worker: the response cache, in the service actor."""

    def __init__(self, service) -> None:
        self.service = service

    def get(self, key: str) -> Completion | None:
        import ray

        return ray.get(self.service.cache_get.remote(key))

    def put(self, key: str, model: str, c: Completion) -> None:
        import ray

        ray.get(self.service.cache_put.remote(key, model, c))


def _episode(task, limits: Limits, transcripts: bool, service, cache: bool):
    """One episode in a runner: the same layers as a local thread's, with the shared ones
    in the service actor. Returns (record, (scope, message) of the first refusal, or None)."""
    from agentloop.models import get_model

    retrying = get_model(task.model.name, **task.model.args)
    stop = threading.Event()  # set once the service says the run is stopping
    ledger = _RemoteLedger(service, task.model.label, stop)
    model = guard(retrying, retrying.inner, ledger, _RemoteCache(service) if cache else None, limits, stop)
    # Steps and checkpoints stream into the store as locally: a killed run resumes mid-episode.
    journal = _RemoteJournal(service, task.key)
    try:
        rec, refused = run_one(task, model, limits, transcripts, journal)
    finally:
        ledger.flush()
        journal.close()
    return rec, None if refused is None else (refused.scope, str(refused))


class _Runner:
    """A worker process that runs episodes in threads (a threaded actor): as the local executor
    does in this process, so episodes that wait on a model do not each hold a CPU."""

    def run(self, task, limits: Limits, transcripts: bool, service, cache: bool):
        return _episode(task, limits, transcripts, service, cache)


class RayExecutor:
    """Episodes on `_Runner` actors (one CPU each, one per CPU of the cluster at most, spread
    over its nodes), the shared state in a `_Service` actor on the driver's node."""

    def __init__(self, spec, out: Path, *, store_path: Path, run_id: int, stop: threading.Event, episodes: int) -> None:
        ray = _import_ray()
        self.ray, self.spec, self.stop = ray, spec, stop
        address = os.environ.get("RAY_ADDRESS") or None
        if address is not None and address.startswith("ray://"):
            raise AgentloopError(
                f"RAY_ADDRESS={address}: Ray Client is not supported; run agentloop on a node of the cluster "
                "(RAY_ADDRESS=HEAD:6379): its store and ledger are on the driver's disk"
            )
        self.started = not ray.is_initialized()
        if self.started and address is not None:
            _check_reachable(address)
        if self.started:
            try:
                ray.init(address=address, include_dashboard=False, logging_level="WARNING")
            except ConnectionError as exc:
                raise AgentloopError(f"cannot connect to the Ray cluster at RAY_ADDRESS={address}: {exc}") from None
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # The driver admits at most max_connections episodes of each model at once: that many
        # threads in all, over as many runners as the cluster has CPUs (a simulator is CPU-bound).
        in_flight = max(1, sum(min(m.max_connections, episodes) for m in spec.models))
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        self.service = ray.remote(_Service).options(
            num_cpus=0, scheduling_strategy=here, max_concurrency=max(1000, 25 * in_flight)  # a vote's samples wait too
        ).remote(
            str(store_path), spec.budget, run_id, {m.label: m.max_connections for m in spec.models},
            str(out / "cache.sqlite") if spec.cache else None,
        )
        n = min(cpus, in_flight)
        runner = ray.remote(_Runner).options(
            num_cpus=1, max_concurrency=-(-in_flight // n), scheduling_strategy="SPREAD",
            max_restarts=2, max_task_retries=2,  # an episode is stored only when it returns: safe to run again
        )
        self.runners = [runner.remote() for _ in range(n)]
        self.load = [0] * n  # episodes in flight on each runner
        self._closed = threading.Event()
        # The driver's stop (Ctrl-C, a budget spent, failures in a row) reaches the workers through the service.
        self._watch = threading.Thread(target=self._forward_stop, name="agentloop-ray-stop", daemon=True)
        self._watch.start()

    def _forward_stop(self) -> None:
        while not self._closed.is_set():
            if self.stop.wait(0.2):
                self.service.stop.remote()
                return

    async def run(self, task):
        i = min(range(len(self.runners)), key=self.load.__getitem__)  # the least busy runner
        self.load[i] += 1
        try:
            rec, refused = await self.runners[i].run.remote(
                task, self.spec.limits, self.spec.transcripts, self.service, self.spec.cache
            )
        finally:
            self.load[i] -= 1
        return rec, None if refused is None else BudgetExceeded(*refused)

    def close(self, *, wait: bool) -> ExecutorStats:
        ray = self.ray
        self._closed.set()
        try:
            if not wait:  # episodes still in flight end at their next request, unstored
                ray.get(self.service.stop.remote())
            for r in self.runners:
                ray.kill(r)
            stats = ray.get(self.service.close.remote())
            ray.kill(self.service)
        finally:
            if self.started:
                ray.shutdown()
        return stats

    def __repr__(self) -> str:  # pragma: no cover - diagnostics
        return f"RayExecutor(started={self.started})"
