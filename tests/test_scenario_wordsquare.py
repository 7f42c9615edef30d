"""Word squares: the generator's squares, the rules checker (words, column prefixes, reachability)."""

from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentloop.errors import ParseError
from agentloop.scenarios._words import next_letters, word_set, words
from agentloop.scenarios.wordsquare import (
    EMPTY, Wordsquare, WordsquareInstance, WordsquareParams, candidates, columns, completion,
)
from agentloop.types import Step

SC = Wordsquare()


def inst(size=4, symmetric=False, seed=0):
    return SC.generate(WordsquareParams(size=size, symmetric=symmetric), seed)


def test_word_list_is_shipped_small_and_clean():
    for n in (3, 4, 5):
        ws = words(n)
        assert len(ws) > 400 and all(len(w) == n and w.isalpha() and w.islower() for w in ws)
    assert {"cat", "word", "crane"} <= set(words(3)) | set(words(4)) | set(words(5))


def test_prefix_index_knows_exactly_the_prefixes_of_words():
    nxt = next_letters(4)
    assert "cr" in nxt and "a" in nxt["cr"]  # "crab"
    assert "xq" not in nxt
    assert all(w[:3] in nxt and w[3] in nxt[w[:3]] for w in words(4))


@pytest.mark.parametrize("size", [3, 4, 5])
@pytest.mark.parametrize("symmetric", [False, True])
def test_generated_squares_are_complete_valid_squares(size, symmetric):
    for seed in range(4):
        i = inst(size, symmetric, seed)
        sol = i.solution
        assert len(sol) == size and all(w in word_set(size) for w in sol)
        assert all(c in word_set(size) for c in columns(sol, size))
        if symmetric:
            assert columns(sol, size) == list(sol)
        assert SC.is_goal(i, sol)


def test_seeds_give_different_first_rows():
    assert len({inst(seed=s).first for s in range(12)}) > 6


# --- the checker's rules, one test each ---------------------------------------------------------
def test_rule_length_a_listed_word_of_another_length_is_illegal():
    i = inst(4, False, 0)
    v = SC.check(i, SC.initial_state(i), SC.steps(i)[0], "cat")
    assert "cat" in word_set(3) and v.code == "illegal" and "letters" in v.reason


def test_rule_list_an_unlisted_word_is_never_committed():
    # The parser refuses it first (see below); the checker still rejects it if it gets one.
    i = inst(4, False, 0)
    v = SC.check(i, SC.initial_state(i), SC.steps(i)[0], "zzzz")
    assert v.code == "illegal" and "word list" in v.reason


def test_rule_symmetric_rows_must_start_with_their_column():
    i = inst(4, True, 1)
    state = i.solution[:2]
    step = SC.steps(i)[1]
    need = i.solution[0][2] + i.solution[1][2]
    wrong_start = next(w for w in words(4) if not w.startswith(need))
    v = SC.check(i, state, step, wrong_start)
    assert v.code == "illegal" and repr(need) in v.reason
    # the same word breaks no other rule: in an asymmetric square with the same rows it is legal
    asym = WordsquareInstance(WordsquareParams(size=4), 1, i.solution)
    assert SC.illegal(asym, state, step, wrong_start) is None


def test_rule_dead_column_a_legal_row_that_no_word_continues_is_wrong():
    i = inst(4, False, 0)
    state, step = SC.initial_state(i), SC.steps(i)[0]
    nxt = next_letters(4)
    dead = next(w for w in words(4) if any(c not in nxt for c in columns(state + (w,), 4)))
    assert SC.illegal(i, state, step, dead) is None
    v = SC.check(i, state, step, dead)
    assert v.code == "wrong" and "column" in v.reason and not any(w in v.reason for w in i.solution[1:])


def test_rule_dead_end_every_column_alive_but_no_completion_is_wrong():
    i = inst(4, False, 0)
    state, step = SC.initial_state(i), SC.steps(i)[0]
    stuck = next(w for w in candidates(4, False, state) if completion(4, False, state + (w,)) is None)
    assert SC.illegal(i, state, step, stuck) is None  # legal, and every column a prefix (a candidate)
    v = SC.check(i, state, step, stuck)
    assert v.code == "wrong" and "no way to complete" in v.reason and not any(w in v.reason for w in i.solution[1:])
    good = next(w for w in candidates(4, False, state) if completion(4, False, state + (w,)) is not None)
    assert SC.check(i, state, step, good).ok


def test_any_completion_is_accepted_not_just_the_generators():
    """The checker is of kind rules: a different valid square than the stored one also solves."""
    found = 0
    for seed in range(20):
        i = inst(3, False, seed)
        state = SC.initial_state(i)
        other = [w for w in candidates(3, False, state) if w != i.solution[1] and completion(3, False, state + (w,))]
        if not other:
            continue
        done = completion(3, False, state + (other[0],))
        for step, row in zip(SC.steps(i), done[1:]):
            assert SC.check(i, state, step, row).ok
            state = SC.apply(i, state, step, row)
        assert SC.is_goal(i, state) and state != i.solution
        found += 1
    assert found


def test_on_track_is_reachability():
    i = inst(4, False, 0)
    assert SC.on_track(i, i.solution[:2], i.solution[:2])
    stuck = next(w for w in candidates(4, False, (i.first,)) if completion(4, False, (i.first, w)) is None)
    assert not SC.on_track(i, (i.first, stuck), i.solution[:2])


@settings(max_examples=100)
@given(st.sampled_from(words(4) + words(5)), st.sampled_from(["", "row 2: ", "`", "**"]))
def test_row_parser_reads_a_listed_word_with_labels_and_spaced_letters(word, wrap):
    step = SC.steps(inst())[0]
    text = f"row 2: {word}" if wrap == "row 2: " else f"{wrap}{word.upper()}{wrap}"
    assert SC.parse(text, step) == word
    assert SC.parse(" ".join(word), step) == word


@pytest.mark.parametrize("text", ["yurt", "WIKI", "row 2: gyro", "xylem", "m e m e"])
def test_unlisted_words_are_parse_errors_so_the_loop_asks_again(text):
    step = SC.steps(inst())[0]
    with pytest.raises(ParseError, match="not in the word list"):
        SC.parse(text, step)


@pytest.mark.parametrize("text", ["", "two words", "ab-c", "row 2:", "wörd"])
def test_row_parser_rejects_anything_but_one_word(text):
    with pytest.raises(ParseError):
        SC.parse(text, SC.steps(inst())[0])


def test_oneshot_square_must_start_with_the_given_row_and_be_listed():
    i = inst(3, False, 2)
    assert SC.parse_trajectory(i, "\n".join(i.solution)) == list(i.solution[1:])
    assert SC.parse_trajectory(i, "\n".join([*i.solution, "extra lines are not read", "?"])) == list(i.solution[1:])
    with pytest.raises(ParseError, match="not in the word list"):
        SC.parse_trajectory(i, "\n".join([i.first, "zzz", i.solution[2]]))
    assert SC.parse_trajectory(i, "\n".join(" ".join(w.upper()) for w in i.solution)) == list(i.solution[1:])
    with pytest.raises(ParseError, match="given row 1"):
        SC.parse_trajectory(i, "\n".join(i.solution[1:]))


def test_the_goal_is_a_full_square_of_listed_words_that_is_symmetric_when_asked():
    free, sym = inst(3, False, 1), inst(3, True, 1)
    square = next(s for s in (inst(3, False, k).solution for k in range(50)) if columns(s, 3) != list(s))
    assert SC.is_goal(free, square) and not SC.is_goal(sym, square)  # rows and columns words, not mirrored
    assert SC.is_goal(sym, sym.solution) and SC.is_goal(free, sym.solution)
    assert not SC.is_goal(free, square[:2])  # a square with a row missing
    unlisted = (square[0], square[1], "zzz")
    assert not SC.is_goal(free, unlisted)
    dead = next((square[0], square[1], w) for w in words(3) if w in word_set(3) and columns((square[0], square[1], w), 3)[0] not in word_set(3))
    assert not SC.is_goal(free, dead)  # every row listed, a column not a word
    assert not SC.is_goal(free, tuple(columns(dead, 3)))  # every column listed, a row not a word


# --- rows written out of order (planner=llm): EMPTY marks a row not written yet ----------------------
def test_a_completion_fills_the_rows_left_empty_between_written_ones():
    for symmetric in (False, True):
        i = inst(4, symmetric, 2)
        state = (i.solution[0], EMPTY, i.solution[2])
        done = completion(4, symmetric, state)
        assert done is not None and len(done) == 4
        assert (done[0], done[2]) == (i.solution[0], i.solution[2])  # the written rows stay
        assert SC.is_goal(i, done)


def test_the_window_of_a_symmetric_square_out_of_order_shows_unknown_letters_as_dots():
    i = WordsquareInstance(WordsquareParams(size=3, symmetric=True), 0, ("cat", "ate", "ten"))
    assert SC.window(i, ("cat",), Step(1, (2,), "row 3")) == (
        "The square so far (. is a letter of a row not written yet):\n"
        "row 1: cat\nrow 2: ...\nrow 3: ...\n"
        "So far column 1 reads 'c..', column 2 reads 'a..', column 3 reads 't..'. "
        "Row 3 must read 't..' where its letters are known."
    )
    assert SC.window(i, ("cat", EMPTY, "ten"), Step(0, (1,), "row 2")).endswith(
        "Row 2 must read 'a.e' where its letters are known.")


def test_a_dead_end_is_reported_with_the_row_the_agent_wrote():
    i = inst(4, False, 0)
    state, step = SC.initial_state(i), SC.steps(i)[0]
    stuck = next(w for w in candidates(4, False, state) if completion(4, False, state + (w,)) is None)
    v = SC.check(i, state, step, stuck)
    assert (v.ok, v.code, v.observed, v.expected) == (False, "wrong", stuck, i.solution[1])
    assert v.reason == f"no way to complete the square after {stuck!r}"
