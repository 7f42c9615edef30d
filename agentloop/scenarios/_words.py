"""The word list shared by the word puzzles (wordsquare, wordle), shipped inside the package.

The list is the 3- to 5-letter lower-case words of SCOWL's "small" American English list
(Debian's wamerican-small): common words a model should know, about 6,000 of them, 50 kB.
Licence and provenance sit beside it in `data/SCOWL-LICENSE.txt`. Nothing is downloaded.
"""

from __future__ import annotations

import random
from functools import lru_cache
from importlib.resources import files

from agentloop.errors import ParseError
from agentloop.scenarios._base import parse_lines, strip_reply

LENGTHS = (3, 4, 5)
_FILE = "scowl-small-3to5.txt"
_MAX_LETTERS = 32  # longer than any English word a puzzle asks for; longer "words" are not read


@lru_cache(maxsize=1)
def _all_words() -> tuple[str, ...]:
    text = (files("agentloop.scenarios") / "data" / _FILE).read_text(encoding="ascii")
    return tuple(w for w in text.split() if w.isalpha())


@lru_cache(maxsize=None)
def words(n: int) -> tuple[str, ...]:
    """The n-letter words, sorted."""
    return tuple(w for w in _all_words() if len(w) == n)


@lru_cache(maxsize=None)
def word_set(n: int) -> frozenset[str]:
    return frozenset(words(n))


@lru_cache(maxsize=None)
def next_letters(n: int) -> dict[str, frozenset[str]]:
    """Prefix → the letters that extend it towards some n-letter word (a flat trie).

    Every proper prefix of a word is a key, the empty prefix included; a prefix that no word
    continues is absent, so `prefix in next_letters(n)` is the prefix test.
    """
    out: dict[str, set[str]] = {}
    for w in words(n):
        for i in range(n):
            out.setdefault(w[:i], set()).add(w[i])
    return {k: frozenset(v) for k, v in out.items()}


def parse_word(text: str) -> str:
    """Strict one-word parser: letters only, any case, optionally after a `label:` prefix.

    Letters written apart (`c a t`) are joined, since models often space out grid rows.
    """
    t = strip_reply(text)
    if ":" in t:
        t = t.rpartition(":")[2]
    t = t.strip().strip("\"'`*").strip()
    parts = t.split(maxsplit=_MAX_LETTERS)  # no further: a megabyte of words is not worth a list
    if len(parts) > 1 and all(len(p) == 1 for p in parts):
        parts = ["".join(parts)]
    if len(parts) != 1 or len(parts[0]) > _MAX_LETTERS or not parts[0].isascii() or not parts[0].isalpha():
        raise ParseError(f"expected one word of letters, got {text[:40]!r}")
    return parts[0].lower()


def parse_listed_word(text: str) -> str:
    """`parse_word`, and a word of a length the list covers must be in the list.

    An unlisted word is a ParseError, so the loop asks again instead of ending the episode: as in
    Wordle, a word the list does not know costs no guess. The list is small (SCOWL small), and a
    real word missing from it is the list's gap, not the agent's mistake. A word of any other
    length is left to the scenario's length rule (`illegal`).
    """
    word = parse_word(text)
    if len(word) in LENGTHS and word not in word_set(len(word)):
        raise ParseError(f"{word!r} is not in the word list; answer with another word")
    return word


def parse_word_lines(text: str, what: str, limit: int | None = None) -> list[str]:
    """One listed word per non-blank line (see `parse_listed_word`), at most `limit` of them;
    ParseError naming `what` when there is none."""
    return parse_lines(text, parse_listed_word, what, limit)


def wrong_length_word(word: str, rng: random.Random) -> str:
    """A listed word one letter shorter than `word` (longer when the list has no shorter words).

    A dropped letter is the likely slip, so the words `word` becomes by dropping one come first.
    Used by the corrupters, which must give wrong answers that parse: never an unlisted word.
    """
    n = len(word) - 1 if len(word) - 1 in LENGTHS else len(word) + 1
    dropped = sorted({word[:i] + word[i + 1 :] for i in range(len(word))} & word_set(n))
    return rng.choice(dropped or words(n))
