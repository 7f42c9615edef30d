"""The async paths of the model wrappers behave like their sync twins: the budget guard, the
response cache and the local provider, each called both ways on the same script."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agentloop.budget import Budget, BudgetExceeded, GuardedModel
from agentloop.errors import ModelError
from agentloop.models import estimate_tokens
from agentloop.store import CachingModel, ResponseCache
from agentloop.types import Completion, Limits
from test_local_sampling import ECA_STEP, engine, model  # noqa: F401 (engine: the fake llama_cpp fixture)

MSGS = [{"role": "user", "content": "generation 1, cell 0: what is its new value?"}]
PROMPT = estimate_tokens(MSGS)


class Inner:
    """A model that counts what it is sent and replies with a fixed usage, or raises `fail`."""

    name, simulated = "test/inner", True

    def __init__(self, args=None):
        self.args = args or {}
        self.sent: list[tuple[int, int | None]] = []
        self.messages: list = []  # what each request asked
        self.hints: list = []  # and the hint beside it
        self.fail: BaseException | None = None
        self._lock = threading.Lock()

    def _reply(self, sample, seed):
        with self._lock:
            self.sent.append((sample, seed))
        if self.fail is not None:
            raise self.fail
        return Completion(text=f"reply {sample}", tokens_in=PROMPT, tokens_out=3, latency_s=0.25, cost=0.01, retries=1)

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        self.messages.append(messages)
        self.hints.append(hint)
        return self._reply(sample, seed)

    async def acomplete(self, messages, *, hint=None, sample=0, seed=None):
        await asyncio.sleep(0)
        self.messages.append(messages)
        self.hints.append(hint)
        return self._reply(sample, seed)


def call(model, mode: str, **kw) -> Completion:
    if mode == "sync":
        return model.complete(MSGS, **kw)
    return asyncio.run(model.acomplete(MSGS, **kw))


MODES = ["sync", "async"]


# --- the budget guard --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_guarded_call_is_reserved_before_and_settled_to_what_it_cost(mode):
    inner, budget = Inner(), Budget(Limits(max_calls=2))
    g = GuardedModel(inner, [budget])
    out = call(g, mode, sample=4, seed=9)
    assert out.text == "reply 4" and inner.sent == [(4, 9)]
    assert (budget.calls, budget.tokens, budget.cost) == (1, PROMPT + 3, pytest.approx(0.01))
    call(g, mode)
    with pytest.raises(BudgetExceeded, match="episode budget of 2 calls reached") as e:
        call(g, mode)
    assert len(inner.sent) == 2  # the refused request was never sent
    assert g.refused is e.value and e.value.scope == "episode"
    assert (budget.calls, budget.tokens, budget.cost) == (2, 2 * (PROMPT + 3), pytest.approx(0.02))


@pytest.mark.parametrize("mode", MODES)
def test_a_guarded_call_passes_sample_and_seed_through_and_defaults_to_sample_0(mode):
    inner = Inner()
    g = GuardedModel(inner, [Budget(None)])
    call(g, mode)
    call(g, mode, sample=2, seed=8)
    assert inner.sent == [(0, None), (2, 8)] and inner.messages == [MSGS, MSGS]


@pytest.mark.parametrize(("max_tokens", "held"), [(1, 1), (None, 0), (0, 0), ("9", 0)])
@pytest.mark.parametrize("mode", MODES)
def test_only_a_positive_integer_max_tokens_is_held_for_the_reply(mode, max_tokens, held):
    inner = Inner({} if max_tokens is None else {"max_tokens": max_tokens})
    exact = Budget(Limits(max_tokens=PROMPT + held))  # room for the prompt and the held reply, no more
    call(GuardedModel(inner, [exact]), mode)
    assert len(inner.sent) == 1
    if held:
        with pytest.raises(BudgetExceeded):
            call(GuardedModel(inner, [Budget(Limits(max_tokens=PROMPT + held - 1))]), mode)


@pytest.mark.parametrize("mode", MODES)
def test_a_reply_bound_is_held_with_the_prompt(mode):
    # max_tokens=7: the request needs PROMPT + 7 tokens before it is sent.
    inner = Inner({"max_tokens": 7})
    tight = Budget(Limits(max_tokens=PROMPT + 6))
    with pytest.raises(BudgetExceeded, match=f"episode budget of {PROMPT + 6} tokens reached"):
        call(GuardedModel(inner, [tight]), mode)
    assert inner.sent == [] and (tight.calls, tight.tokens) == (0, 0)
    enough = Budget(Limits(max_tokens=PROMPT + 7))
    call(GuardedModel(inner, [enough]), mode)
    assert enough.tokens == PROMPT + 3  # settled to what the reply really used


@pytest.mark.parametrize("mode", MODES)
def test_every_budget_is_asked_and_a_refusal_releases_the_others(mode):
    inner = Inner()
    roomy, full = Budget(Limits(max_calls=5), "experiment"), Budget(Limits(max_calls=1))
    g = GuardedModel(inner, [roomy, full])
    call(g, mode)
    assert (roomy.calls, full.calls) == (1, 1)
    with pytest.raises(BudgetExceeded, match="episode budget of 1 calls"):
        call(g, mode)
    assert (roomy.calls, roomy.tokens) == (1, PROMPT + 3) and len(inner.sent) == 1  # the hold was released


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_request_is_released_from_an_episode_budget_and_raised(mode):
    inner, budget = Inner(), Budget(Limits(max_calls=3))
    inner.fail = ModelError("provider down")
    g = GuardedModel(inner, [budget])
    with pytest.raises(ModelError, match="provider down"):
        call(g, mode)
    assert len(inner.sent) == 1 and (budget.calls, budget.tokens) == (0, 0) and g.refused is None


@pytest.mark.parametrize("mode", MODES)
def test_a_refusal_from_further_down_is_released_and_remembered(mode):
    inner, budget = Inner(), Budget(Limits(max_calls=3))
    inner.fail = BudgetExceeded("experiment", "experiment budget of 9 calls reached")
    g = GuardedModel(inner, [budget])
    with pytest.raises(BudgetExceeded) as e:
        call(g, mode)
    assert e.value is inner.fail and g.refused is inner.fail
    assert (budget.calls, budget.tokens) == (0, 0)


@pytest.mark.parametrize("mode", MODES)
def test_a_stopping_run_sends_nothing(mode):
    inner, budget, stop = Inner(), Budget(None), threading.Event()
    g = GuardedModel(inner, [budget], stop=stop)
    call(g, mode)
    stop.set()
    with pytest.raises(BudgetExceeded, match="the run is stopping") as e:
        call(g, mode)
    assert e.value.scope == "stopped" and len(inner.sent) == 1 and budget.calls == 1
    assert g.refused is e.value


# --- the response cache ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_the_cache_answers_a_repeat_without_asking_and_tells_requests_apart(tmp_path, mode):
    inner = Inner()
    cache = ResponseCache(tmp_path / "cache.sqlite")
    m = CachingModel(inner, cache)
    first = call(m, mode, sample=1, seed=5)
    again = call(m, mode, sample=1, seed=5)
    assert len(inner.sent) == 1 and (cache.hits, cache.misses) == (1, 1)
    assert (again.text, again.tokens_in, again.tokens_out, again.cost) == (first.text, first.tokens_in, 3, 0.01)
    assert again.latency_s == 0.0 and again.retries == 0 and first.latency_s == 0.25 and first.retries == 1
    call(m, mode, sample=2, seed=5)
    call(m, mode, sample=1, seed=6)
    assert inner.sent == [(1, 5), (2, 5), (1, 6)] and cache.misses == 3 and inner.messages == [MSGS] * 3
    assert inner.hints == [None] * 3
    cache.close()
    reopened = CachingModel(Inner(), ResponseCache(tmp_path / "cache.sqlite"))
    assert call(reopened, mode, sample=1, seed=5).text == "reply 1" and reopened.inner.sent == []
    reopened.cache.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_request_is_not_cached(tmp_path, mode):
    inner = Inner()
    inner.fail = ModelError("provider down")
    m = CachingModel(inner, ResponseCache(tmp_path / "cache.sqlite"))
    with pytest.raises(ModelError):
        call(m, mode)
    inner.fail = None
    assert call(m, mode).text == "reply 0" and len(inner.sent) == 2
    m.cache.close()


# --- the local provider ------------------------------------------------------------------------


def test_the_local_provider_answers_the_same_both_ways(engine):
    m = model(temperature=0.8)
    sync = m.complete(ECA_STEP, sample=3, seed=11)
    asyn = asyncio.run(m.acomplete(ECA_STEP, sample=3, seed=11))
    assert (asyn.text, asyn.tokens_in, asyn.tokens_out, asyn.cost) == (sync.text, sync.tokens_in, sync.tokens_out, sync.cost)
    (_, _, a), (_, _, b) = engine.made[0].calls
    assert a == b and a["temperature"] == 0.8 and "seed" in a  # sample and seed reach the engine


@pytest.mark.parametrize("mode", MODES)
def test_the_wrappers_pass_a_simulated_models_hint_through(tmp_path, mode):
    from agentloop.models import Hint

    hint = Hint(answers=(1,), render=str, corrupt=lambda i, rng: 0, key="ep:0:0")
    inner = Inner()
    cache = ResponseCache(tmp_path / "cache.sqlite")
    call(CachingModel(GuardedModel(inner, [Budget(None)]), cache), mode, hint=hint, sample=0, seed=1)
    assert inner.hints == [hint]
    cache.close()
