"""The word list shared by the word puzzles (wordsquare, wordle), shipped inside the package.

The list is the 3- to 5-letter lower-case words of SCOWL's "small" American English list
(Debian's wamerican-small): common words a model should know, about 6,000 of them, 50 kB.
Licence and provenance sit beside it in `data/SCOWL-LICENSE.txt`. Nothing is downloaded.
"""

from __future__ import annotations

import random
from functools import lru_cache
from importlib.resources import files

LENGTHS = (3, 4, 5)
_FILE = "scowl-small-3to5.txt"


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
    from agentloop.errors import ParseError
    from agentloop.scenarios._base import strip_reply

    t = strip_reply(text)
    if ":" in t:
        t = t.rpartition(":")[2]
    t = t.strip().strip("\"'`*").strip()
    parts = t.split()
    if len(parts) > 1 and all(len(p) == 1 for p in parts):
        parts = ["".join(parts)]
    if len(parts) != 1 or not parts[0].isascii() or not parts[0].isalpha():
        raise ParseError(f"expected one word of letters, got {text[:40]!r}")
    return parts[0].lower()


def parse_word_lines(text: str, what: str) -> list[str]:
    """One word per non-blank line (see `parse_word`); ParseError naming `what` when there is none."""
    from agentloop.scenarios._base import parse_lines

    return parse_lines(text, parse_word, what)


def misspell(word: str, rng: random.Random) -> str:
    """`word` with one letter changed so that it is no longer a word of the list."""
    vocab = word_set(len(word))
    while True:
        i = rng.randrange(len(word))
        w = word[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + word[i + 1 :]
        if w not in vocab:
            return w
