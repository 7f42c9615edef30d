"""Wordle: feedback with repeated letters, the constraint state, the rules checker, the parser."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentloop.errors import AgentloopError, ParseError
from agentloop.loop import run_episode
from agentloop.models import get_model
from agentloop.types import Completion
from agentloop.scenarios._words import word_set, words, wrong_length_word
from agentloop.scenarios.wordle import Constraints, Wordle, WordleParams, consistent, feedback

SC = Wordle()
FIVE = words(5)


def inst(word: str = "", guesses: int = 6, seed: int = 0):
    return SC.generate(WordleParams(word=word, guesses=guesses), seed)


@pytest.mark.parametrize(
    ("answer", "guess", "marks"),
    [
        ("crane", "crane", "GGGGG"),
        ("crane", "moist", "-----"),
        # one E in the answer: only the green copy counts, the others are grey
        ("crane", "eerie", "--Y-G"),
        # two E's in the answer, three in the guess: two marked, the third grey
        ("speed", "eerie", "YY---"),
        ("geese", "eerie", "YG--G"),
        # two B's in the answer, three in the guess: the green one and the first other copy count
        ("abbot", "bobby", "YYG--"),
        # the answer's only copy is green, so an earlier copy in the guess is grey, not yellow
        ("cater", "tatty", "-GG--"),
        ("llama", "hello", "--YY-"),
        ("abbey", "babes", "YYGG-"),
    ],
)
def test_feedback_marks_repeated_letters_as_the_game_does(answer, guess, marks):
    assert feedback(answer, guess) == marks


def test_a_word_is_always_consistent_with_its_own_feedback():
    rng = random.Random(1)
    for _ in range(200):
        answer = rng.choice(FIVE)
        history = tuple((g, feedback(answer, g)) for g in rng.sample(FIVE, 4))
        assert consistent(answer, history)
        assert Constraints.from_history(history).violation(answer) is None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from(FIVE), st.lists(st.sampled_from(FIVE), min_size=1, max_size=4), st.sampled_from(FIVE))
def test_the_explicit_constraint_state_says_exactly_what_the_feedback_says(answer, guesses, probe):
    history = tuple((g, feedback(answer, g)) for g in guesses)
    fits = Constraints.from_history(history).violation(probe) is None
    assert fits == consistent(probe, history)


def test_constraint_state_is_rendered_with_counts_and_exclusions():
    text = Constraints.from_history((("eerie", feedback("speed", "eerie")),)).render()
    assert "e (exactly 2; not at 1, 2, 5)" in text
    assert "Letters not in the word: i, r" in text


def test_checker_rules_one_by_one():
    i = inst("crane", guesses=3)
    steps = SC.steps(i)
    state = SC.apply(i, (), steps[0], "moist")  # all grey
    # length: a listed word without the excluded letters, but of four letters
    v = SC.check(i, state, steps[1], "crab")
    assert "crab" in word_set(4) and v.code == "illegal" and "letters" in v.reason
    # list: five letters that fit the feedback but are not listed (the parser refuses these
    # first; the checker still never lets one be committed)
    assert "xxxxx" not in word_set(5) and Constraints.from_history(state).violation("xxxxx") is None
    v = SC.check(i, state, steps[1], "xxxxx")
    assert v.code == "illegal" and "word list" in v.reason
    # feedback: a listed five-letter word that breaks it
    v = SC.check(i, state, steps[1], "toast")
    assert (v.ok, v.code) == (False, "wrong") and "crane" not in v.reason
    # the verdict names the oracle's guess from here as expected (the reason never does)
    assert (v.reason, v.expected, v.observed) == (
        "'toast' does not fit the feedback so far: 'o' is not at position 2", "clear", "toast")
    assert v.expected == SC.solve(i, state, steps[1])
    assert SC.check(i, state, steps[1], "brace").ok  # fits, not the word, a guess remains
    # last guess: fits, listed, but only the word itself keeps the goal reachable
    state = SC.apply(i, state, steps[1], "brace")
    last = SC.check(i, state, steps[2], "crave")
    assert not last.ok and last.code == "wrong" and "last guess" in last.reason and "crane" not in last.reason
    assert (last.reason, last.expected, last.observed) == (
        "'crave' is not the word, and this is the last guess", "crane", "crave")
    assert Constraints.from_history(state).violation("crave") is None
    assert SC.check(i, state, steps[2], "crane").ok


def test_after_solving_only_the_word_fits_and_on_track_follows_reachability():
    i = inst("crane", guesses=2)
    steps = SC.steps(i)
    solved = SC.apply(i, (), steps[0], "crane")
    assert SC.is_goal(i, solved) and SC.solve(i, solved, steps[1]) == "crane"
    assert not SC.check(i, solved, steps[1], "brace").ok
    missed = SC.apply(i, SC.apply(i, (), steps[0], "moist"), steps[1], "brace")
    assert not SC.on_track(i, missed, missed) and not SC.is_goal(i, missed)


def test_generator_draws_from_the_list_or_takes_the_word_given():
    assert len({inst(seed=s).answer for s in range(20)}) > 10
    assert all(inst(seed=s).answer in word_set(5) for s in range(20))
    assert inst("CRANE").answer == "crane"
    with pytest.raises(AgentloopError, match="not a five-letter word"):
        inst("zzzzz")


@settings(max_examples=100)
@given(st.sampled_from(FIVE), st.sampled_from(["", "guess: ", "  ", "**", "`"]), st.sampled_from([str.upper, str.lower, str.title]))
def test_parser_reads_a_listed_word_in_any_case_with_labels(word, wrap, case):
    step = SC.steps(inst("crane"))[0]
    text = f"{wrap}{case(word)}" if wrap.endswith(" ") or not wrap else f"{wrap}{case(word)}{wrap}"
    assert SC.parse(text, step) == word
    assert SC.parse(" ".join(word), step) == word  # letters written apart


@pytest.mark.parametrize("text", ["fjord", "FJORD", "guess: xylem", "zzzzz", "k u d z u"])
def test_unlisted_five_letter_words_are_parse_errors_not_illegal_guesses(text):
    """As in the game, a word the list does not know costs no guess: the loop asks again."""
    step = SC.steps(inst("crane"))[0]
    with pytest.raises(ParseError, match="not in the word list"):
        SC.parse(text, step)
    with pytest.raises(ParseError, match="not in the word list"):
        SC.parse_trajectory(inst("crane"), f"slate\n{text}")


@pytest.mark.parametrize("text", ["", "two words", "crane!", "cr4ne", "crâne", "crane\nslate"])
def test_parser_rejects_anything_but_one_word(text):
    with pytest.raises(ParseError):
        SC.parse(text, SC.steps(inst("crane"))[0])


def test_wrong_length_words_are_read_and_judged_illegal():
    i = inst("crane")
    step = SC.steps(i)[0]
    for word in ("cat", "crab", "planet"):  # listed or too long for the list: the length rule judges
        assert SC.check(i, (), step, SC.parse(word, step)).code == "illegal"


def test_oneshot_parser_needs_a_guess_and_at_most_the_allowed_guesses():
    with pytest.raises(ParseError, match="no guesses"):
        SC.parse_trajectory(inst("crane"), "\n  \n")
    with pytest.raises(ParseError):
        SC.parse_trajectory(inst("crane", guesses=2), "moist\nbrace\ncrane")
    assert SC.parse_trajectory(inst("crane", guesses=2), "```\nMOIST\nbrace\n```") == ["moist", "brace"]


def test_a_wrong_length_slip_is_a_listed_word_of_the_other_length():
    """Corruptions parse and are rejected (the contract tests); the wrong-length one is still listed."""
    dropped = wrong_length_word("crane", random.Random(1))
    assert dropped in word_set(4) and len(dropped) == 4


class StuckRng(random.Random):
    """Picks the right answer `misses` times, then the first word of whatever list it is given."""

    def __init__(self, misses: int):
        super().__init__(0)
        self.misses, self.calls = misses, 0

    def choice(self, seq):
        self.calls += 1
        return "crane" if self.calls <= self.misses else seq[0]


@pytest.mark.parametrize(("misses", "slip", "calls"), [(0, FIVE[0], 1), (299, FIVE[0], 300), (300, None, 301)])
def test_the_slip_draws_at_most_300_words_before_falling_back_to_a_wrong_length(misses, slip, calls):
    """On the last guess any other listed word is a slip; a draw of the answer itself is drawn again,
    300 draws in all, then the slip is a listed word one letter short."""
    i = inst("crane", guesses=1)
    rng = StuckRng(misses)
    wrong = SC.corrupt(i, (), SC.steps(i)[0], "crane", rng)
    assert wrong == (slip or sorted({"crane"[:k] + "crane"[k + 1 :] for k in range(5)} & word_set(4))[0])
    assert len(wrong) == (5 if slip else 4) and rng.calls == calls


def test_before_any_feedback_the_slip_is_a_wrong_length_word_at_once():
    i = inst("crane")
    rng = StuckRng(0)
    wrong = SC.corrupt(i, (), SC.steps(i)[0], "crane", rng)
    assert len(wrong) == 4 and wrong in word_set(4) and rng.calls == 1  # no draw from the five-letter list


class UnlistedFirst:
    """Answers a real word missing from the list at its first request, then like the oracle."""

    name, args, simulated = "test/unlisted-first", {}, True

    def __init__(self):
        self.replies = []

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        text = "fjord" if not self.replies else hint.render(hint.answers)
        self.replies.append(text)
        return Completion(text=text, tokens_in=5, tokens_out=2)

    async def acomplete(self, messages, *, hint=None, sample=0, seed=None):  # pragma: no cover
        return self.complete(messages, hint=hint, sample=sample, seed=seed)


def test_an_unlisted_word_is_asked_again_and_costs_no_guess():
    model = UnlistedFirst()
    r = run_episode("wordle", {"word": "crane"}, condition="tape", model=model, seed=0)
    assert model.replies[0] == "fjord" and r.status != "format"
    assert r.success and "fjord" not in [g["guess"] for g in r.answer]
    assert r.steps_total == 6 and len(model.replies) == len(r.answer) + 1


class Recorder:
    """Delegates to a scripted model and keeps the messages of every call."""

    def __init__(self, inner):
        self.inner, self.name, self.args, self.simulated, self.calls = inner, inner.name, inner.args, True, []

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        self.calls.append([dict(m) for m in messages])
        return self.inner.complete(messages, hint=hint, sample=sample)

    async def acomplete(self, messages, *, hint=None, sample=0, seed=None):  # pragma: no cover - not used here
        return self.complete(messages, hint=hint, sample=sample)


def test_without_a_tape_the_feedback_is_added_to_the_conversation():
    model = Recorder(get_model("scripted/oracle"))
    r = run_episode("wordle", {"word": "crane"}, condition="stepwise", model=model, seed=0)
    assert r.success
    last = "\n".join(m["content"] for m in model.calls[-1])
    first_guess = r.answer[0]["guess"]
    assert f"Feedback: {first_guess}:" in last


def test_noisy_model_runs_end_to_end_and_says_simulated():
    r = run_episode("wordle", {}, condition="tape", model="scripted/noisy", model_args={"error": 0.3}, seed=2)
    assert r.simulated and r.steps_total == 6
    assert all(g["guess"] in word_set(5) for g in r.answer)


def test_stepwise_conversation_alternates_user_and_assistant():
    model = Recorder(get_model("scripted/oracle"))
    run_episode("wordle", {"word": "crane"}, condition="stepwise", model=model, seed=0)
    roles = [m["role"] for m in model.calls[-1]]
    assert roles[0] == "system"
    assert all(a != b for a, b in zip(roles[1:], roles[2:])), roles


def test_one_guess_too_many_is_the_error_even_when_more_lines_follow():
    for text in ("moist\nbrace\ncrane", "moist\nbrace\ncrane\nzzzzz is my next idea", "moist\nbrace\ncrane\nslate\nfjord"):
        with pytest.raises(ParseError, match=r"^3 guesses, at most 2 are allowed$"):
            SC.parse_trajectory(inst("crane", guesses=2), text)
