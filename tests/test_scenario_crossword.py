"""What is specific to the crossword (the registry-wide contract covers the rest)."""

from __future__ import annotations

import re

import pytest
from fakes import Scripted

from agentloop.loop import run_episode
from agentloop.scenarios import get_scenario
from agentloop.scenarios.crossword import clues

SC = get_scenario("crossword")


def _inst(words: int = 5, seed: int = 1):
    return SC.generate(SC.Params(words=words), seed)


def test_the_clue_list_is_clean():
    c = clues()
    assert len(c) >= 100
    for word, clue in c.items():
        assert word.isascii() and word.isalpha() and word.islower() and 3 <= len(word) <= 7, word
        assert clue and word not in re.findall(r"[a-z]+", clue.lower()), (word, clue)  # never gives its answer away


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("n", [2, 5, 8])
def test_every_layout_is_a_real_crossword(n, seed):
    inst = _inst(n, seed)
    entries = inst.entries
    assert len(entries) == n and len({e.word for e in entries}) == n
    owner: dict[tuple[int, int], list] = {}
    for e in entries:
        for i, cell in enumerate(e.cells()):
            assert 0 <= cell[0] < inst.rows and 0 <= cell[1] < inst.cols
            owner.setdefault(cell, []).append((e, i))
    for cell, users in owner.items():
        # a square is used by one word, or by one across and one down word with the same letter
        assert len(users) <= 2
        if len(users) == 2:
            (a, i), (b, j) = users
            assert a.across != b.across and a.word[i] == b.word[j]
    for k, e in enumerate(entries[1:], 1):  # each word after the first crosses an earlier one
        assert any(len(owner[cell]) == 2 and any(u is not e and entries.index(u) < k for u, _ in owner[cell]) for cell in e.cells())
    for e in entries:  # the squares before and after a word are not squares of any word
        dr, dc = (0, 1) if e.across else (1, 0)
        assert (e.row - dr, e.col - dc) not in owner
        assert (e.row + dr * len(e.word), e.col + dc * len(e.word)) not in owner
    # numbers: row-by-row order of the starting squares, shared by an across and a down start
    starts = sorted({(e.row, e.col) for e in entries})
    assert all(e.number == starts.index((e.row, e.col)) + 1 for e in entries)


def test_a_letter_against_a_crossing_word_is_illegal_and_another_fitting_word_is_wrong():
    inst = _inst(5, 1)
    steps = SC.steps(inst)
    state = (inst.entries[0].word,)
    second = inst.entries[1]
    shared = next(i for i, cell in enumerate(second.cells()) if cell in dict(zip(inst.entries[0].cells(), inst.entries[0].word)))
    clash = second.word[:shared] + ("z" if second.word[shared] != "z" else "y") + second.word[shared + 1 :]
    v = SC.check(inst, state, steps[1], clash)
    assert v.code == "illegal" and "already holds" in v.reason
    short = SC.check(inst, state, steps[1], second.word[:-1])
    assert short.code == "illegal" and f"{len(second.word)} squares" in short.reason
    assert SC.check(inst, state, steps[1], second.word).ok
    other = next(w for w in clues() if w != second.word and SC.illegal(inst, state, steps[1], w) is None)
    wrong = SC.check(inst, state, steps[1], other)
    assert wrong.code == "wrong" and wrong.expected == second.word


def test_a_wrong_word_written_into_the_grid_blocks_the_right_crossing_word():
    inst = _inst(5, 1)
    first, second = inst.entries[0], inst.entries[1]
    shared_cell = next(cell for cell in second.cells() if cell in first.cells())
    i = first.cells().index(shared_cell)
    bad = first.word[:i] + ("z" if first.word[i] != "z" else "y") + first.word[i + 1 :]
    v = SC.check(inst, (bad,), SC.steps(inst)[1], second.word)
    assert v.code == "illegal"  # the error propagated: the true answer no longer fits


def test_the_tape_window_shows_the_crossing_letters_and_the_clue():
    inst = _inst(5, 1)
    state = (inst.entries[0].word,)
    step = SC.steps(inst)[1]
    window = SC.window(inst, state, step)
    second = inst.entries[1]
    pattern = " ".join(dict(zip(inst.entries[0].cells(), inst.entries[0].word)).get(c, "_") for c in second.cells())
    assert f"now read: {pattern}" in window and any(ch.isalpha() for ch in pattern)
    prompt = SC.step_prompt(inst, step, window)
    assert clues()[second.word] in prompt and f"{len(second.word)}-letter word" in prompt


def test_an_episode_records_a_wrong_word_and_stops_at_the_clash_it_causes():
    inst = _inst(5, 1)
    words = [e.word for e in inst.entries]
    first, second = inst.entries[0], inst.entries[1]
    i = first.cells().index(next(c for c in second.cells() if c in first.cells()))
    bad = first.word[:i] + ("z" if first.word[i] != "z" else "y") + first.word[i + 1 :]
    r = run_episode("crossword", {"words": 5}, condition="tape", model=Scripted([f"Answer: {bad.upper()}", *words[1:]]), seed=1)
    assert [s.code for s in r.steps] == ["wrong", "illegal"] and r.status == "failed" and r.first_error_step == 0
    good = run_episode("crossword", {"words": 5}, condition="tape", model=Scripted(words), seed=1)
    assert good.success and good.answer == words


@pytest.mark.parametrize("text", ["answer: cat", "1 across: answer: CAT", "Entry 2: word: my guess: `cat`", "c:a:t: c a t"])
def test_the_word_is_read_after_the_last_colon_of_a_label(text):
    inst = _inst()
    assert SC.parse(text, SC.steps(inst)[0]) == "cat"
