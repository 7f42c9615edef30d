"""The local provider without llama.cpp: what it sends to the engine and what it makes of the
reply, the engine's life cycle, and the seeds of sampled requests over their whole range.

A fake `llama_cpp` module stands in for the engine (the real one runs in tests/test_local_model.py,
marked `local_model`); it records every call.
"""

from __future__ import annotations

import sys
import types

import pytest

from agentloop.errors import ModelError
from agentloop.models import local
from agentloop.models._local_prompts import Rendered
from agentloop.models._weights import CATALOGUE
from agentloop.models.local import LocalArgs, LocalModel

ECA_STEP = [
    {"role": "system", "content": "Elementary cellular automaton, rule 110, on a ring of 4 cells.\n"
     "Rule table (left cell right -> new cell):\n111 -> 0\n110 -> 1\n101 -> 1\n100 -> 0\n011 -> 1\n010 -> 1\n001 -> 1\n000 -> 0"},
    {"role": "user", "content": "generation 1, cell 0. Neighbourhood (left cell right): 110. New cell? Answer with 0 or 1 only."},
]
CHAT = [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "Again."}]


class FakeLlama:
    """Records its construction and every request; replies with `reply`, or raises `error`."""

    made: list[FakeLlama] = []
    reply: str | None = "  1 \n"
    error: Exception | None = None

    def __init__(self, **kw):
        self.kw, self.calls, self.closed = kw, [], False
        FakeLlama.made.append(self)

    def _answer(self, kind, first, kw, body):
        self.calls.append((kind, first, kw))
        if FakeLlama.error is not None:
            raise FakeLlama.error
        return {"choices": [body], "usage": {"prompt_tokens": 71, "completion_tokens": 2}}

    def create_completion(self, prompt, **kw):
        return self._answer("completion", prompt, kw, {"text": FakeLlama.reply})

    def create_chat_completion(self, messages, **kw):
        return self._answer("chat", messages, kw, {"message": {"content": FakeLlama.reply}})

    def close(self):
        self.closed = True


@pytest.fixture
def engine(monkeypatch, tmp_path):
    fake = types.ModuleType("llama_cpp")
    fake.Llama = FakeLlama
    monkeypatch.setitem(sys.modules, "llama_cpp", fake)
    monkeypatch.setattr(local, "_ENGINE", {})  # this test's engines only; a real one stays loaded
    monkeypatch.setattr(local, "_VERIFIED", {})
    checked = []
    monkeypatch.setattr(local, "verified_path", lambda w: checked.append(w.name) or tmp_path / f"{w.name}.gguf")
    monkeypatch.setattr(FakeLlama, "made", [])
    monkeypatch.setattr(FakeLlama, "reply", "  1 \n")
    monkeypatch.setattr(FakeLlama, "error", None)
    FakeLlama.checked = checked
    return FakeLlama


def model(name="gemma3-270m", **args) -> LocalModel:
    return LocalModel(CATALOGUE[name], LocalArgs(**args))


def test_a_step_is_sent_as_a_greedy_completion_and_the_reply_is_stripped(engine):
    m = model()
    c = m.complete(ECA_STEP)
    (llm,) = engine.made
    ((kind, prompt, kw),) = llm.calls
    r = m.render(ECA_STEP)
    assert kind == "completion" and prompt == r.prompt and r.prompt.endswith("pattern 110: new cell")
    assert kw == {"max_tokens": r.max_tokens, "stop": list(r.stop), "temperature": 0.0, "top_k": 1}
    assert (c.text, c.tokens_in, c.tokens_out, c.cost) == ("1", 71, 2, 0.0)  # llama.cpp's own counts
    assert 0 <= c.latency_s < 60


def test_a_vote_sample_is_sent_with_its_temperature_and_seed(engine):
    m = model(temperature=0.9, seed=4)
    m.complete(ECA_STEP, sample=2, seed=77)
    m.complete(ECA_STEP, sample=2, seed=78)
    (llm,) = engine.made
    (_, _, a), (_, _, b) = llm.calls
    assert a["temperature"] == b["temperature"] == 0.9 and "top_k" not in a
    assert a["seed"] != b["seed"] and a == {**a, **m._sampling(m.render(ECA_STEP), 2, 77)}


def test_a_conversation_for_a_chat_model_goes_through_its_chat_template(engine):
    m = model("smollm2-135m", max_tokens=33)
    engine.reply = None  # a chat reply may have no content at all
    c = m.complete(CHAT)
    ((kind, messages, kw),) = engine.made[0].calls
    assert kind == "chat" and messages == CHAT
    assert kw == {"max_tokens": 33, "temperature": 0.0, "top_k": 1}
    assert c.text == "" and c.tokens_in == 71


def test_a_conversation_for_a_base_model_is_sent_as_a_transcript_with_its_bounds(engine):
    m = model(max_tokens=21)
    m.complete(CHAT)
    ((kind, prompt, kw),) = engine.made[0].calls
    r = m.render(CHAT)
    assert kind == "completion" and prompt == r.prompt == "Say hello.\nAnswer: hello\n\nAgain.\nAnswer:"
    assert kw["max_tokens"] == r.max_tokens <= 21 and kw["stop"] == list(r.stop) and r.stop


def test_a_prompt_too_long_for_the_context_is_a_model_error_naming_the_model(engine):
    engine.error = ValueError("Requested tokens (5000) exceed context window of 4096")
    with pytest.raises(ModelError, match=r"^local/gemma3-270m: Requested tokens \(5000\) exceed context window"):
        model().complete(ECA_STEP)


def test_one_engine_is_loaded_once_and_replaced_when_its_settings_change(engine, tmp_path):
    a = model(n_ctx=2048, n_threads=2)
    a.complete(ECA_STEP)
    a.complete(ECA_STEP, sample=1, seed=3)
    assert len(engine.made) == 1 and len(engine.made[0].calls) == 2
    assert engine.made[0].kw == {
        "model_path": str(tmp_path / "gemma3-270m.gguf"), "n_ctx": 2048, "n_threads": 2, "n_threads_batch": 2,
        "seed": 0, "verbose": False,
    }
    assert a.load() is engine.made[0]
    assert engine.checked == ["gemma3-270m"]  # the weights are checked once per process
    b = model(n_ctx=4096, n_threads=2)
    b.complete(ECA_STEP)
    assert len(engine.made) == 2 and engine.made[0].closed and not engine.made[1].closed  # one model in memory
    assert engine.made[1].kw["n_ctx"] == 4096 and engine.checked == ["gemma3-270m"]


def test_the_model_is_named_by_its_weights_and_records_only_changed_arguments():
    m = model("smollm2-135m", temperature=1.0, seed=3)
    assert m.name == "local/smollm2-135m" and not m.simulated
    assert m.args == {"temperature": 1.0, "seed": 3}
    assert model().args == {}


# --- sampling seeds over their whole range ----------------------------------------------------


def _rendered(prompt="p", messages=(), feedback=False):
    return Rendered(kind="generic", prompt=prompt, messages=list(messages), feedback=feedback)


@pytest.mark.parametrize("model_seed", [0, 1, 12345, 2**40 + 7])
def test_sample_seeds_are_31_bit_integers_and_distinct_per_request(model_seed):
    m = model(seed=model_seed)
    seeds = [m._sampling(_rendered(), 1, s)["seed"] for s in range(0, 2**31, 2**31 // 300)]
    assert all(type(s) is int and 0 <= s < 2**31 for s in seeds)
    assert len(set(seeds)) == len(seeds)  # no two requests share a draw
    assert max(seeds) >= 2**30  # the whole 31-bit range is used, not a narrow band


def test_without_a_request_seed_the_seed_depends_on_the_prompt_and_the_sample():
    m = model()
    by_prompt = {m._sampling(_rendered(prompt=p), 1, None)["seed"] for p in ("a", "b", "c")}
    assert len(by_prompt) == 3
    chat = [[{"role": "user", "content": t}] for t in ("a", "b")]
    by_messages = {m._sampling(_rendered(prompt=None, messages=msgs), 1, None)["seed"] for msgs in chat}
    assert len(by_messages) == 2
    by_sample = {m._sampling(_rendered(), s, None)["seed"] for s in range(1, 40)}
    assert len(by_sample) == 39
    assert all(type(s) is int and 0 <= s < 2**31 for s in by_prompt | by_messages | by_sample)


def test_only_a_first_answer_without_feedback_is_greedy():
    m = model(temperature=0.5)
    greedy = {"temperature": 0.0, "top_k": 1}
    assert m._sampling(_rendered(), 0, 9) == greedy
    assert m._sampling(_rendered(), 0, None) == greedy
    for sample, feedback in ((1, False), (0, True), (1, True), (7, False)):
        out = m._sampling(_rendered(feedback=feedback), sample, 9)
        assert out["temperature"] == 0.5 and set(out) == {"temperature", "seed"}
    assert model(temperature=0.0)._sampling(_rendered(feedback=True), 5, 9) == greedy  # temperature 0: always greedy


def test_a_sampled_chat_request_carries_the_requests_own_seed(engine):
    m = model("smollm2-135m", temperature=0.6)
    m.complete(CHAT, sample=1, seed=5)
    m.complete(CHAT, sample=1, seed=6)
    m.complete(CHAT, sample=1, seed=5)
    (_, _, a), (_, _, b), (_, _, c) = engine.made[0].calls
    assert a["temperature"] == b["temperature"] == 0.6
    assert a["seed"] != b["seed"] and a == c  # the request's seed decides the draw, and replays


def test_another_model_with_the_same_settings_loads_its_own_weights(engine, tmp_path):
    model("gemma3-270m").complete(ECA_STEP)
    model("smollm2-135m").complete(CHAT)
    first, second = engine.made
    assert first.kw["model_path"] == str(tmp_path / "gemma3-270m.gguf") and first.closed
    assert second.kw["model_path"] == str(tmp_path / "smollm2-135m.gguf") and not second.closed
    assert engine.checked == ["gemma3-270m", "smollm2-135m"]


@pytest.mark.parametrize("name", ["gemma3-270m", "smollm2-135m"])
def test_make_builds_the_named_model_when_its_weights_are_installed(monkeypatch, name):
    asked = []
    monkeypatch.setattr(local, "part_paths", lambda w: asked.append(w.name) or ["part"])
    m = local.make(name, {"temperature": 0.3})
    assert asked == [name] and m.weights is CATALOGUE[name] and m.name == f"local/{name}"
    assert m.args == {"temperature": 0.3}


def test_a_replys_latency_is_the_time_the_engine_took(engine, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(local, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    answer = engine._answer

    def slow(self, *a):  # the engine takes a quarter of a second of the (fake) clock
        clock[0] += 0.25
        return answer(self, *a)

    monkeypatch.setattr(engine, "_answer", slow)
    assert model().complete(ECA_STEP).latency_s == 0.25
