"""The supports as building blocks: `vote` and `verify` around plain functions, no scenario."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agentloop import RedFlag, Verdict, averify, avote, verify, vote


def scripted(answers):
    """`ask(sample)` answering from a list (None: an unreadable reply), recording what was asked."""
    asked = []
    lock = threading.Lock()

    def ask(i):
        with lock:
            asked.append(i)
        a = answers[i]
        if a is None:
            raise RedFlag("unreadable")
        return a

    return ask, asked


def test_a_twenty_line_vote_around_a_plain_function():
    ask, asked = scripted(["b", "a", "a", "a", "b", "a"])
    r = vote(ask, k=2, max_samples=10)
    assert r.answer == "a" and r.decided and r.votes == {"a": 3, "b": 1}
    assert sorted(asked) == [0, 1, 2, 3] and r.first == 1


def test_red_flagged_samples_are_paid_for_but_never_counted():
    ask, asked = scripted([None, "x", None, "x", "x"])
    r = vote(ask, k=3, max_samples=10)
    assert r.answer == "x" and r.votes == {"x": 3} and r.red_flags == 2 and len(asked) == 5
    assert [s.problem for s in r.samples] == ["unreadable", None, "unreadable", None, None]


def test_red_flag_function_rejects_answers_without_raising():
    ask, _ = scripted(["far too long an answer", "ok", "ok"])
    r = vote(ask, k=2, red_flag=lambda a: "too long" if len(a) > 5 else None)
    assert r.answer == "ok" and r.red_flags == 1


def test_without_a_lead_of_k_the_leader_is_taken_at_the_bound():
    ask, asked = scripted(["a", "b", "a", "b", "a"])
    r = vote(ask, k=3, max_samples=5)
    assert r.answer == "a" and not r.decided and len(asked) == 5 and r.votes == {"a": 3, "b": 2}


def test_all_red_flags_give_no_answer_and_the_reason():
    ask, _ = scripted([None] * 4)
    r = vote(ask, k=1, max_samples=4)
    assert r.answer is None and r.problem == "unreadable" and r.red_flags == 4


def test_k1_is_the_first_readable_answer():
    ask, asked = scripted([None, None, "z", "y"])
    r = vote(ask, k=1, max_samples=3)
    assert r.answer == "z" and asked == [0, 1, 2]


def test_rounds_never_send_more_samples_than_one_at_a_time_voting():
    # k=3, answers a a b a a: sequential voting stops at sample 5 (a:4, b:1 leads by 3).
    ask, asked = scripted(["a", "a", "b", "a", "a", "a", "a"])
    r = vote(ask, k=3, max_samples=7)
    assert r.answer == "a" and sorted(asked) == [0, 1, 2, 3, 4]


def test_answers_that_are_lists_vote_by_value():
    ask, _ = scripted([[1, 2], [1, 2], (1, 2)])
    assert vote(ask, k=3).answer == [1, 2]


def test_an_error_ends_the_vote_after_its_round_and_is_raised():
    sent = []

    def ask(i):
        sent.append(i)
        if i == 1:
            raise TimeoutError("provider down")
        return "a"

    with pytest.raises(TimeoutError):
        vote(ask, k=3)
    assert sorted(sent) == [0, 1, 2]  # the whole first round was sent


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError):
        vote(lambda i: 1, k=0)


def test_async_vote_awaits_a_round_together():
    started = []

    async def ask(i):
        started.append(i)
        await asyncio.sleep(0)
        return "yes" if i != 1 else "no"

    r = asyncio.run(avote(ask, k=2, max_samples=8))
    assert r.answer == "yes" and r.votes == {"yes": 3, "no": 1}


def test_verify_re_asks_with_the_verdict_until_accepted():
    seen = []

    def ask(feedback, attempt):
        seen.append(None if feedback is None else feedback.reason)
        return attempt * 10

    def check(x):
        return Verdict.accept(x) if x >= 20 else Verdict.reject("wrong", f"{x} is too small")

    r = verify(ask, check, max_retries=5)
    assert r.ok and r.answer == 20 and len(r.attempts) == 3
    assert seen == [None, "0 is too small", "10 is too small"]  # the last rejection only, never a pile


def test_verify_stops_after_max_retries_with_the_last_rejection():
    r = verify(lambda fb, a: "x", lambda x: Verdict.reject("wrong", "no"), max_retries=2)
    assert not r.ok and len(r.attempts) == 3 and r.verdict.code == "wrong"


def test_async_verify_takes_a_plain_or_async_checker():
    async def ask(feedback, attempt):
        return attempt

    async def check(x):
        return Verdict.accept() if x == 1 else Verdict.reject("wrong", "again")

    r = asyncio.run(averify(ask, check, max_retries=3))
    assert r.ok and r.answer == 1
    r = asyncio.run(averify(ask, lambda x: Verdict.reject("wrong", "never"), max_retries=1))
    assert not r.ok and len(r.attempts) == 2
