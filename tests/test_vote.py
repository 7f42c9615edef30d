"""The checker's loops with scripted replies: first-to-ahead-by-k voting, verify's re-asks, and
the format-retry stopping rule, counted sample by sample.

Every test runs whole episodes through `run_episode` with a model whose replies are written out
per sample: `R` the right answer, `W` a wrong one, `X` unreadable prose, `L` the right answer in
a reply longer than the scenario allows, `M` a wrong answer likewise over-long. The instance is
an eca ring of 4 cells for one generation (4 steps, answers 0/1), so each step sees the same
script relative to its own right answer.
"""

from __future__ import annotations

import threading

import pytest

from agentloop.conditions import Condition, get_condition
from agentloop.loop import run_episode
from agentloop.scenarios import get_scenario
from agentloop.types import Completion

ECA = {"rule": 90, "width": 4, "steps": 1}
MAX_CHARS = get_scenario("eca").max_answer_chars


class Script:
    """Sample i of a step's first attempt gets `first[i]`; sample i of a re-ask (a prompt that
    says the last answer was rejected) gets `reask[i]`. A sample beyond the script is a test
    failure: the loop asked for more samples than it may."""

    name, args, simulated = "test/script", {}, True

    def __init__(self, first: str, reask: str | None = None):
        self.first, self.reask = first, reask if reask is not None else first
        self.requests: list[tuple[int, bool, list[dict]]] = []  # (sample, is a re-ask, messages)
        self._lock = threading.Lock()

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        reask = "was rejected" in messages[-1]["content"]
        script = self.reask if reask else self.first
        assert sample < len(script), f"sample {sample} asked, but the script has {len(script)}: {script!r}"
        with self._lock:
            self.requests.append((sample, reask, [dict(m) for m in messages]))
        right = hint.answers[0]
        text = {
            "R": str(right),
            "W": str(1 - right),
            "X": "Let me think about the neighbourhood first.",
            "L": f"answer:{' ' * MAX_CHARS}{right}",
            "M": f"answer:{' ' * MAX_CHARS}{1 - right}",
        }[script[sample]]
        return Completion(text=text, tokens_in=10, tokens_out=1)

    async def acomplete(self, messages, **kw):
        return self.complete(messages, **kw)


def run(condition, first, reask=None, **bounds):
    cond = condition if isinstance(condition, Condition) else get_condition(condition, **bounds)
    model = Script(first, reask)
    return run_episode("eca", ECA, condition=cond, model=model, seed=0), model


def truth(step) -> int:
    """The right answer of a step that was answered right (its committed answer)."""
    return step.answer


def votes_of(step, right: int, n_right: int, n_wrong: int) -> dict[str, int]:
    return {k: v for k, v in ((str(right), n_right), (str(1 - right), n_wrong)) if v}


# --- first-to-ahead-by-k -------------------------------------------------------------------


def test_a_unanimous_vote_takes_exactly_k_samples():
    r, m = run("vote", "RRR")
    assert r.success and r.calls == 4 * 3 and len(m.requests) == 12
    for s in r.steps:
        assert s.ok and s.code == "ok" and s.samples == s.calls == 3
        assert s.votes == {str(s.answer): 3}


@pytest.mark.parametrize(
    ("script", "samples", "n_right", "n_wrong"),
    [
        ("WRRRR", 5, 4, 1),  # rounds of 3 then 2: the leader is 1 ahead after the first
        ("RWRRR", 5, 4, 1),
        ("WWRRRRR", 7, 5, 2),  # W leads 2-1 after the first round, R needs 3 more to lead by 3
        ("RWWRWRRRR", 9, 6, 3),
    ],
)
def test_the_winner_is_the_first_answer_to_lead_by_k(script, samples, n_right, n_wrong):
    r, _ = run("vote", script)
    assert r.success
    for s in r.steps:
        assert s.ok and s.samples == s.calls == samples
        assert s.votes == votes_of(s, truth(s), n_right, n_wrong)
        assert n_right - n_wrong == 3  # decided exactly when the leader is k ahead, not later


def test_a_wrong_answer_that_leads_by_k_wins_the_vote_and_is_committed():
    r, _ = run("vote", "WWW")
    assert not r.success and r.status == "failed"
    s = r.steps[0]
    assert not s.ok and s.code == "wrong" and s.committed and s.samples == 3
    assert list(s.votes.values()) == [3]


@pytest.mark.parametrize("flag", ["X", "L"])
def test_red_flagged_replies_are_paid_for_but_never_counted(flag):
    # Three red flags first: none of them is a vote, so R still needs three votes of its own.
    r, _ = run("vote", flag * 3 + "RRR")
    assert r.success
    for s in r.steps:
        assert s.samples == s.calls == 6 and s.votes == {str(s.answer): 3}
    assert r.calls == 24


def test_an_over_long_wrong_answer_is_not_a_vote_for_it():
    # M carries the wrong answer in an over-long reply: counted, it would win 3-0 at once.
    r, _ = run("vote", "MMMRRR")
    assert r.success and all(s.samples == 6 and s.votes == {str(s.answer): 3} for s in r.steps)
    replies = [x for s in r.steps for a in s.attempts for x in a.replies]
    flagged = [x for x in replies if x.problem]
    assert len(flagged) == 12 and all(f"longer than {MAX_CHARS} characters" in x.problem for x in flagged)


def test_red_flags_interleaved_with_votes():
    # X R X: one vote (R leads by 1) -> a round of 2: R R -> 3-0, decided at 5 samples.
    r, _ = run("vote", "XRXRR")
    assert r.success and all(s.samples == 5 and s.votes == {str(s.answer): 3} for s in r.steps)


def test_when_no_answer_leads_by_k_within_max_samples_the_leader_is_taken():
    # k=3, max 5: R W R | W R -> 3-2, no lead of 3, the bound is reached: R is taken.
    r, _ = run("vote", "RWRWR", k=3, max_samples=5)
    assert r.success
    for s in r.steps:
        assert s.ok and s.samples == s.calls == 5 and s.votes == votes_of(s, truth(s), 3, 2)
    # ... and a wrong leader is taken just the same (and committed, without verify)
    r, _ = run("vote", "WRWRW", k=3, max_samples=5)
    s = r.steps[0]
    assert not s.ok and s.code == "wrong" and s.committed and s.samples == 5
    assert sorted(s.votes.values()) == [2, 3]


@pytest.mark.parametrize(("script", "winner"), [("WRWR", "W"), ("RWRW", "R")])
def test_a_tie_at_the_bound_goes_to_the_answer_seen_first(script, winner):
    # k=3, max 4: a round of 3 (2-1), then one more sample (capped by the bound): 2-2.
    r, _ = run("vote", script, k=3, max_samples=4)
    for s in r.steps:
        assert s.samples == 4 and sorted(s.votes.values()) == [2, 2]
    assert r.steps[0].ok is (winner == "R")


def test_k1_takes_the_first_usable_answer():
    r, _ = run("vote", "R", k=1)
    assert r.success and all(s.samples == s.calls == 1 and s.votes == {str(s.answer): 1} for s in r.steps)
    r, _ = run("vote", "XXW", k=1)
    s = r.steps[0]
    assert s.samples == 3 and not s.ok and s.code == "wrong" and list(s.votes.values()) == [1]


def test_max_samples_bounds_even_a_round_that_k_would_make_larger():
    # k=5 would send 5 at once; max_samples=2 sends 2, and the leader (2-0, not 5 ahead) is taken.
    r, m = run("vote", "RR", k=5, max_samples=2)
    assert r.success and all(s.samples == s.calls == 2 and s.votes == {str(s.answer): 2} for s in r.steps)
    assert max(sample for sample, _, _ in m.requests) == 1


def test_a_vote_of_only_red_flags_has_no_answer_and_stops_the_episode():
    r, _ = run("vote", "XXXX", k=3, max_samples=4)
    assert r.status == "format" and not r.success and r.calls == 4
    s = r.steps[0]
    assert s.code == "format" and not s.committed and s.answer is None and s.samples == 4
    assert not s.votes


def test_under_full_a_rejected_vote_is_re_voted_from_scratch():
    r, m = run("full", "WWW", "RRR")
    assert r.success
    for s in r.steps:
        assert s.ok and not s.first_ok and len(s.attempts) == 2 and s.samples == s.calls == 6
        assert [a.verdict.ok for a in s.attempts] == [False, True]
        assert s.votes == {str(s.answer): 3}  # the tally of the last attempt
        assert list(s.attempts[0].votes.values()) == [3] and s.attempts[0].votes != s.votes
    assert [reask for _, reask, _ in m.requests].count(True) == 12


# --- verify: re-ask with the verdict, bounded by max_retries ---------------------------------


def test_verify_re_ask_replaces_the_failed_attempt_instead_of_appending_turns():
    r, m = run("verify", "W", "R")
    assert r.success
    firsts = [msgs for _, reask, msgs in m.requests if not reask]
    reasks = [msgs for _, reask, msgs in m.requests if reask]
    assert len(firsts) == len(reasks) == 4
    for first, again in zip(firsts, reasks):
        assert len(again) == len(first) and again[:-1] == first[:-1]  # no turn added
        question, rejected = first[-1]["content"], again[-1]["content"]
        assert rejected.startswith(question) and "rejected" in rejected[len(question):]


def test_verify_re_asks_in_a_conversation_do_not_grow_it_either():
    cond = Condition(name="stepwise-verify", tape=False, verify=True)
    r, m = run(cond, "W", "R")
    assert r.success
    sizes = [(len(msgs), reask) for _, reask, msgs in m.requests]
    for (n_first, first_is_reask), (n_again, again_is_reask) in zip(sizes[::2], sizes[1::2]):
        assert not first_is_reask and again_is_reask and n_again == n_first
    # the conversation grows by the committed steps only: question and answer, 2 messages a step
    assert [n for n, reask in sizes if not reask] == [2, 4, 6, 8]


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_verify_gives_up_after_max_retries(max_retries):
    r, m = run("verify", "W", "W", max_retries=max_retries)
    assert r.status == "failed" and r.calls == max_retries + 1 == len(m.requests)
    s = r.steps[0]
    assert len(s.attempts) == max_retries + 1 and not s.committed and not s.ok and not s.first_ok
    assert [a.verdict.code for a in s.attempts] == ["wrong"] * (max_retries + 1)
    assert len(r.steps) == 1 and r.first_error_step == 0 and r.steps_correct == 0


def test_verify_stops_re_asking_at_the_first_accepted_answer():
    r, m = run("verify", "W", "R", max_retries=3)
    assert r.success and r.calls == 8
    for s in r.steps:
        assert s.ok and not s.first_ok and len(s.attempts) == 2 and s.calls == s.samples == 2
    r, m = run("verify", "R", "W", max_retries=3)
    assert r.success and r.calls == 4 and all(s.first_ok and len(s.attempts) == 1 for s in r.steps)


def test_first_ok_is_the_first_attempt_before_any_feedback():
    # Without verify a wrong answer is committed as is: first_ok and ok agree.
    r, _ = run("tape", "W")
    s = r.steps[0]
    assert not s.ok and not s.first_ok and s.committed and s.code == "wrong"
    r, _ = run("verify", "R")
    assert all(s.first_ok and s.ok for s in r.steps)


# --- format retries: an unreadable reply is re-asked, then the episode stops ------------------


@pytest.mark.parametrize("condition", ["tape", "stepwise", "verify"])
def test_unreadable_replies_are_re_asked_up_to_format_retries(condition):
    r, _ = run(condition, "XXR", format_retries=2)
    assert r.success and r.status == "solved" and r.calls == 4 * 3 and r.format_retries == 4 * 2
    for s in r.steps:
        assert s.ok and s.first_ok and s.format_retries == 2 and s.calls == s.samples == 3
        assert [x.problem is not None for x in s.attempts[0].replies] == [True, True, False]


@pytest.mark.parametrize("retries", [0, 1, 2, 4])
def test_a_reply_still_unreadable_after_its_format_retries_ends_the_episode_with_status_format(retries):
    r, _ = run("tape", "X" * (retries + 1), format_retries=retries)
    assert r.status == "format" and not r.success
    assert r.calls == retries + 1 and r.format_retries == retries
    s = r.steps[0]
    assert s.code == "format" and not s.committed and not s.ok and s.format_retries == retries
    assert r.first_error_step == 0 and r.steps_correct == 0 and len(r.steps) == 1


def test_format_retries_are_counted_per_step_and_summed_over_the_episode():
    r, _ = run("tape", "XR", format_retries=1)
    assert r.success and r.calls == 8 and r.format_retries == 4
    assert [s.format_retries for s in r.steps] == [1, 1, 1, 1]
    r, _ = run("tape", "R", format_retries=1)
    assert r.success and r.calls == 4 and r.format_retries == 0


def test_a_readable_wrong_answer_is_not_re_asked_as_a_format_failure():
    r, m = run("tape", "WR", format_retries=2)
    assert r.calls == 4 and r.format_retries == 0 and all(sample == 0 for sample, _, _ in m.requests)
    assert r.steps[0].code == "wrong" and r.steps[0].committed


def test_answers_json_cannot_write_are_labelled_by_their_text():
    from fractions import Fraction

    from agentloop.supports import vote

    answers = [Fraction(1, 3), (1, "a"), Fraction(1, 3), Fraction(1, 3)]
    r = vote(lambda i: answers[i], k=2, max_samples=4)
    assert r.answer == Fraction(1, 3) and r.votes == {'"1/3"': 3, '[1, "a"]': 1}


def test_labels_keep_letters_beyond_ascii():
    from agentloop.supports import vote

    r = vote(lambda i: ("café", 1), k=1, max_samples=1)
    assert r.votes == {'["café", 1]': 1}


@pytest.mark.parametrize("extra, flagged", [(0, False), (1, True)])
def test_a_vote_reply_is_red_flagged_only_past_the_scenarios_answer_length(extra, flagged):
    from agentloop.conditions import get_condition
    from agentloop.loop._worker import answer_limit, ask_step
    from fakes import Scripted, episode_of

    model = Scripted(lambda messages, i: "1")
    ep = episode_of("eca", {"width": 4, "steps": 1}, get_condition("vote", k=1), model)
    step = ep.steps[0]
    limit = answer_limit(ep, step)
    model.script = lambda messages, i: "1" + " " * (limit - 1 + extra)  # exactly the limit, then one more
    p = ask_step(ep, step, 0, None)
    assert (p.red_flags > 0 or p.answer is None) == flagged
    if not flagged:
        assert p.answer == 1 and p.samples == 1
