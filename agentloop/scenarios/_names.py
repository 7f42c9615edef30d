"""Made-up, pronounceable words for scenarios that need keys or people nobody has heard of.

Generated from a seeded RNG rather than taken from a word list, so no model can know them from
training, and no data file has to ship with the package.
"""

from __future__ import annotations

import random

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "st", "th")
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("", "", "", "n", "r", "l", "s")


def word(rng: random.Random, syllables: int) -> str:
    """One lowercase pseudo-word of `syllables` consonant-vowel(-consonant) syllables."""
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)]
    return "".join(parts) + rng.choice(_CODAS)


def unique_words(rng: random.Random, count: int, syllables: int) -> list[str]:
    """`count` distinct pseudo-words, in the order drawn (deterministic for a seeded rng)."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        w = word(rng, syllables)
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def unique_people(rng: random.Random, count: int) -> list[str]:
    """`count` distinct fictitious full names such as "Dova Kelitran"."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        name = f"{word(rng, 2).capitalize()} {word(rng, 3).capitalize()}"
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out
