"""The response cache answers a request from disk only when everything that shapes the reply is
the same: the model, its arguments (in any order), the messages, the sample and seed, and the
instance a simulated model answers for (its hint)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agentloop.models import Hint
from agentloop.store import CachingModel, ResponseCache, cache_key
from test_async_models import MSGS, Inner


def hint(key: str) -> Hint:
    return Hint(answers=(1,), render=lambda a: str(a[0]), corrupt=lambda i, rng: 0, key=key)


@pytest.fixture
def cache(tmp_path):
    c = ResponseCache(tmp_path / "cache.sqlite")
    yield c
    c.close()


def named(name: str, args: dict | None = None) -> Inner:
    m = Inner(args)
    m.name = name
    return m


def test_a_repeat_is_a_hit_and_anything_that_shapes_the_reply_is_a_miss(cache):
    base = named("test/a", {"temperature": 0.5, "max_tokens": 9})
    CachingModel(base, cache).complete(MSGS, hint=hint("i1"), sample=1, seed=3)
    assert (cache.hits, cache.misses) == (0, 1)

    same = named("test/a", {"max_tokens": 9, "temperature": 0.5})  # the same arguments in another order
    CachingModel(same, cache).complete(MSGS, hint=hint("i1"), sample=1, seed=3)
    assert (cache.hits, cache.misses) == (1, 1) and same.sent == []

    variants = [
        (named("test/b", {"temperature": 0.5, "max_tokens": 9}), MSGS, "i1"),  # another model
        (named("test/a", {"temperature": 0.7, "max_tokens": 9}), MSGS, "i1"),  # other arguments
        (named("test/a", {"temperature": 0.5, "max_tokens": 9}), [{"role": "user", "content": "other"}], "i1"),
        (named("test/a", {"temperature": 0.5, "max_tokens": 9}), MSGS, "i2"),  # another instance's request
    ]
    for i, (model, messages, key) in enumerate(variants):
        CachingModel(model, cache).complete(messages, hint=hint(key), sample=1, seed=3)
        assert model.sent == [(1, 3)], f"variant {i} was answered from another request's reply"
    assert cache.misses == 1 + len(variants)


def test_without_a_hint_the_request_alone_names_the_reply(cache):
    m = named("test/a")
    CachingModel(m, cache).complete(MSGS, sample=0, seed=1)
    CachingModel(m, cache).complete(MSGS, sample=0, seed=1)
    CachingModel(m, cache).complete(MSGS, hint=hint("i1"), sample=0, seed=1)
    assert len(m.sent) == 2 and cache.hits == 1


def test_cache_keys_ignore_argument_order_and_take_values_json_cannot():
    a = cache_key("m", {"x": 1, "y": [1, 2]}, MSGS, 0, 1, "h")
    assert a == cache_key("m", {"y": [1, 2], "x": 1}, MSGS, 0, 1, "h")
    path = cache_key("m", {"grammar": Path("/tmp/g.gbnf")}, MSGS, 0, 1, None)  # a value JSON cannot write
    assert path == cache_key("m", {"grammar": Path("/tmp/g.gbnf")}, MSGS, 0, 1, None)
    assert path != cache_key("m", {"grammar": Path("/tmp/other.gbnf")}, MSGS, 0, 1, None)
    assert len({cache_key("m", {}, MSGS, s, random.Random(s).randrange(99), None) for s in range(50)}) == 50


def test_a_cache_in_a_directory_not_made_yet_is_created(tmp_path):
    c = ResponseCache(tmp_path / "runs" / "deep" / "cache.sqlite")
    assert c.get("k") is None and (tmp_path / "runs" / "deep" / "cache.sqlite").is_file()
    c.close()


def test_a_closed_cache_opens_again_on_use(cache):
    m = CachingModel(named("test/a"), cache)
    m.complete(MSGS, sample=0, seed=1)
    cache.close()
    assert m.complete(MSGS, sample=0, seed=1).text == "reply 0" and len(m.inner.sent) == 1  # a hit, after reopening


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files through /proc")
def test_one_thread_keeps_one_connection_however_many_lookups(cache):
    import os

    cache.get("warm-up")
    before = len(os.listdir("/proc/self/fd"))
    for i in range(100):
        cache.get(f"k{i}")
    assert len(os.listdir("/proc/self/fd")) <= before  # no file opened per lookup


def test_a_cache_key_is_stable_across_versions():
    # a cache written by one version of agentloop answers the next: the key of a request is
    # pinned (change it only with a note that old caches no longer hit)
    key = cache_key("openai/gpt-4o", {"temperature": 0.7}, [{"role": "user", "content": "hi"}], 2, 12345, None)
    assert key == "e63f742da9be87e20e1df91c6e4dcd5ab98c370d9cd19f41bcc744b85729b96a"


def test_asked_asynchronously_another_instances_request_is_a_miss(cache):
    import asyncio

    m = named("test/a")
    asyncio.run(CachingModel(m, cache).acomplete(MSGS, hint=hint("i1"), sample=1, seed=3))
    asyncio.run(CachingModel(m, cache).acomplete(MSGS, hint=hint("i2"), sample=1, seed=3))
    asyncio.run(CachingModel(m, cache).acomplete(MSGS, hint=hint("i1"), sample=1, seed=3))
    assert m.sent == [(1, 3), (1, 3)] and (cache.hits, cache.misses) == (1, 2)
