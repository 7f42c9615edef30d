"""The loop under each condition, with scripted models of known behaviour."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest

from agentloop.conditions import Condition, get_condition
from agentloop.loop import run_episode
from agentloop.errors import ModelError
from agentloop.models import get_model
from agentloop.scenarios import get_scenario
from agentloop.types import Completion, Limits

ECA = {"rule": 110, "width": 16, "steps": 4}
SEEDS = range(10)


def noisy(condition, seed, error=0.2, scenario="eca", params=ECA, **kw):
    return run_episode(
        scenario, params, condition=condition, model="scripted/noisy", model_args={"error": error}, seed=seed, **kw
    )


def test_tape_fails_most_noisy_episodes_while_verify_still_succeeds():
    tape = [noisy("tape", s) for s in SEEDS]
    verify = [noisy("verify", s) for s in SEEDS]
    assert sum(r.success for r in tape) <= 2
    assert all(r.success for r in verify)
    # verify pays for its corrections in calls, and reports the first-attempt accuracy honestly
    assert sum(r.calls for r in verify) > sum(r.steps_total for r in verify)
    first_ok = [s.first_ok for r in verify for s in r.steps]
    assert 0.6 < sum(first_ok) / len(first_ok) < 0.95


def test_vote_has_fewer_step_errors_than_tape_on_the_same_seeds():
    tape_errors = sum(r.step_ok.count(False) for r in (noisy("tape", s) for s in SEEDS))
    vote_errors = sum(r.step_ok.count(False) for r in (noisy("vote", s) for s in SEEDS))
    assert vote_errors < tape_errors / 4


def test_vote_costs_at_least_k_samples_per_step():
    r = run_episode("eca", ECA, condition="vote", model="scripted/oracle", seed=1)
    assert r.calls == 3 * r.steps_total
    assert all(s.samples == 3 for s in r.steps)


def test_faulty_provider_is_retried_and_finishes_like_the_oracle():
    oracle = run_episode("hanoi", {"disks": 5}, condition="tape", model="scripted/oracle", seed=4)
    faulty = run_episode(
        "hanoi", {"disks": 5}, condition="tape", model="scripted/faulty", model_args={"rate": 0.3}, seed=4
    )
    assert faulty.success and faulty.answer == oracle.answer
    assert faulty.retries > 0
    assert faulty.calls == oracle.calls  # a retried request is one call; its retries are counted apart


def test_a_provider_that_keeps_failing_ends_the_episode_with_an_error_not_an_exception():
    model = get_model("scripted/faulty", rate=0.99, retries=2)
    r = run_episode("eca", ECA, condition="tape", model=model, seed=0)
    assert r.status == "error" and not r.success
    assert "gave up after 2 attempts" in r.error


def test_verify_fails_the_step_after_max_retries_and_never_commits_a_rejected_answer():
    cond = get_condition("verify", max_retries=2)
    r = run_episode("eca", ECA, condition=cond, model="scripted/noisy", model_args={"error": 1.0}, seed=0)
    assert r.status == "failed"
    assert len(r.steps) == 1
    step = r.steps[0]
    assert len(step.attempts) == 3 and not step.committed and step.code == "wrong"
    assert [a.verdict.code for a in step.attempts] == ["wrong"] * 3
    assert r.first_error_step == 0 and r.steps_correct == 0


def test_bounds_are_never_exceeded():
    cond = Condition(name="custom", vote=True, verify=True, k=3, max_samples=5, max_retries=2)
    for seed in range(3):
        r = run_episode("eca", ECA, condition=cond, model="scripted/noisy", model_args={"error": 0.5}, seed=seed)
        for s in r.steps:
            assert len(s.attempts) <= cond.max_retries + 1
            assert s.samples <= cond.max_samples * len(s.attempts)
            assert s.calls == s.samples
    r = run_episode("eca", ECA, condition="tape", model="scripted/oracle", seed=0, limits=Limits(max_calls=10))
    assert r.status == "budget" and r.calls == 10 and len(r.steps) == 10
    for condition in ("vote", "full"):  # the budget holds inside a vote too
        r = run_episode("eca", ECA, condition=condition, model="scripted/noisy", model_args={"error": 0.3},
                        seed=0, limits=Limits(max_calls=10))
        assert r.status == "budget" and r.calls == 10


@pytest.mark.parametrize("condition", ["stepwise", "vote", "full"])
def test_token_budget_stops_the_episode_before_it_is_exceeded(condition):
    # The prompt's tokens are reserved before a request is sent: the limit is never passed by
    # more than the replies' own tokens (a vote round included).
    lim = Limits(max_tokens=5000)
    r = run_episode("eca", ECA, condition=condition, model="scripted/noisy", model_args={"error": 0.3}, seed=0, limits=lim)
    assert r.status == "budget"
    assert r.tokens_in <= 5000 < r.tokens_in + r.tokens_out + r.steps[-1].prompt_tokens + 8
    assert r.calls < r.steps_total * (20 if condition != "stepwise" else 1)


def test_stepwise_conversation_grows_and_tape_prompts_stay_small():
    stepwise = run_episode("eca", ECA, condition="stepwise", model="scripted/oracle", seed=0)
    tape = run_episode("eca", ECA, condition="tape", model="scripted/oracle", seed=0)
    sw = [s.prompt_tokens for s in stepwise.steps]
    tp = [s.prompt_tokens for s in tape.steps]
    assert sw[-1] > 10 * sw[0]
    assert max(tp) - min(tp) < 10


def test_drift_makes_late_stepwise_steps_worse():
    records = [
        run_episode("eca", ECA, condition="stepwise", model="scripted/noisy", model_args={"drift": 0.3}, seed=s)
        for s in SEEDS
    ]
    early = sum(r.step_ok[i] for r in records for i in range(0, 16) if i < len(r.step_ok))
    late = sum(r.step_ok[i] for r in records for i in range(48, 64) if i < len(r.step_ok))
    assert late < early


def test_simulated_noise_differs_between_instances_and_is_shared_across_conditions():
    a = noisy("tape", seed=1, error=0.3)
    b = noisy("tape", seed=1, error=0.3, params={**ECA, "rule": 30})
    assert a.step_ok != b.step_ok
    sw = noisy("stepwise", seed=1, error=0.3)
    assert [s.first_ok for s in sw.steps[:10]] == [s.first_ok for s in a.steps[:10]]


def test_local_correctness_is_judged_from_the_agents_own_state():
    # After a wrong cell is committed, later generations are still judged against the agent's
    # own (wrong) row, so later steps can be locally correct while the episode is off track.
    r = noisy("tape", seed=1, error=0.1)
    assert not r.success
    first = r.first_error_step
    assert r.step_ok[first] is False
    assert all(not s.on_track for s in r.steps[first:])
    assert any(s.ok for s in r.steps[first + 1:])
    assert r.steps_correct == first


def test_oneshot_makes_one_call_and_scores_every_step():
    r = noisy("oneshot", seed=2, error=0.05)
    assert r.calls == 1
    assert len(r.step_ok) == r.steps_total == 64


class Garbage:
    """A model that answers nonsense: every step is a `format` verdict, never a crash."""

    name, args, simulated = "test/garbage", {}, True

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        return Completion(text="I think the answer is probably 0 or maybe 1!" * 3, tokens_in=5, tokens_out=5)

    async def acomplete(self, messages, **kw):
        return self.complete(messages, **kw)


@pytest.mark.parametrize("condition", ["oneshot", "stepwise", "tape", "vote", "verify", "full"])
def test_garbage_output_is_a_format_verdict_after_its_retries(condition):
    r = run_episode("eca", ECA, condition=condition, model=Garbage(), seed=0)
    assert r.status == "format" and not r.success
    step = r.steps[0]
    assert step.code == "format" and not step.committed and r.first_error_step == 0
    replies = [x for a in step.attempts for x in a.replies]
    assert replies and all(x.problem and x.text.startswith("I think") for x in replies)
    if condition in ("oneshot", "stepwise", "tape"):  # one attempt: the reply and 2 format re-asks
        assert step.format_retries == r.format_retries == 2 and r.calls == 3 and len(replies) == 3


def test_an_unreadable_reply_is_re_asked_and_the_episode_goes_on():
    # P(three unreadable replies in a row) = 0.001 a step: these episodes go through.
    r = run_episode("eca", ECA, condition="tape", model="scripted/noisy", model_args={"format": 0.1}, seed=1)
    assert r.success and r.format_retries > 0 and r.calls == r.steps_total + r.format_retries
    retried = [s for s in r.steps if s.format_retries]
    assert retried and all(s.ok and s.code == "ok" for s in retried)
    texts = [x.text for s in retried for x in s.attempts[0].replies]
    assert any(x.problem for s in retried for x in s.attempts[0].replies)
    assert any(t.startswith("Let me think") for t in texts)


def test_format_retries_can_be_switched_off():
    cond = get_condition("tape", format_retries=0)
    r = run_episode("eca", ECA, condition=cond, model="scripted/noisy", model_args={"format": 0.3}, seed=1)
    assert r.status == "format" and r.format_retries == 0


def test_a_parser_that_crashes_is_an_unreadable_reply_not_a_crashed_run(monkeypatch):
    sc = get_scenario("eca")

    def broken(text, step):
        raise ValueError("a parser bug")

    monkeypatch.setattr(sc, "parse", broken)
    r = run_episode(sc, ECA, condition="tape", model="scripted/oracle", seed=0)
    assert r.status == "format" and "ValueError" in r.steps[0].attempts[0].replies[0].problem


def test_every_step_keeps_its_transcript():
    r = run_episode("eca", ECA, condition="full", model="scripted/noisy", model_args={"error": 0.3}, seed=2)
    for s in r.steps:
        assert s.attempts and s.votes and sum(s.votes.values()) <= s.samples
        for a in s.attempts:
            assert a.prompt in r.prompts and a.verdict is not None and a.votes is not None
            assert len(a.replies) >= sum(a.votes.values())
            assert all(x.text in ("0", "1") and x.answer == int(x.text) for x in a.replies)
        assert [a.verdict.ok for a in s.attempts][-1] == s.ok
    prompt = r.prompts[r.steps[5].attempts[0].prompt]
    assert prompt[0]["role"] == "system" and "cell" in prompt[-1]["content"]
    bare = run_episode("eca", ECA, condition="full", model="scripted/noisy", model_args={"error": 0.3}, seed=2,
                       transcripts=False)
    assert bare.step_ok == r.step_ok and not bare.prompts
    assert all(not a.replies and a.prompt is None for s in bare.steps for a in s.attempts)


def test_oneshot_steps_record_the_whole_task_prompt():
    r = noisy("oneshot", seed=2, error=0.05)
    assert len({s.prompt_tokens for s in r.steps}) == 1 and r.steps[0].prompt_tokens > 100


class Seeds(Garbage):
    """Records every request's (sample, seed) and answers right."""

    def __init__(self):
        self.seen = []

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        self.seen.append((sample, seed))
        return Completion(text=hint.render(hint.answers), tokens_in=5, tokens_out=1)


def test_every_sample_of_every_step_gets_its_own_seed_and_a_rerun_the_same_ones():
    def seeds(key):
        m = Seeds()
        run_episode("eca", {"rule": 90, "width": 4, "steps": 2}, condition="vote", model=m, seed=0, key=key)
        return m.seen

    a = seeds("episode-a")
    assert len(a) == 8 * 3 and len({s for _, s in a}) == len(a)  # sample i differs from step to step
    assert seeds("episode-a") == a
    assert not {s for _, s in a} & {s for _, s in seeds("episode-b")}


def test_illegal_move_is_rejected_and_not_committed():
    class Illegal(Garbage):
        def complete(self, messages, *, hint=None, sample=0, seed=None):
            return Completion(text="[3, 0, 2]", tokens_in=5, tokens_out=3)  # disk 3 is under disks 1 and 2

    r = run_episode("hanoi", {"disks": 3}, condition="tape", model=Illegal(), seed=0)
    assert r.steps[0].code == "illegal" and not r.steps[0].committed
    assert r.answer == []


def test_vote_samples_of_a_round_are_sent_concurrently():
    import threading

    barrier = threading.Barrier(3, timeout=10)  # breaks unless three requests are in flight together

    class Together(Garbage):
        def complete(self, messages, *, hint=None, sample=0, seed=None):
            barrier.wait()
            return Completion(text=hint.render(hint.answers), tokens_in=5, tokens_out=1)

    r = run_episode("eca", {"rule": 90, "width": 4, "steps": 1}, condition="vote",
                    model=Together(), seed=0)
    assert r.success and r.calls == 12  # one round of k=3 per step, never more


def test_vote_rounds_never_spend_more_samples_than_one_at_a_time_voting():
    # With the leader m ahead no answer can win in fewer than k - m samples, so rounds of
    # exactly that size match sequential voting sample for sample.
    # With two possible answers (eca cells) a vote that ends exactly when the leader is k ahead
    # has k + 2 × (losing votes) samples; a round that overshot would break that parity.
    r = noisy("vote", seed=3, error=0.3)
    assert any(s.samples > 3 for s in r.steps)  # several rounds happened
    decided = [s for s in r.steps if s.samples < 20]  # 20 = max_samples: no winner, the leader is taken
    assert decided and all((s.samples - 3) % 2 == 0 and s.calls == s.samples for s in decided)


def test_samples_sent_in_a_round_that_fails_are_still_counted():
    import threading

    class RefusesThird(Garbage):
        """Answers right, but the third request of the episode fails (a budget refusal, say)."""

        def __init__(self):
            self.sent = 0
            self.lock = threading.Lock()

        def complete(self, messages, *, hint=None, sample=0, seed=None):
            with self.lock:
                self.sent += 1
                n = self.sent
            if n == 3:
                raise ModelError("refused")
            return Completion(text=hint.render(hint.answers), tokens_in=5, tokens_out=1)

    m = RefusesThird()
    r = run_episode("eca", ECA, condition="vote", model=m, seed=0)
    assert r.status == "error" and m.sent == 3
    assert r.calls == 2 and r.tokens_in == 10  # the two replies that came back are paid for


class Parent(TypedDict, total=False):
    """A LangGraph application's state: it shares the subgraph's keys and adds its own."""

    task: dict[str, Any]
    tape: list
    verdicts: list
    record: dict
    summary: str


def test_a_langgraph_parent_graph_embeds_the_loop():
    from langgraph.graph import END, START, StateGraph

    from agentloop.loop import episode_graph

    def summarise(state: Parent) -> Parent:
        return {"summary": f"{state['record']['status']} in {len(state['tape'])} moves"}

    g = StateGraph(Parent)
    g.add_node("agent", episode_graph())
    g.add_node("summarise", summarise)
    g.add_edge(START, "agent")
    g.add_edge("agent", "summarise")
    g.add_edge("summarise", END)
    task = {"scenario": "hanoi", "params": {"disks": 3, "start": "classic"}, "condition": "verify",
            "model": "scripted/noisy", "model_args": {"error": 0.2}, "seed": 1}
    out = g.compile().invoke({"task": task})
    assert out["summary"] == "solved in 7 moves" and out["tape"][0] == [1, 0, 2]
    assert len(out["verdicts"]) == 7 and all(v["ok"] for v in out["verdicts"])
    assert out["record"]["calls"] > 7  # verify re-asked the slips


class Replies:
    """A real-model stand-in answering from a fixed list of texts."""

    name, args, simulated = "test/replies", {}, False

    def __init__(self, texts):
        self.texts = list(texts)

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        return Completion(text=self.texts.pop(0), tokens_in=5, tokens_out=1)

    async def acomplete(self, messages, **kw):
        return self.complete(messages, **kw)


def test_a_task_with_a_checker_and_no_oracle_runs_under_verify():
    from agentloop import Scenario, Verdict
    from agentloop.types import Step

    class EvenSteps(Scenario):
        """Write an even number at each of three steps."""

        checker = "rules"

        def initial_state(self, inst): return ()
        def steps(self, inst): return [Step(i, (i,), f"number {i}") for i in range(3)]
        def apply(self, inst, state, step, answer): return (*state, answer)
        def step_prompt(self, inst, step, window): return "An even number?"
        def parse(self, text, step): return int(text)
        def is_goal(self, inst, state): return len(state) == 3

        def check(self, inst, state, step, answer):
            return Verdict.accept(answer) if answer % 2 == 0 else Verdict.reject("wrong", "odd")

    r = run_episode(EvenSteps(), condition="verify", model=Replies(["2", "3", "4", "6"]), seed=0)
    assert r.success and r.answer is not None and r.calls == 4
    assert [s.on_track for s in r.steps] == [True, True, True] and not r.steps[1].first_ok
    tape = run_episode(EvenSteps(), condition="tape", model=Replies(["2", "3", "4"]), seed=0)
    assert tape.status == "failed" or not tape.steps[1].on_track


def test_arun_episode_gives_the_same_record_from_asyncio():
    import asyncio

    from agentloop import arun_episode

    async def both():
        return await asyncio.gather(*(arun_episode("eca", ECA, condition="vote", model="scripted/noisy",
                                                   model_args={"error": 0.2}, seed=s) for s in (1, 2)))

    a, b = asyncio.run(both())
    assert a.step_ok == noisy("vote", seed=1, error=0.2).step_ok and b.seed == 2


def test_an_instant_model_votes_in_the_loops_thread_and_a_slow_one_in_a_pool():
    # A scripted model without latency answers at once: a thread pool would only add hand-offs.
    import threading

    from agentloop.models import ModelWrapper, get_model

    class Where(ModelWrapper):
        def __init__(self, inner):
            super().__init__(inner)
            self.threads = set()

        def complete(self, messages, **kw):
            self.threads.add(threading.current_thread().name)
            return self.inner.complete(messages, **kw)

    fast, slow = Where(get_model("scripted/oracle")), Where(get_model("scripted/oracle", latency=0.001))
    for m in (fast, slow):
        assert run_episode("hanoi", {"disks": 2}, condition="vote", model=m, seed=0).success
    assert fast.threads == {threading.current_thread().name}
    assert slow.threads and all(t.startswith("agentloop-vote") for t in slow.threads)
