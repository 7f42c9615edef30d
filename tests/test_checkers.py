"""Checkers a deployment can have (rules, critic, program): what each accepts and rejects, how
the loop acts on them, and how every verdict is scored against the simulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from agentloop.checkers import (
    CRITIC_REJECT_REASON,
    REFERENCE,
    critic_messages,
    extract_program,
    has_rules,
    parse_critic,
    program_messages,
    read_value,
    rules_verdict,
    task_json,
)
from agentloop.cli import app
from agentloop.conditions import get_condition
from agentloop.errors import AgentloopError, ParseError
from agentloop.loop import run_episode
from agentloop.metrics import checker_score
from agentloop.scenarios import get_scenario, parse_params
from agentloop.types import Completion, Limits

runner = CliRunner()
ECA = {"rule": 110, "width": 8, "steps": 3}


def episode(scenario, params, checker, *, model="scripted/noisy", seed=0, **kw):
    overrides = {k: kw.pop(k) for k in ("critic_model", "max_retries") if k in kw}
    cond = get_condition("tape", checker=checker, **overrides)
    return run_episode(scenario, params, condition=cond, model=model, model_args=kw.pop("args", {}), seed=seed, **kw)


def attempts(rec):
    return [a for s in rec.steps for a in s.attempts]


# --- the pieces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "approves", "reason"),
    [
        ("APPROVE", True, ""),
        ("approved.", True, ""),
        ("REJECT: disk 3 cannot go on disk 1", False, "disk 3 cannot go on disk 1"),
        ("**Reject** - wrong neighbourhood", False, "wrong neighbourhood"),
        ("Verdict: APPROVE", True, ""),
        ("Let me check.\nThe table says so.\nREJECT: the table gives another value", False, "the table gives another value"),
        ("```\nAPPROVE\n```", True, ""),
        ("I have to reject this answer.", False, ""),
    ],
)
def test_critic_replies_are_read(text, approves, reason):
    assert parse_critic(text) == (approves, reason)


@pytest.mark.parametrize("text", ["", "Looks fine to me", "I could approve or reject it", "1", "x" * 100_000])
def test_an_unreadable_critic_reply_is_a_parse_error(text):
    with pytest.raises(ParseError):
        parse_critic(text)


def test_the_critic_sees_the_step_and_the_answer_but_not_the_right_answer():
    sc = get_scenario("hanoi")
    inst = sc.generate(parse_params(sc, {"disks": 3}), 1)
    state, step = sc.initial_state(inst), sc.steps(inst)[0]
    right = sc.solve(inst, state, step)
    wrong = sc.corrupt(inst, state, step, right, __import__("random").Random(0))
    msgs = critic_messages(sc, inst, state, step, wrong)
    text = "\n".join(m["content"] for m in msgs)
    assert sc.format_answer(wrong) in text and sc.format_answer(right) not in text
    assert msgs[0]["content"].startswith("You review")  # not the task's own first line


@pytest.mark.parametrize(
    "text",
    [
        "Here it is:\n```python\ndef step(task):\n    return 1\n```\nDone.",
        "```py\nimport math\n\ndef step(task):\n    return 1\n```",
        "Sure. def step(task):\n    return 1",
        "import math\ndef step(task):\n    return 1",
        "```python\ndef step(task):\n    return 1",  # an unclosed fence
    ],
)
def test_a_program_is_found_in_the_reply(text):
    src = extract_program(text)
    assert src.lstrip().startswith(("def step", "import math")) and "```" not in src


@pytest.mark.parametrize("text", ["", "I cannot write code.", "```python\ndef solve(task):\n    return 1\n```"])
def test_a_reply_without_step_is_a_parse_error(text):
    with pytest.raises(ParseError):
        extract_program(text)


def test_the_program_gets_public_data_only():
    sc = get_scenario("sudoku")
    inst = sc.generate(parse_params(sc, {}), 2)
    state = sc.initial_state(inst)
    task = task_json(sc, inst, state, sc.steps(inst)[0])
    assert task["state"] == list(inst.puzzle) and "solution" not in json.dumps(task)
    assert set(task) == {"params", "state", "step"}
    assert "step(task)" in program_messages(sc, inst, state, sc.steps(inst)[0])[1]["content"]


def test_what_a_program_returns_is_read_by_the_scenario_parser():
    sc = get_scenario("hanoi")
    step = get_scenario("hanoi").steps(sc.generate(parse_params(sc, {"disks": 2}), 0))[0]
    assert read_value(sc, step, [1, 0, 2]) == (1, 0, 2)
    assert read_value(sc, step, "[1, 0, 2]") == (1, 0, 2)
    with pytest.raises(ParseError):
        read_value(sc, step, {"disk": 1})


def test_the_rules_checker_rejects_illegal_answers_and_accepts_legal_wrong_ones():
    sc = get_scenario("hanoi")
    inst = sc.generate(parse_params(sc, {"disks": 3, "start": "classic"}), 0)
    state, step = sc.initial_state(inst), sc.steps(inst)[0]
    assert rules_verdict(sc, inst, state, step, (3, 0, 2)).code == "illegal"  # not on top
    wrong_legal = (1, 0, 1)  # legal, but not the strategy's move
    assert sc.check(inst, state, step, wrong_legal).code == "wrong"
    assert rules_verdict(sc, inst, state, step, wrong_legal).ok
    assert has_rules(sc) and not has_rules(get_scenario("eca"))


# --- rules in the loop --------------------------------------------------------------------------


def test_checker_rules_on_a_scenario_without_legality_is_one_line():
    with pytest.raises(AgentloopError, match="states no legality rules"):
        episode("eca", ECA, "rules")
    res = runner.invoke(app, ["run", "eca", "-C", "checker=rules", "--json"])
    assert res.exit_code == 2 and "states no legality rules" in res.output and "Traceback" not in res.output


def test_rules_lets_wrong_legal_moves_through_and_is_scored_for_it():
    recs = [episode("hanoi", {"disks": 4}, "rules", seed=s, args={"error": 0.2}) for s in range(6)]
    tape = [run_episode("hanoi", {"disks": 4}, condition="tape", model="scripted/noisy", model_args={"error": 0.2}, seed=s)
            for s in range(6)]
    # Every corrupt hanoi answer is a legal move, so rules accepts it: the same episodes as tape.
    assert [r.step_ok for r in recs] == [r.step_ok for r in tape]
    t = checker_score(recs)
    wrong = sum(r.step_ok.count(False) for r in recs)
    assert wrong > 0 and t.false_accepts == t.wrong == wrong and t.false_reject_rate == 0.0
    for a in attempts(recs[0]):
        assert a.truth is not None and a.review.checker == "rules"


def test_an_illegal_answer_is_never_committed_whatever_the_checker_says():
    # A critic that approves everything, a worker that is always wrong: on wordsquare a wrong
    # row may be illegal; the environment refuses it and the loop re-asks.
    rec = episode("hanoi", {"disks": 3}, "critic", args={"error": 1.0, "critic_fa": 1.0}, seed=3)
    for s in rec.steps:
        for a in s.attempts:
            if a.truth.code == "illegal":
                assert a.review.verdict.ok and a.verdict.code == "illegal"
        assert not (s.committed and s.code == "illegal")
    assert rec.checks.overruled == sum(a.truth.code == "illegal" for a in attempts(rec))


# --- critic -------------------------------------------------------------------------------------


def test_a_perfect_critic_recovers_verify_and_a_rubber_stamp_is_tape():
    args = {"error": 0.2}
    for seed in range(4):
        tape = run_episode("eca", ECA, condition="tape", model="scripted/noisy", model_args=args, seed=seed)
        verify = run_episode("eca", ECA, condition="verify", model="scripted/noisy", model_args=args, seed=seed)
        stamp = episode("eca", ECA, "critic", args={**args, "critic_fa": 1.0, "critic_fr": 0.0}, seed=seed)
        perfect = episode("eca", ECA, "critic", args={**args, "critic_fa": 0.0, "critic_fr": 0.0}, seed=seed)
        assert stamp.step_ok == tape.step_ok and stamp.checks.rejected_right + stamp.checks.rejected_wrong == 0
        assert perfect.success == verify.success and perfect.step_ok == verify.step_ok
        assert perfect.checks.accepted_wrong == 0 and perfect.checks.rejected_right == 0


def test_the_scripted_critic_errs_at_its_own_rates():
    recs = [episode("eca", {"rule": 110, "width": 16, "steps": 4}, "critic", seed=s, max_retries=6,
                    args={"error": 0.3, "critic_fa": 0.3, "critic_fr": 0.1}) for s in range(12)]
    t = checker_score(recs)
    assert t.wrong > 100 and t.right > 300
    assert 0.2 < t.false_accept_rate < 0.4 and 0.05 < t.false_reject_rate < 0.15
    lo, hi = t.false_accept_ci
    assert lo < 0.3 < hi


def test_critic_calls_count_like_the_workers():
    rec = episode("eca", ECA, "critic", model="scripted/oracle")
    assert rec.calls == 2 * rec.steps_total == rec.checks.calls + rec.steps_total
    assert rec.tokens_in > 2 * rec.steps_total * 50
    # the step's prompt size stays the worker's
    plain = run_episode("eca", ECA, condition="tape", model="scripted/oracle")
    assert [s.prompt_tokens for s in rec.steps] == [s.prompt_tokens for s in plain.steps]
    assert all(s.calls == 2 for s in rec.steps)
    short = episode("eca", ECA, "critic", model="scripted/oracle", limits=Limits(max_calls=9))
    assert short.status == "budget" and short.calls == 9


def test_a_rejection_carries_the_critics_reason_into_the_reask():
    rec = episode("eca", ECA, "critic", args={"critic_fr": 1.0, "critic_fa": 0.0}, model="scripted/oracle", max_retries=1)
    first = rec.steps[0]
    assert not first.committed and rec.status == "failed" and first.ok  # right, and rejected anyway
    assert len(first.attempts) == 2
    assert CRITIC_REJECT_REASON in first.attempts[0].verdict.reason
    assert rec.checks.rejected_right == 2 and rec.steps_correct == 1


class _Scripted:
    """A non-simulated model that answers by a function of the messages (a real model's stand-in)."""

    simulated = False

    def __init__(self, name: str, answer) -> None:
        self.name, self.args, self._answer = name, {}, answer

    def complete(self, messages, *, hint=None, sample=0, seed=None) -> Completion:
        assert hint is None  # a real model never gets the ground truth
        text = self._answer(messages)
        return Completion(text=text, tokens_in=10, tokens_out=len(text) // 4 + 1)

    async def acomplete(self, messages, **kw) -> Completion:
        return self.complete(messages, **kw)


def test_an_unreadable_critic_is_recorded_and_lets_the_answer_pass(monkeypatch):
    critic = _Scripted("fake/critic", lambda m: "Hmm, hard to say.")
    import agentloop.models

    monkeypatch.setattr(agentloop.models, "get_model", lambda name, **kw: critic)
    rec = episode("eca", ECA, "critic", model="scripted/oracle", critic_model="fake/critic")
    assert rec.success
    review = rec.steps[0].attempts[0].review
    assert not review.judged and "could not be read" in review.problem
    assert len(review.replies) == 3  # asked, then re-asked format_retries (2) times
    assert all(r.problem and r.answer is None for r in review.replies)  # each says why it was not read
    assert rec.checks.unjudged == rec.steps_total and rec.checks.calls == 3 * rec.steps_total


def test_critic_model_is_another_model():
    # The worker, as a critic, would reject every right step (critic_fr=1); the named critic
    # model approves them: only a critic that really is the other model lets the episode through.
    worker = {"error": 0.0, "critic_fr": 1.0}
    rec = episode("eca", ECA, "critic", args=worker, critic_model="scripted/oracle")
    assert rec.success and rec.checks.calls == rec.steps_total and rec.retries == 0
    self_reviewed = episode("eca", ECA, "critic", args=worker)
    assert not self_reviewed.success or self_reviewed.retries > 0
    with pytest.raises(AgentloopError):
        episode("eca", ECA, "critic", critic_model="nonsense")


# --- program ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "params"),
    [("eca", ECA), ("hanoi", {"disks": 4}), ("hanoi", {"disks": 3, "start": "classic"}), ("sudoku", {})],
)
def test_the_oracles_programs_solve_every_step(scenario, params):
    rec = episode(scenario, params, "program", model="scripted/oracle", seed=1)
    t = rec.checks
    assert rec.success
    assert t.program_runs == rec.steps_total == t.program_ok == t.accepted_right
    assert t.calls == 1 and t.unjudged == 0
    written = rec.steps[0].attempts[0].review.replies[0].text
    assert "def step(task)" in written and written == f"```python\n{REFERENCE[scenario].source}\n```"


def test_a_correct_program_catches_a_noisy_worker():
    args = {"error": 0.3, "program_error": 0.0}
    recs = [episode("hanoi", {"disks": 4}, "program", seed=s, args=args, max_retries=8) for s in range(4)]
    assert all(r.success for r in recs)
    t = checker_score(recs)
    assert t.false_accepts == 0 and t.false_rejects == 0 and t.wrong > 0


def test_a_buggy_program_rejects_right_answers_without_telling_the_answer():
    rec = episode("eca", ECA, "program", model="scripted/oracle", args={"program_error": 1.0})
    assert rec.checks.rejected_right > 0 and rec.checks.program_ok < rec.checks.program_runs
    rejected = next(a for a in attempts(rec) if not a.verdict.ok)
    assert rejected.verdict.reason == "a checking program computed a different answer"
    assert rejected.review.program_answer != rejected.verdict.observed


def test_a_program_for_a_scenario_the_scripted_models_cannot_write_is_one_line():
    with pytest.raises(AgentloopError, match="simulated models write programs only for"):
        episode("life", {}, "program", model="scripted/oracle")


ECA_PROGRAM = REFERENCE["eca"].source


def _real(program: str, step_answer: str = "1"):
    """A stand-in real model: writes `program` when asked for one, answers `step_answer` to steps."""
    return _Scripted("fake/coder", lambda m: f"```python\n{program}\n```" if "Python" in m[0]["content"] else step_answer)


def test_a_real_models_program_runs_in_the_sandbox_and_judges():
    rec = run_episode("eca", ECA, condition=get_condition("tape", checker="program", max_retries=0),
                      model=_real(ECA_PROGRAM), seed=2)
    t = rec.checks
    assert t.program_runs >= 1 and t.program_ok == t.program_runs
    assert t.accepted_wrong == 0 and t.rejected_right == 0
    # always answering 1 is wrong somewhere; the program rejects it and, retries spent, the episode fails
    assert not rec.success and rec.steps[-1].ok is False and not rec.steps[-1].committed


@pytest.mark.parametrize(
    ("program", "problem"),
    [
        ("def step(task):\n    while True:\n        pass", "the program failed"),
        ("import os\ndef step(task):\n    return os.listdir('/')", "sandbox"),
        ("def step(task):\n    return {'not': 'an answer'}", "could not be read"),
        ("def step(task) oops", "SyntaxError"),
    ],
    ids=["endless", "snooping", "garbage", "syntax"],
)
def test_a_failing_program_is_a_verdict_not_a_crash(program, problem):
    rec = run_episode("eca", {"rule": 110, "width": 3, "steps": 1},
                      condition=get_condition("tape", checker="program", max_retries=0), model=_real(program), seed=0)
    review = rec.steps[0].attempts[0].review
    assert not review.judged and problem in review.problem and review.problem.endswith("; the answer passes")
    assert review.problem.startswith(("the program failed: ", "the program's result could not be read ("))
    assert rec.checks.unjudged == len(attempts(rec)) and rec.checks.program_runs == 0


def test_no_program_in_the_reply_is_recorded():
    rec = run_episode("eca", {"rule": 110, "width": 3, "steps": 1}, condition=get_condition("tape", checker="program"),
                      model=_Scripted("fake/prose", lambda m: "I would rather not." if "Python" in m[0]["content"] else "1"))
    review = rec.steps[0].attempts[0].review
    assert review.problem == f"no program to run ({review.replies[-1].problem}); the answer passes"
    assert len(review.replies) == 3 and review.replies[-1].problem
    assert rec.checks.calls == 3  # written once per episode, re-asked while unreadable


def test_transcripts_off_keeps_the_scores_and_drops_the_replies():
    rec = episode("eca", ECA, "critic", model="scripted/oracle", transcripts=False)
    assert rec.checks.accepted_right == rec.steps_total
    assert all(a.review.replies == [] for a in attempts(rec))


# --- scoring in the store, the report and the CLI ------------------------------------------------


def test_the_report_scores_each_checker_beside_the_accuracy(tmp_path):
    spec = tmp_path / "x.toml"
    spec.write_text(
        'name = "x"\nseeds = 3\n'
        'conditions = ["tape", {name = "tape", checker = "critic"}, {name = "tape", checker = "rules"}]\n'
        '[[scenarios]]\nname = "hanoi"\nparams = { disks = 3 }\n'
        '[[models]]\nname = "scripted/noisy"\nargs = { error = 0.2, critic_fa = 0.5, critic_fr = 0.2 }\n'
    )
    out = tmp_path / "out"
    assert runner.invoke(app, ["experiment", str(spec), "--out", str(out)]).exit_code == 0
    res = runner.invoke(app, ["report", str(out), "--json"])
    assert res.exit_code == 0, res.output
    conds = json.loads(res.stdout)["conditions"]
    assert conds["tape"]["checker"] is None
    critic = conds["tape+checker=critic"]["checker"]
    assert critic["checker"] == "critic" and critic["judged"] == critic["wrong"] + critic["right"] > 0
    assert 0 <= critic["false_accept_rate"] <= 1 and len(critic["false_reject_ci"]) == 2
    assert conds["tape+checker=rules"]["checker"]["false_reject_rate"] == 0.0
    text = runner.invoke(app, ["report", str(out)]).stdout
    assert "scored against the simulator" in text and "false accepts" in text
    html_path = tmp_path / "r.html"
    assert runner.invoke(app, ["report", str(out), "--html", str(html_path)]).exit_code == 0
    assert "<h2>Checkers</h2>" in html_path.read_text()


def test_the_record_round_trips_through_the_store(tmp_path):
    from agentloop.store import ResultsStore

    rec = episode("hanoi", {"disks": 3}, "critic", args={"error": 0.3, "critic_fa": 0.5})
    with ResultsStore(tmp_path / "r.sqlite") as store:
        run_id = store.begin_run({}, {})
        store.add_episode("k", rec, run_id)
        back = store.episode("k")
    assert back.checks == rec.checks
    assert [a.truth for a in attempts(back)] == [a.truth for a in attempts(rec)]
    assert [a.review for a in attempts(back)] == [a.review for a in attempts(rec)]


def test_cli_run_with_each_checker(tmp_path):
    for checker in ("rules", "critic", "program"):
        res = runner.invoke(app, ["run", "hanoi", "-p", "disks=3", "-C", f"checker={checker}", "--model", "scripted/noisy",
                                  "-M", "error=0.2", "-M", "critic_fa=0.2", "-M", "critic_fr=0.1", "--json"])
        assert res.exit_code == 0, res.output
        r: dict[str, Any] = json.loads(res.stdout)
        assert r["condition"] == f"tape+checker={checker}" and r["checks"]["checker"] == checker
        a = r["steps"][0]["attempts"][0]
        assert a["truth"]["code"] in ("ok", "wrong", "illegal") and a["review"]["checker"] == checker


def test_an_experiment_with_a_checker_the_scenario_cannot_have_is_refused_before_it_runs(tmp_path):
    for scenario, checker, params, fragment in [
        ("eca", "rules", "{ width = 8 }", "states no legality rules"),
        ("life", "program", "{ rows = 4, cols = 4 }", "simulated models write programs only for"),
        ("hanoi", "program", '{ disks = 3, granularity = "moves:2" }', "granularity=moves:2"),
    ]:
        spec = tmp_path / f"{scenario}.toml"
        spec.write_text(
            f'name = "x"\nseeds = 1\nconditions = [{{name = "tape", checker = "{checker}"}}]\n'
            f'[[scenarios]]\nname = "{scenario}"\nparams = {params}\n[[models]]\nname = "scripted/oracle"\n'
        )
        res = runner.invoke(app, ["experiment", str(spec), "--out", str(tmp_path / scenario)])
        assert res.exit_code == 2 and fragment in res.output, res.output
        assert not (tmp_path / scenario / "results.sqlite").exists()


def test_the_supports_example_runs_every_condition_and_scores_its_checkers(tmp_path):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "scenarios" / "supports-hanoi.toml").read_text()
    spec = tmp_path / "s.toml"
    spec.write_text(text.replace("seeds = 20", "seeds = 2"))
    out = tmp_path / "out"
    assert runner.invoke(app, ["experiment", str(spec), "--out", str(out)]).exit_code == 0
    conds = json.loads(runner.invoke(app, ["report", str(out), "--json"]).stdout)["conditions"]
    assert set(conds) == {"tape", "verify", "vote", "tape+checker=rules", "tape+checker=critic",
                          "tape+checker=program", "tape+planner=llm"}
    for name, g in conds.items():
        assert (g["checker"] is not None) == ("checker=" in name)


@pytest.mark.parametrize("checker", ["critic", "program"])
def test_a_killed_episode_resumes_with_its_checkers_tally_and_program(checker, tmp_path, monkeypatch):
    import agentloop.loop._graph as graph
    from agentloop.store import ResultsStore

    from test_resume import DiesAfter, Killed, run_into, stored

    monkeypatch.setattr(graph, "QUANTUM_S", 0.0)  # a checkpoint after every step
    kw = dict(scenario="hanoi", params={"disks": 4}, condition=get_condition("tape", checker=checker),
              model="scripted/noisy", model_args={"error": 0.3, "critic_fa": 0.3, "program_error": 0.0}, seed=2)
    whole = ResultsStore(tmp_path / "whole.sqlite")
    full = run_into(whole, "k", **kw)
    killed = ResultsStore(tmp_path / "killed.sqlite")
    with pytest.raises(Killed):
        run_into(killed, "k", journal=lambda j: DiesAfter(j, 4), **kw)
    resumed = run_into(killed, "k", **kw)
    assert resumed.checks == full.checks and resumed.checks.calls >= 1
    assert stored(killed, "k") == stored(whole, "k")


def test_show_prints_the_checkers_verdict_beside_the_simulators():
    from agentloop.transcript import render_transcript

    rec = episode("eca", ECA, "critic", model="scripted/oracle", args={"critic_fr": 1.0}, max_retries=0)
    text = render_transcript(rec)
    assert f"checker critic: rejected (a reviewer rejected it: {CRITIC_REJECT_REASON})" in text
    assert "simulator: right" in text and "critic reply 0: 'REJECT:" in text
    rec = episode("eca", ECA, "program", model="scripted/oracle")
    assert "checker program: accepted · simulator: right" in render_transcript(rec, step=0)
    assert "the program computed" in render_transcript(rec, step=0)


class _Seeds:
    """Passes every request to a scripted model and notes the checker's (hint key, sample, seed)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.args, self.simulated = inner, inner.name, inner.args, True
        self.critic, self.program = [], []

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        if hint is not None and hint.role in ("critic", "program"):
            getattr(self, hint.role).append((hint.key, sample, seed))
        return self.inner.complete(messages, hint=hint, sample=sample, seed=seed)


def test_each_critic_request_is_seeded_by_its_step_and_the_judgement_of_that_step():
    from agentloop.models import get_model
    from agentloop.models._protocol import request_seed

    model = _Seeds(get_model("scripted/noisy", error=0.4, critic_fr=0.3, seed=1))
    rec = run_episode("hanoi", {"disks": 3, "start": "classic"}, condition=get_condition("verify", checker="critic"),
                      model=model, seed=5, key="ep")
    seen: dict[int, list[int]] = {}
    for key, sample, seed in model.critic:
        hint_key, step, attempt, role = key.rsplit(":", 3)
        step, attempt = int(step), int(attempt)
        assert role == "critic" and seed == request_seed("ep", step, 1_000_000 + attempt, sample)
        seen.setdefault(step, []).append(attempt)
    # every step's judgements are numbered 0, 1, ... from its first, whatever the step before did
    assert list(seen) == list(range(len(seen))) and all(a == list(range(len(a))) for a in seen.values())
    assert any(len(a) > 1 for a in seen.values()) and len(seen) == len(rec.steps)


def test_the_program_is_asked_for_once_with_its_own_seed():
    from agentloop.models import get_model
    from agentloop.models._protocol import request_seed

    model = _Seeds(get_model("scripted/noisy", error=0.2, program_error=0.0, seed=1))
    rec = run_episode("eca", {"rule": 110, "width": 6, "steps": 2}, condition=get_condition("tape", checker="program"),
                      model=model, seed=5, key="ep")
    assert [(sample, seed) for _, sample, seed in model.program] == [(0, request_seed("ep", 0, 2_000_000, 0))]
    assert model.program[0][0].endswith(":program") and rec.checks.calls == 1


def test_a_checkers_state_reads_back_whole_and_only_into_the_same_checker():
    from fakes import episode_of

    def checker(kind):
        return episode_of("eca", ECA, get_condition("tape", checker=kind)).checker

    a = checker("program")
    a.program, a.program_problem, a._written, a._judged_at = None, "no `def step` in the reply", True, (3, 1)
    a.tally.add(True, False)
    state = json.loads(json.dumps(a.checkpoint_state()))
    b = checker("program")
    b.restore_state(state)
    assert b.checkpoint_state() == a.checkpoint_state() and b.program_problem == "no `def step` in the reply"
    with pytest.raises(ValueError, match="^the checkpoint's checker is another one$"):
        checker("critic").restore_state(state)


def test_a_program_checker_for_a_bigger_step_is_refused_before_any_call():
    with pytest.raises(AgentloopError) as e:
        run_episode("eca", {**ECA, "granularity": "row"}, condition=get_condition("tape", checker="program"),
                    model="scripted/oracle")
    assert str(e.value) == ("checker=program: simulated models write programs for one atomic step; granularity=row "
                            "asks for several")


def test_each_illegal_answer_a_critic_approves_is_counted_as_overruled():
    # the worker moves the bottom disk (illegal), its own critic approves every answer
    model = _Scripted("fake/rash", lambda m: "APPROVE" if m[0]["content"].startswith("You review") else "[4, 0, 1]")
    rec = episode("hanoi", {"disks": 4, "start": "classic"}, "critic", model=model)
    illegal = [a for a in attempts(rec) if a.truth.code == "illegal"]
    assert len(illegal) == 4  # asked, re-asked max_retries (3) times, refused each time
    assert all(a.review.verdict.ok and a.verdict.code == "illegal" for a in illegal)
    assert rec.checks.overruled == 4 and rec.status == "failed"  # the environment refused what the critic let through


def test_an_unreadable_program_result_is_kept_in_the_review():
    rec = run_episode("eca", {"rule": 110, "width": 3, "steps": 1},
                      condition=get_condition("tape", checker="program", max_retries=0),
                      model=_real("def step(task):\n    return {'not': 'an answer'}"), seed=0)
    review = rec.steps[0].attempts[0].review
    assert not review.judged and review.program_answer == {"not": "an answer"}
