"""Model selection, arguments, the retry layer, and the litellm provider (offline, mocked)."""

from __future__ import annotations

import asyncio

import pytest

from agentloop.errors import AgentloopError, ModelError
from agentloop.models import Hint, get_model, parse_model_args

MSG = [{"role": "user", "content": "generation 1, cell 0. Neighbourhood: 110. New cell?"}]


def hint(answer=1):
    return Hint(answers=(answer,), render=lambda a: str(a[0]), corrupt=lambda i, rng: 1 - answer, key="t:0:0")


@pytest.mark.parametrize(
    "name, args, fragment",
    [
        ("oracle", {}, "provider/model"),
        ("scripted/wizard", {}, "unknown scripted model"),
        ("scripted/noisy", {"error": 1.5}, "error"),
        ("scripted/noisy", {"rate": 0.1}, "unknown argument 'rate'"),
        ("scripted/oracle", {"retries": 0}, "retries"),
        ("scripted/oracle", {"retry_wait": -1}, "retry_wait"),
    ],
)
def test_bad_names_and_arguments_are_one_line_errors(name, args, fragment):
    with pytest.raises(AgentloopError) as exc:
        get_model(name, **args)
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


def test_model_args_are_parsed_into_numbers_and_booleans():
    assert parse_model_args(["error=0.1", "seed=3", "stream=false", "api_base=http://x"]) == {
        "error": 0.1,
        "seed": 3,
        "stream": False,
        "api_base": "http://x",
    }
    for bad in (["error"], ["=1"], ["a=1", "a=2"]):
        with pytest.raises(AgentloopError):
            parse_model_args(bad)


def test_scripted_models_answer_from_the_hint_and_never_from_the_prompt():
    oracle = get_model("scripted/oracle")
    assert oracle.complete(MSG, hint=hint(1)).text == "1"
    assert oracle.complete(MSG, hint=hint(0)).text == "0"
    with pytest.raises(ModelError):
        oracle.complete(MSG)  # without the loop's ground truth there is nothing to answer from


def test_noisy_error_rate_is_calibrated_and_reproducible():
    noisy = get_model("scripted/noisy", error=0.3, seed=1)
    texts = [noisy.complete(MSG, hint=hint(1), sample=i).text for i in range(2000)]
    wrong = texts.count("0") / len(texts)
    assert 0.27 < wrong < 0.33
    again = [noisy.complete(MSG, hint=hint(1), sample=i).text for i in range(2000)]
    assert texts == again


def test_drift_raises_the_error_with_prompt_length():
    noisy = get_model("scripted/noisy", drift=0.5)
    short = [noisy.complete(MSG, hint=hint(1), sample=i).text for i in range(500)].count("0")
    long_msg = [{"role": "user", "content": "x" * 4000}]  # ≈1,000 tokens → +0.5 error
    long = [noisy.complete(long_msg, hint=hint(1), sample=i).text for i in range(500)].count("0")
    assert short < 50 and 200 < long < 300


def test_async_completion_matches_sync():
    noisy = get_model("scripted/noisy", error=0.5, seed=2)
    sync = [noisy.complete(MSG, hint=hint(1), sample=i).text for i in range(50)]
    async_ = asyncio.run(_gather(noisy))
    assert sync == async_


async def _gather(model):
    return [(await model.acomplete(MSG, hint=hint(1), sample=i)).text for i in range(50)]


def test_retry_layer_retries_transient_errors_and_counts_them():
    faulty = get_model("scripted/faulty", rate=0.5, seed=3, retries=20)
    outs = [faulty.complete(MSG, hint=hint(1)) for _ in range(40)]
    assert all(c.text == "1" for c in outs)
    assert sum(c.retries for c in outs) > 10


def test_litellm_provider_through_mock_response():
    m = get_model("openai/gpt-4o-mini", mock_response="1")
    c = m.complete(MSG)
    assert c.text == "1" and c.tokens_in > 0 and c.tokens_out > 0
    assert not m.simulated
    assert asyncio.run(m.acomplete(MSG)).text == "1"


def test_litellm_transient_errors_are_retried_then_reported():
    m = get_model("openai/gpt-4o-mini", mock_response="litellm.RateLimitError", retries=3, retry_wait=0)
    with pytest.raises(ModelError, match="gave up after 3 attempts"):
        m.complete(MSG)


def test_unknown_litellm_provider_is_a_user_error():
    with pytest.raises(AgentloopError, match="unknown model provider 'nosuch'"):
        get_model("nosuch/thing")


def test_credentials_in_model_args_are_masked_in_records():
    from agentloop.loop import run_episode
    from agentloop.models import redact_args

    assert redact_args({"api_key": "sk-1", "aws_secret": "s", "max_tokens": 5, "temperature": 0}) == {
        "api_key": "***", "aws_secret": "***", "max_tokens": 5, "temperature": 0,
    }
    model = get_model("scripted/oracle")
    r = run_episode("hanoi", {"disks": 1}, model=model, model_args={"api_key": "sk-secret"})
    assert r.model_args == {"api_key": "***"}


def test_async_retries_transient_errors_too():
    faulty = get_model("scripted/faulty", rate=0.5, seed=3, retries=20)

    async def run():
        return [await faulty.acomplete(MSG, hint=hint(1)) for _ in range(40)]

    outs = asyncio.run(run())
    assert all(c.text == "1" for c in outs) and sum(c.retries for c in outs) > 10


def test_faulty_faults_depend_on_the_request_not_on_the_order_requests_arrive():
    """Concurrent episodes reach a shared model in any order; a request's faults (and so its
    retries) must be the same whichever order that is."""
    from agentloop.errors import TransientModelError
    from agentloop.models.scripted import ScriptedArgs, ScriptedModel

    def faults(order):
        model = ScriptedModel("faulty", ScriptedArgs(rate=0.5, seed=3))
        seen = {s: 0 for s in order}
        for seed in order:  # each request tried until it goes through, as the retry layer does
            while True:
                try:
                    model.complete(MSG, hint=hint(1), seed=seed)
                    break
                except TransientModelError:
                    seen[seed] += 1
        return seen

    forward = faults(list(range(50)))
    assert forward == faults(list(reversed(range(50))))
    assert sum(forward.values()) > 20 and 0 in forward.values()  # about one fault per request at rate 0.5
