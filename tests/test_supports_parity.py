"""`vote`/`avote` and `verify`/`averify` give the same results on the same scripts.

Every case runs both the thread-pool and the coroutine version and checks the whole result:
the answer, the tally, whether it was decided, which sample first gave the winner, and every
sample in order with its answer or red flag.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from agentloop import RedFlag, Verdict, averify, avote, verify, vote

MODES = ["sync", "async"]


class Flag:
    """A scripted red flag (RedFlag raised with this message)."""

    def __init__(self, why: str = "unreadable"):
        self.why = why


class Boom(Exception):
    pass


def run_vote(mode, script, **kw):
    """Vote over `script` (sample i answers script[i]); returns (result, samples asked)."""
    asked, lock = [], threading.Lock()

    def answer(i):
        with lock:
            asked.append(i)
        assert i < len(script), f"sample {i} asked beyond the script"
        a = script[i]
        if isinstance(a, Flag):
            raise RedFlag(a.why)
        if isinstance(a, Exception):
            raise a
        return a

    if mode == "sync":
        return vote(answer, **kw), sorted(asked)

    async def ask(i):
        await asyncio.sleep(0)
        return answer(i)

    return asyncio.run(avote(ask, **kw)), sorted(asked)


def samples(r):
    return [(s.index, s.answer, s.problem) for s in r.samples]


@pytest.mark.parametrize("mode", MODES)
def test_defaults_are_k3(mode):
    r, asked = run_vote(mode, ["a", "a", "a", "a"])
    assert (r.answer, r.votes, r.decided, r.first, asked) == ("a", {"a": 3}, True, 0, [0, 1, 2])


@pytest.mark.parametrize("mode", MODES)
def test_defaults_bound_a_vote_at_20_samples(mode):
    r, asked = run_vote(mode, [Flag()] * 21)
    assert asked == list(range(20)) and r.red_flags == 20
    assert (r.answer, r.votes, r.decided, r.first, r.problem) == (None, {}, False, None, "unreadable")


@pytest.mark.parametrize("mode", MODES)
def test_the_winner_its_tally_and_its_first_sample(mode):
    # k=3: a b a | a a -> 4-1 at sample 4; the winner was first given by sample 0
    r, asked = run_vote(mode, ["a", "b", "a", "a", "a", "b"], k=3)
    assert (r.answer, r.votes, r.decided, r.first) == ("a", {"a": 4, "b": 1}, True, 0)
    assert asked == [0, 1, 2, 3, 4] and samples(r) == [(0, "a", None), (1, "b", None), (2, "a", None),
                                                        (3, "a", None), (4, "a", None)]
    r, _ = run_vote(mode, ["b", "a", "a", "a", "a"], k=3)
    assert (r.answer, r.first, r.votes) == ("a", 1, {"a": 4, "b": 1})


@pytest.mark.parametrize("mode", MODES)
def test_red_flags_are_recorded_in_order_and_never_counted(mode):
    r, asked = run_vote(mode, [Flag("too long"), "x", Flag(""), "x", "x"], k=3, max_samples=9)
    assert samples(r) == [(0, None, "too long"), (1, "x", None), (2, None, "red-flagged"), (3, "x", None),
                          (4, "x", None)]
    assert (r.answer, r.votes, r.red_flags, r.first, r.problem) == ("x", {"x": 3}, 2, 1, None)


@pytest.mark.parametrize("mode", MODES)
def test_a_red_flag_function_rejects_answers_with_its_reason(mode):
    r, _ = run_vote(mode, ["long answer", "ok", "long answer", "ok"], k=2,
                    red_flag=lambda a: f"{len(a)} characters" if len(a) > 5 else None)
    assert samples(r) == [(0, None, "11 characters"), (1, "ok", None), (2, None, "11 characters"), (3, "ok", None)]
    assert (r.answer, r.votes, r.first) == ("ok", {"ok": 2}, 1)


@pytest.mark.parametrize("mode", MODES)
def test_answers_vote_by_their_key_and_the_first_form_is_returned(mode):
    r, _ = run_vote(mode, ["Yes", "yes", "YES"], k=3, key=str.lower)
    assert (r.answer, r.votes, r.first) == ("Yes", {"yes": 3}, 0)
    r, _ = run_vote(mode, [[1, {"a": 2}], (1, {"a": 2}), [1, {"a": 2}]], k=3)
    assert r.answer == [1, {"a": 2}] and r.votes == {'[1, [["a", 2]]]': 3}


@pytest.mark.parametrize("mode", MODES)
def test_at_the_bound_the_leader_is_taken_undecided(mode):
    r, asked = run_vote(mode, ["a", "b", "a", "b", "a", "a"], k=3, max_samples=5)
    assert asked == [0, 1, 2, 3, 4]
    assert (r.answer, r.votes, r.decided, r.first) == ("a", {"a": 3, "b": 2}, False, 0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("script", "winner"), [(["b", "a", "b", "a"], "b"), (["a", "b", "a", "b"], "a")])
def test_a_tie_at_the_bound_goes_to_the_answer_seen_first(mode, script, winner):
    r, _ = run_vote(mode, script, k=3, max_samples=4)
    assert r.answer == winner and not r.decided and sorted(r.votes.values()) == [2, 2]
    assert list(r.votes)[0] == winner  # the tally lists the winner first


@pytest.mark.parametrize("mode", MODES)
def test_rounds_are_capped_by_the_bound(mode):
    # k=5 would send 5 at once; max_samples=2 sends 2 and stops.
    r, asked = run_vote(mode, ["a", "a", "a"], k=5, max_samples=2)
    assert asked == [0, 1] and (r.answer, r.votes, r.decided) == ("a", {"a": 2}, False)


@pytest.mark.parametrize("mode", MODES)
def test_k1_takes_the_first_usable_answer_one_sample_at_a_time(mode):
    r, asked = run_vote(mode, [Flag(), Flag(), "z", "y"], k=1, max_samples=3)
    assert asked == [0, 1, 2] and (r.answer, r.votes, r.decided, r.first) == ("z", {"z": 1}, True, 2)
    r, asked = run_vote(mode, [Flag(), Flag(), Flag(), "y"], k=1, max_samples=3)
    assert asked == [0, 1, 2] and (r.answer, r.decided, r.problem) == (None, False, "unreadable")


@pytest.mark.parametrize("mode", MODES)
def test_an_error_ends_the_vote_after_its_round_and_the_first_error_is_raised(mode):
    first, second = Boom("first"), Boom("second")
    with pytest.raises(Boom) as e:
        run_vote(mode, [first, "a", second, "a", "a"], k=3)
    assert e.value is first


@pytest.mark.parametrize("mode", MODES)
def test_an_error_in_a_later_round_comes_after_the_samples_before_it(mode):
    asked = []

    def answer(i):
        asked.append(i)
        if i == 3:
            raise Boom("late")
        return "ab"[i % 2]  # a b a | error

    with pytest.raises(Boom, match="late"):
        if mode == "sync":
            vote(answer, k=3, max_samples=9)
        else:
            async def ask(i):
                return answer(i)
            asyncio.run(avote(ask, k=3, max_samples=9))
    assert sorted(asked) == [0, 1, 2, 3, 4]  # the second round (2 samples) was sent whole


@pytest.mark.parametrize(("k", "max_samples"), [(0, 5), (3, 0), (-1, 1)])
@pytest.mark.parametrize("mode", MODES)
def test_bounds_below_one_are_refused(mode, k, max_samples):
    with pytest.raises(ValueError, match="k and max_samples must be at least 1"):
        run_vote(mode, ["a"] * 3, k=k, max_samples=max_samples)


def test_a_given_executor_runs_the_rounds_and_stays_open():
    names = []

    def ask(i):
        names.append(threading.current_thread().name)
        return "a"

    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="mine") as pool:
        r = vote(ask, k=3, executor=pool)
        assert r.answer == "a" and all(n.startswith("mine") for n in names)
        assert pool.submit(lambda: 42).result() == 42  # not shut down by the vote


def test_without_an_executor_a_round_runs_on_k_threads_of_its_own():
    barrier = threading.Barrier(4, timeout=10)  # breaks unless the four samples of a round run together
    names = []

    def ask(i):
        names.append(threading.current_thread().name)
        barrier.wait()
        return "a"

    r = vote(ask, k=4)
    assert r.answer == "a" and len(names) == 4 and all(n.startswith("agentloop-vote") for n in names)


def test_an_async_round_is_awaited_together():
    barrier = asyncio.Barrier(3) if hasattr(asyncio, "Barrier") else None
    started = []

    async def ask(i):
        started.append(i)
        if barrier is not None:
            await asyncio.wait_for(barrier.wait(), 10)
        return "a"

    r = asyncio.run(avote(ask, k=3))
    assert r.answer == "a" and sorted(started) == [0, 1, 2]


# --- verify ------------------------------------------------------------------------------------


def run_verify(mode, answers, accept, **kw):
    """Attempt i answers answers[i]; `accept(answer)` decides. Returns (result, feedback seen)."""
    seen = []

    def ask_sync(feedback, attempt):
        seen.append((attempt, None if feedback is None else feedback.reason))
        return answers[attempt]

    def check(a):
        return Verdict.accept(a) if accept(a) else Verdict.reject("wrong", f"{a} is wrong", observed=a)

    if mode == "sync":
        return verify(ask_sync, check, **kw), seen

    async def ask(feedback, attempt):
        await asyncio.sleep(0)
        return ask_sync(feedback, attempt)

    async def acheck(a):
        return check(a)

    return asyncio.run(averify(ask, acheck if mode == "async" else check, **kw)), seen


MODES_V = ["sync", "async", "async-plain-check"]


@pytest.mark.parametrize("mode", MODES_V)
def test_verify_passes_the_last_rejection_and_returns_the_last_attempt(mode):
    r, seen = run_verify(mode, ["p", "q", "r", "s"], lambda a: a == "r", max_retries=5)
    assert seen == [(0, None), (1, "p is wrong"), (2, "q is wrong")]
    assert r.ok and r.answer == "r" and r.verdict == Verdict.accept("r")
    assert [(a, v.ok) for a, v in r.attempts] == [("p", False), ("q", False), ("r", True)]


@pytest.mark.parametrize("mode", MODES_V)
def test_verify_defaults_to_three_retries_and_keeps_the_last_rejection(mode):
    r, seen = run_verify(mode, ["p", "q", "r", "s", "t"], lambda a: False)
    assert [a for a, _ in seen] == [0, 1, 2, 3]
    assert not r.ok and r.answer == "s" and r.verdict.reason == "s is wrong" and r.verdict.observed == "s"
    assert [a for a, _ in r.attempts] == ["p", "q", "r", "s"]


@pytest.mark.parametrize("mode", MODES_V)
def test_verify_with_no_retries_asks_once(mode):
    r, seen = run_verify(mode, ["p", "q"], lambda a: False, max_retries=0)
    assert seen == [(0, None)] and not r.ok and r.answer == "p" and len(r.attempts) == 1


@pytest.mark.parametrize("mode", MODES_V)
def test_verify_accepting_at_once_asks_once(mode):
    r, seen = run_verify(mode, ["p", "q"], lambda a: True, max_retries=3)
    assert seen == [(0, None)] and r.ok and r.answer == "p" and r.attempts == [("p", Verdict.accept("p"))]


@pytest.mark.parametrize("mode", MODES)
def test_k1_keeps_every_sample_in_order_with_its_red_flag(mode):
    r, asked = run_vote(mode, [Flag("too long"), Flag(""), "z", "y"], k=1, max_samples=5)
    assert asked == [0, 1, 2]
    assert samples(r) == [(0, None, "too long"), (1, None, "red-flagged"), (2, "z", None)]
    assert (r.answer, r.votes, r.decided, r.first, r.red_flags) == ("z", {"z": 1}, True, 2, 2)
    r, _ = run_vote(mode, [Flag("a"), Flag("b")], k=1, max_samples=2)
    assert samples(r) == [(0, None, "a"), (1, None, "b")]
    assert (r.answer, r.votes, r.decided, r.first, r.problem) == (None, {}, False, None, "b")


@pytest.mark.parametrize("mode", MODES)
def test_k1_applies_the_red_flag_function_and_the_key(mode):
    r, asked = run_vote(mode, ["far too long", "Ok", "ok"], k=1, max_samples=5,
                        red_flag=lambda a: "too long" if len(a) > 5 else None, key=str.lower)
    assert asked == [0, 1] and samples(r) == [(0, None, "too long"), (1, "Ok", None)]
    assert (r.answer, r.votes, r.first) == ("Ok", {"ok": 1}, 1)


@pytest.mark.parametrize("mode", MODES)
def test_k1_with_one_sample_asks_once_and_no_sample_is_refused(mode):
    r, asked = run_vote(mode, ["a", "b"], k=1, max_samples=1)
    assert asked == [0] and (r.answer, r.decided) == ("a", True)
    with pytest.raises(ValueError, match="^k and max_samples must be at least 1$"):
        run_vote(mode, ["a"], k=1, max_samples=0)
