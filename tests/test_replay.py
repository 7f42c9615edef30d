"""Samples are independent and replayable: every request has its own seed, and the cache only
ever replays the same request of the same episode."""

from __future__ import annotations

import threading

from agentloop.experiment import parse_experiment, run_experiment
from agentloop.loop import run_episode
from agentloop.store import CachingModel, ResponseCache, ResultsStore
from agentloop.types import Completion


class Sampler:
    """A stand-in for a real model at temperature > 0: its reply depends only on its seed."""

    name, args, simulated = "test/sampler", {}, False

    def __init__(self) -> None:
        self.sent = 0
        self._lock = threading.Lock()

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        with self._lock:
            self.sent += 1
        return Completion(text=str((seed or 0) % 2), tokens_in=5, tokens_out=1)

    async def acomplete(self, messages, **kw):
        return self.complete(messages, **kw)


def test_two_seeds_of_one_instance_never_share_a_cached_reply(tmp_path):
    # The classic Hanoi start is the same instance for every seed: the requests' texts are equal,
    # and only the episode identity tells them apart.
    cache = ResponseCache(tmp_path / "c.sqlite")
    inner = Sampler()
    model = CachingModel(inner, cache)
    params = {"disks": 3, "start": "classic"}
    for seed in (1, 2):
        run_episode("hanoi", params, condition="vote", model=model, seed=seed)
    assert cache.hits == 0 and cache.misses == inner.sent
    before = inner.sent
    run_episode("hanoi", params, condition="vote", model=model, seed=2)  # the same episode again
    assert inner.sent == before and cache.hits > 0
    cache.close()


def test_verify_re_asks_are_not_replayed_from_the_first_ask(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    inner = Sampler()
    run_episode("eca", {"width": 6, "steps": 3}, condition="verify", model=CachingModel(inner, cache), seed=0)
    assert cache.hits == 0  # every attempt is its own request
    cache.close()


SPEC = """
name = "replay"
seeds = 3
cache = true
conditions = ["tape", "vote", "verify"]
[[scenarios]]
name = "eca"
params = { rule = 110, width = 8, steps = 2 }
[[models]]
name = "scripted/noisy"
args = { error = 0.2, format = 0.1 }
"""


def _records(out) -> dict:
    with ResultsStore(out / "results.sqlite") as store:
        return {k: r.model_dump_json(exclude={"wall_s"}) for k, r in store.episodes()}


def test_a_cached_experiment_replays_exactly(tmp_path):
    spec = parse_experiment(SPEC)
    first = run_experiment(spec, tmp_path / "a", progress=False)
    assert first.stored == 9 and first.cache_misses > 0 and first.cache_hits == 0
    # A second directory with the same cache: every request is a hit, the records are the same.
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "cache.sqlite").write_bytes((tmp_path / "a" / "cache.sqlite").read_bytes())
    again = run_experiment(spec, tmp_path / "b", progress=False)
    assert again.cache_misses == 0 and again.cache_hits == first.cache_misses
    assert _records(tmp_path / "a") == _records(tmp_path / "b")


def test_a_rotated_key_still_hits_the_cache(tmp_path):
    from agentloop.store import cache_key
    from agentloop._kv import identity_args

    msgs = [{"role": "user", "content": "q"}]
    a = cache_key("openai/x", identity_args({"api_key": "sk-OLD", "temperature": 1}), msgs, 0, 7, None)
    b = cache_key("openai/x", identity_args({"api_key": "sk-NEW", "temperature": 1}), msgs, 0, 7, None)
    assert a == b

    class Keyed(Sampler):
        def __init__(self, key):
            super().__init__()
            self.args = {"api_key": key}

    cache = ResponseCache(tmp_path / "c.sqlite")
    run_episode("eca", {"width": 6, "steps": 1}, condition="tape", model=CachingModel(Keyed("sk-OLD"), cache), seed=0)
    rotated = Keyed("sk-NEW")
    run_episode("eca", {"width": 6, "steps": 1}, condition="tape", model=CachingModel(rotated, cache), seed=0)
    assert rotated.sent == 0 and cache.hits == 6
    cache.close()
