"""The loop at its edges: records handed to a sink as the episode runs, the cost budget at its
limit, what a `format` verdict keeps of an unreadable reply, a whole-task reply that stops early,
and the warning a parser bug leaves in the log."""

from __future__ import annotations

import logging

import pytest

from agentloop.conditions import get_condition
from agentloop.loop import run_episode
from agentloop.scenarios import get_scenario
from agentloop.types import Completion, Limits

ECA = {"rule": 110, "width": 4, "steps": 3}


class Fixed:
    """A simulated model that answers right (from the hint) or with a fixed text, at a fixed cost."""

    name, args, simulated = "test/fixed", {}, True

    def __init__(self, text=None, cost=None, tokens_in=7):
        self.text, self.cost, self.tokens_in, self.sent = text, cost, tokens_in, 0

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        self.sent += 1
        text = self.text if self.text is not None else hint.render(hint.answers)
        return Completion(text=text, tokens_in=self.tokens_in, tokens_out=1, cost=self.cost)

    async def acomplete(self, messages, **kw):
        return self.complete(messages, **kw)


def _without_timing(records):
    return [r.model_dump(exclude={"latency_s"}) for r in records]


@pytest.mark.parametrize("condition", ["tape", "full", "stepwise"])
def test_a_sink_receives_every_step_record_in_order_and_the_record_keeps_the_totals(condition):
    batches = []
    kw = dict(condition=condition, model="scripted/noisy", model_args={"error": 0.2}, seed=3)
    plain = run_episode("eca", ECA, **kw)
    sunk = run_episode("eca", ECA, sink=lambda recs, prompts: batches.append((list(recs), dict(prompts))), **kw)
    records = [r for recs, _ in batches for r in recs]
    assert batches and all(recs for recs, _ in batches)
    assert _without_timing(records) == _without_timing(plain.steps)
    assert [r.index for r in records] == list(range(len(plain.steps)))
    # every request a record names came in the batch that carried it (or an earlier one)
    seen: dict = {}
    for recs, prompts in batches:
        seen.update(prompts)
        assert all(a.prompt in seen for r in recs for a in r.attempts)
    assert seen == plain.prompts
    # the returned record keeps the totals and the per-step outcome, not the steps
    assert sunk.steps == [] and sunk.prompts == {}
    assert (sunk.step_ok, sunk.calls, sunk.status, sunk.steps_correct, sunk.first_error_step) == (
        plain.step_ok, plain.calls, plain.status, plain.steps_correct, plain.first_error_step)


def test_without_a_sink_the_record_keeps_every_step():
    r = run_episode("eca", ECA, condition="tape", model="scripted/oracle", seed=0)
    assert len(r.steps) == r.steps_total == 12 and r.prompts


@pytest.mark.parametrize(("cost", "calls"), [(0.25, 4), (0.3, 4), (0.5, 2), (1.0, 1)])
def test_the_cost_budget_stops_once_the_spend_reaches_the_limit(cost, calls):
    m = Fixed(cost=cost)
    r = run_episode("eca", ECA, condition="tape", model=m, seed=0, limits=Limits(max_cost=1.0))
    assert r.status == "budget" and r.calls == m.sent == calls
    assert r.cost == pytest.approx(cost * calls) and r.cost >= 1.0


def test_no_cost_reported_means_no_cost_and_no_cost_budget_spent():
    m = Fixed(cost=None)
    r = run_episode("eca", ECA, condition="tape", model=m, seed=0, limits=Limits(max_cost=0.01))
    assert r.success and r.cost is None and r.calls == 12


def test_a_call_budget_is_exact():
    m = Fixed()
    r = run_episode("eca", ECA, condition="tape", model=m, seed=0, limits=Limits(max_calls=5))
    assert r.status == "budget" and r.calls == m.sent == 5 and len(r.steps) == 5
    r = run_episode("eca", ECA, condition="tape", model=Fixed(), seed=0, limits=Limits(max_calls=12))
    assert r.success and r.calls == 12  # exactly enough is enough


@pytest.mark.parametrize(("text", "observed"), [("x" * 300, "x" * 200), ("", None), ("maybe", "maybe")])
def test_a_format_verdict_keeps_at_most_200_characters_of_the_reply(text, observed):
    cond = get_condition("tape", format_retries=0)
    r = run_episode("eca", ECA, condition=cond, model=Fixed(text=text), seed=0)
    assert r.status == "format"
    v = r.steps[0].attempts[-1].verdict
    assert v.code == "format" and v.observed == observed and v.reason.startswith("could not read an answer (")


def test_a_whole_task_reply_that_stops_early_leaves_the_next_step_unanswered():
    sc = get_scenario("eca")
    inst = sc.generate(sc.Params(**ECA), 0)
    state, first_row = sc.initial_state(inst), []
    for step in sc.steps(inst)[:4]:
        first_row.append(sc.solve(inst, state, step))
        state = sc.apply(inst, state, step, first_row[-1])
    m = Fixed(text=sc.format_trajectory(inst, first_row))  # generation 1 only
    r = run_episode("eca", ECA, condition="oneshot", model=m, seed=0)
    assert m.sent == 1 and r.calls == 1
    assert r.step_ok == [True] * 4 + [False] and r.status == "format"
    gap = r.steps[4]
    assert gap.code == "format" and not gap.committed and "the reply ends before this step" in gap.attempts[-1].verdict.reason
    assert {s.prompt_tokens for s in r.steps} == {7}  # every step was answered in the whole-task context


def test_a_parser_bug_is_logged_once_per_reply_as_a_warning(monkeypatch, caplog):
    sc = get_scenario("eca")

    def broken(text, step):
        raise KeyError("a parser bug")

    monkeypatch.setattr(sc, "parse", broken)
    with caplog.at_level(logging.WARNING, logger="agentloop.loop"):
        r = run_episode(sc, ECA, condition="tape", model="scripted/oracle", seed=0)
    assert r.status == "format" and r.steps[0].attempts[-1].replies[0].problem == "the parser failed (KeyError)"
    warnings = [rec for rec in caplog.records if rec.name == "agentloop.loop" and rec.levelno == logging.WARNING]
    assert len(warnings) == 3  # the reply and its two format re-asks
    assert all("parser.failed" in w.getMessage() and "scenario='eca'" in w.getMessage()
               and "KeyError: 'a parser bug'" in w.getMessage() for w in warnings)


# --- oneshot ------------------------------------------------------------------------------------


def test_oneshot_counts_its_one_call_at_the_first_step_and_keeps_the_parsed_reply():
    r = run_episode("eca", ECA, condition="oneshot", model="scripted/oracle", seed=0)
    assert r.success and r.calls == 1
    assert [s.samples for s in r.steps] == [1] + [0] * 11 and sum(s.calls for s in r.steps) == 1
    (reply,) = r.steps[0].attempts[0].replies
    assert reply.problem is None and reply.answer == [s.answer for s in r.steps]  # the whole trajectory, as JSON


def test_oneshot_noise_is_drawn_per_instance_and_slips_are_plausible():
    # scripted/noisy corrupts whole-task answers from the true state of each step
    kw = dict(condition="oneshot", model="scripted/noisy", model_args={"error": 0.3})
    patterns = {tuple(run_episode("eca", ECA, seed=s, **kw).step_ok) for s in range(4)}
    assert len(patterns) > 1  # a different instance, different draws
    r = run_episode("multiply", {"n": 3, "m": 2}, seed=1, **kw)  # multiply's slips read the state and the step
    assert r.calls == 1 and not all(r.step_ok) and r.status in ("failed", "solved")
    assert all(s.code in ("ok", "wrong") for s in r.steps)


def test_a_whole_task_parser_bug_is_an_unreadable_reply(monkeypatch, caplog):
    sc = get_scenario("eca")

    def broken(inst, text):
        raise IndexError("a parser bug")

    monkeypatch.setattr(sc, "parse_trajectory", broken)
    with caplog.at_level(logging.WARNING, logger="agentloop.loop"):
        r = run_episode(sc, ECA, condition="oneshot", model="scripted/oracle", seed=0)
    assert r.status == "format" and r.calls == 3  # the reply and two format re-asks
    assert r.steps[0].attempts[-1].verdict.reason == "could not read an answer (the parser failed (IndexError))"
    assert sum("parser.failed" in rec.getMessage() for rec in caplog.records) == 3


# --- stepwise -----------------------------------------------------------------------------------


class Recorder(Fixed):
    def __init__(self):
        super().__init__()
        self.requests = []

    def complete(self, messages, **kw):
        self.requests.append([dict(m) for m in messages])
        return super().complete(messages, **kw)


def test_a_stepwise_question_is_the_bare_step_prompt_when_nothing_was_revealed():
    sc = get_scenario("eca")
    inst = sc.generate(sc.Params(**ECA), 0)
    m = Recorder()
    run_episode("eca", ECA, condition="stepwise", model=m, seed=0)
    steps = sc.steps(inst)
    for i, request in enumerate(m.requests):
        assert request[-1] == {"role": "user", "content": sc.step_prompt(inst, steps[i], None)}


# --- the subgraph -------------------------------------------------------------------------------


def test_the_subgraph_takes_limits_as_a_dict_and_reports_each_steps_verdict():
    from agentloop.loop import episode_graph

    task = {"scenario": "eca", "params": ECA, "condition": "tape", "model": "scripted/noisy",
            "model_args": {"error": 0.5}, "seed": 2, "limits": {"max_calls": 6}}
    out = episode_graph().invoke({"task": task})
    rec = out["record"]
    assert rec["status"] == "budget" and rec["calls"] == 6 and len(out["verdicts"]) == 6
    assert [set(v) for v in out["verdicts"]] == [{"index", "ok", "code", "reason"}] * 6
    assert [v["index"] for v in out["verdicts"]] == list(range(6))
    for v, s in zip(out["verdicts"], rec["steps"]):
        assert (v["ok"], v["code"]) == (s["ok"], s["code"])
        assert v["reason"] == ("" if s["ok"] else f"{s['answer']} is not the correct answer for {s['label']}")
    assert not all(v["ok"] for v in out["verdicts"])
    assert out["tape"] == [s["answer"] for s in rec["steps"] if s["committed"]]


def test_the_subgraphs_record_is_plain_json_even_for_tuple_answers():
    import json

    from agentloop import Scenario, Verdict
    from agentloop.loop import episode_graph
    from agentloop.types import Step

    class Pairs(Scenario):
        """Write (i, i) at step i; answers are tuples, and so are their JSON views."""

        name = "test-pairs-json"
        checker = "rules"

        def initial_state(self, inst): return ()
        def steps(self, inst): return [Step(i, (i,), f"pair {i}") for i in range(2)]
        def apply(self, inst, state, step, answer): return (*state, answer)
        def step_prompt(self, inst, step, window): return "A pair?"
        def parse(self, text, step): return tuple(int(x) for x in text.split(","))
        def to_json_answer(self, answer): return tuple(answer)
        def is_goal(self, inst, state): return len(state) == 2
        def check(self, inst, state, step, answer): return Verdict.accept(answer)

    class Pair:
        name, args, simulated = "test/pair", {}, False

        def complete(self, messages, **kw):
            return Completion(text="1,1", tokens_in=3, tokens_out=1)

        async def acomplete(self, messages, **kw):
            return self.complete(messages)

    out = episode_graph().invoke({"task": {"scenario": Pairs(), "model": Pair(), "condition": "tape"}})
    rec = out["record"]
    assert rec["status"] == "solved" and rec["steps"][0]["answer"] == [1, 1]
    assert json.loads(json.dumps(rec)) == rec  # lists, not tuples: what a JSON reader gets back


# --- usage accounting ---------------------------------------------------------------------------


class Metered:
    """Answers right; sample i of a request reports 10 + i prompt tokens, 2 reply tokens, 0.5 s,
    i retries and a cost of 0.01 (or none)."""

    name, args, simulated = "test/metered", {}, True

    def __init__(self, cost=0.01, wrong_first=False):
        self.cost, self.wrong_first = cost, wrong_first

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        right = hint.answers[0]
        reask = "was rejected" in messages[-1]["content"]
        answer = 1 - right if self.wrong_first and not reask else right
        return Completion(text=str(answer), tokens_in=10 + sample, tokens_out=2, latency_s=0.5, cost=self.cost,
                          retries=sample)

    async def acomplete(self, messages, **kw):
        return self.complete(messages, **kw)


def test_a_steps_usage_is_the_sum_of_its_requests_and_its_prompt_the_largest():
    cond = get_condition("full", k=3)
    r = run_episode("eca", ECA, condition=cond, model=Metered(wrong_first=True), seed=0)
    assert r.success
    for s in r.steps:  # two attempts of a unanimous vote: samples 0, 1, 2 twice
        assert s.samples == s.calls == 6 and len(s.attempts) == 2
        assert s.prompt_tokens == 12 and s.tokens_out == 12 and s.latency_s == pytest.approx(3.0)
    assert r.calls == 72 and r.tokens_in == 12 * (10 + 11 + 12) * 2 and r.tokens_out == 144
    assert r.retries == 12 * (0 + 1 + 2) * 2 and r.cost == pytest.approx(0.72)


def test_an_episode_without_reported_costs_has_no_cost():
    r = run_episode("eca", ECA, condition="vote", model=Metered(cost=None), seed=0)
    assert r.success and r.cost is None and r.calls == 36


def test_a_stepwise_conversation_keeps_the_models_own_reply_text():
    class Labelled(Recorder):
        def complete(self, messages, **kw):
            out = super().complete(messages, **kw)
            return Completion(text=f"answer: {out.text}", tokens_in=5, tokens_out=2)

    m = Labelled()
    r = run_episode("eca", ECA, condition="stepwise", model=m, seed=0)
    assert r.success
    last = m.requests[-1]
    answers = [msg["content"] for msg in last if msg["role"] == "assistant"]
    assert len(answers) == 11 and all(a in ("answer: 0", "answer: 1") for a in answers)  # verbatim, not reformatted


# --- the episode record -------------------------------------------------------------------------


def test_the_record_names_what_ran_and_with_which_version():
    import agentloop

    r = run_episode("eca", ECA, condition="verify", model="scripted/noisy", model_args={"error": 0.1, "drift": 0.2},
                    seed=4)
    assert (r.scenario, r.condition, r.model, r.seed) == ("eca", "verify", "scripted/noisy", 4)
    assert r.params == {"rule": 110, "width": 4, "steps": 3} and r.model_args == {"error": 0.1, "drift": 0.2}
    assert r.agentloop_version == agentloop.__version__ and r.simulated and 0 < r.wall_s < 600
    sc = get_scenario("eca")
    inst = sc.generate(sc.Params(**ECA), 4)
    assert r.initial == sc.initial_json(inst) and r.expected == sc.expected_json(inst)


def test_a_model_object_records_its_own_arguments_with_credentials_masked():
    from agentloop.models import get_model

    m = get_model("scripted/noisy", error=0.2)
    r = run_episode("eca", ECA, condition="tape", model=m, seed=0)
    assert r.model == "scripted/noisy" and r.model_args == {"error": 0.2}

    class Keyed(Fixed):
        args = {"api_key": "sk-secret-123", "temperature": 0.5}

    r = run_episode("eca", ECA, condition="tape", model=Keyed(), seed=0)
    assert r.model_args["temperature"] == 0.5 and "sk-secret-123" not in str(r.model_args)


def test_the_default_episode_key_tells_conditions_models_and_instances_apart():
    from test_loop import Seeds

    def seeds(**kw):
        m = Seeds()
        args = dict(condition="tape", seed=0) | kw
        run_episode("eca", {"rule": 90, "width": 4, "steps": 1}, model=m, **args)
        return [s for _, s in m.seen]

    base = seeds()
    assert seeds() == base  # a re-run replays
    assert not set(base) & set(seeds(condition="stepwise"))  # another condition, other draws
    assert not set(base) & set(seeds(seed=1))  # another instance
    assert not set(base) & set(seeds(key="mine"))  # an explicit key
    assert seeds(key="mine") == seeds(key="mine", condition="stepwise")  # the key alone names it


@pytest.mark.parametrize(("observed", "said"), [(None, "Your previous answer was rejected"),
                                                 (7, "Your previous answer 7 was rejected")])
def test_a_re_ask_quotes_the_rejected_answer_when_there_was_one(observed, said):
    from agentloop.loop._worker import step_messages
    from agentloop.types import Verdict
    from fakes import episode_of

    ep = episode_of("multiply", condition="verify")
    feedback = Verdict.reject("format", "no digit found", observed=observed)
    last = step_messages(ep, ep.steps[0], feedback)[-1]["content"]
    assert last.endswith(f"\n\n{said}: no digit found. Answer again.")


def test_a_vote_pool_has_k_threads_and_closing_it_does_not_wait_for_a_sample_in_flight():
    import threading

    from agentloop.models import get_model
    from fakes import episode_of

    ep = episode_of("eca", {"width": 4, "steps": 1}, get_condition("vote", k=3), get_model("scripted/noisy", latency=0.01))
    pool = ep.pool(3)
    assert pool is ep.pool(3) and pool._max_workers == 3  # one pool per episode, a thread per sample of a round
    release, done = threading.Event(), []
    pool.submit(lambda: release.wait(30) and done.append(True))  # a sample still waiting on its model
    ep.close()  # an episode that ends (budget, error) leaves it behind instead of waiting for it
    assert done == [] and ep._pool is None
    release.set()


def test_the_graphs_state_says_how_many_steps_were_taken():
    from agentloop.loop._graph import build_graph, recursion_limit
    from fakes import episode_of

    ep = episode_of("hanoi", {"disks": 4, "start": "classic"})
    seen = [s["step"] for s in build_graph().stream({"step": 0}, context=ep, stream_mode="values",
                                                   config={"recursion_limit": recursion_limit(ep)})]
    assert seen[0] == 0 and seen[-1] == 15 and ep.status == "solved"
