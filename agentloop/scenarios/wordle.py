"""Wordle: find a hidden five-letter word in six guesses from green/yellow/grey feedback.

Atomic step: one guess. Feedback follows the game, repeated letters included: greens first,
then, left to right, a letter is yellow only while the hidden word has copies of it not yet
marked; other copies are grey. The tape holds the explicit constraint state that feedback
implies (known positions, present letters and where they are not, letter counts, excluded
letters). Without a tape the colours are added to the conversation after each guess.

Many guesses are right, so the checker is of kind `rules` (hard mode): a guess must have five
letters (else `illegal`) and fit every feedback so far (else `wrong`); the last guess must be
the word, since nothing else keeps the goal reachable. Once solved, the only guess that fits is
the word itself. A five-letter word that is not in the list is refused by the parser, so the
loop asks again: as in the game, it costs no guess.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from pydantic import Field

from agentloop.errors import AgentloopError, ParseError
from agentloop.scenarios._base import Params, Scenario
from agentloop.scenarios._words import parse_listed_word, parse_word_lines, word_set, words, wrong_length_word
from agentloop.types import Step, Verdict

N = 5
GREEN, YELLOW, GREY = "G", "Y", "-"
History = tuple[tuple[str, str], ...]  # (guess, feedback) in order; feedback like "G-Y--"
_COLOUR = {GREEN: "green", YELLOW: "yellow", GREY: "grey"}


class WordleParams(Params):
    word: str = Field(default="", description="the hidden word (empty: drawn by the seed from the list)")
    guesses: int = Field(default=6, ge=1, le=10, description="guesses allowed")


@dataclass(frozen=True)
class WordleInstance:
    params: WordleParams
    seed: int
    answer: str

    @property
    def guesses(self) -> int:
        return self.params.guesses


def feedback(answer: str, guess: str) -> str:
    """The colours of `guess` against `answer`, with the game's rule for repeated letters."""
    marks = [GREY] * N
    spare: Counter[str] = Counter()
    for i, (a, g) in enumerate(zip(answer, guess)):
        if a == g:
            marks[i] = GREEN
        else:
            spare[a] += 1
    for i, g in enumerate(guess):
        if marks[i] != GREEN and spare[g] > 0:
            marks[i] = YELLOW
            spare[g] -= 1
    return "".join(marks)


def consistent(word: str, history: History) -> bool:
    """Whether `word` could be the hidden word: it would have produced every feedback seen."""
    return all(feedback(word, g) == fb for g, fb in history)


@dataclass(frozen=True)
class Constraints:
    """What the feedback so far says about the hidden word, written out (the tape's content)."""

    known: dict[int, str] = field(default_factory=dict)  # position -> letter
    not_at: dict[str, frozenset[int]] = field(default_factory=dict)  # letter -> positions it is not at
    at_least: dict[str, int] = field(default_factory=dict)  # letter -> fewest copies
    exactly: dict[str, int] = field(default_factory=dict)  # letter -> copies, when a grey pinned it

    @classmethod
    def from_history(cls, history: History) -> Constraints:
        known: dict[int, str] = {}
        not_at: dict[str, set[int]] = {}
        at_least: dict[str, int] = {}
        exactly: dict[str, int] = {}
        for guess, fb in history:
            seen = Counter(g for g, m in zip(guess, fb) if m != GREY)
            for i, (g, m) in enumerate(zip(guess, fb)):
                if m == GREEN:
                    known[i] = g
                else:
                    not_at.setdefault(g, set()).add(i)
                if m == GREY:  # a grey copy: the word has exactly the copies marked elsewhere
                    exactly[g] = seen[g]
            for g, k in seen.items():
                at_least[g] = max(at_least.get(g, 0), k)
        return cls(known, {k: frozenset(v) for k, v in not_at.items()}, at_least, exactly)

    def violation(self, word: str) -> str | None:
        """The first constraint `word` breaks, in words, or None when it fits them all."""
        for i, ch in sorted(self.known.items()):
            if word[i] != ch:
                return f"position {i + 1} must be {ch!r}"
        for ch, pos in sorted(self.not_at.items()):
            for i in sorted(pos):
                if word[i] == ch:
                    return f"{ch!r} is not at position {i + 1}"
        counts = Counter(word)
        for ch, k in sorted(self.exactly.items()):
            if counts[ch] != k:
                return f"the word has no {ch!r}" if k == 0 else f"the word has exactly {k} {ch!r}"
        for ch, k in sorted(self.at_least.items()):
            if counts[ch] < k:
                return f"the word has at least {k} {ch!r}"
        return None

    def render(self) -> str:
        known = " ".join(f"{i + 1}={ch}" for i, ch in sorted(self.known.items())) or "none"
        excluded = sorted(ch for ch, k in self.exactly.items() if k == 0)
        present = []
        for ch in sorted(self.at_least):
            k, exact = self.at_least[ch], self.exactly.get(ch)
            count = f"exactly {exact}" if exact is not None else f"at least {k}"
            where = sorted(i + 1 for i in self.not_at.get(ch, ()))
            present.append(f"{ch} ({count}" + (f"; not at {', '.join(map(str, where))})" if where else ")"))
        return (
            f"Known positions: {known}. "
            f"Letters in the word: {', '.join(present) or 'none known'}. "
            f"Letters not in the word: {', '.join(excluded) or 'none known'}."
        )


@lru_cache(maxsize=None)
def _answers() -> tuple[str, ...]:
    """Hidden words: the list without plain plurals (`cats` when `cat`s is a word), as the game does."""
    four = word_set(4)
    return tuple(w for w in words(N) if not (w.endswith("s") and w[:-1] in four))


@lru_cache(maxsize=2048)
def _candidates(history: History) -> tuple[str, ...]:
    return tuple(w for w in words(N) if consistent(w, history))


@lru_cache(maxsize=2048)
def best_guess(history: History) -> str:
    """The reference strategy: the fitting word whose distinct letters are commonest among the fitting words."""
    pool = _candidates(history)
    freq = Counter(ch for w in pool for ch in set(w))
    return min(pool, key=lambda w: (-sum(freq[ch] for ch in set(w)), w))


def _describe(guess: str, fb: str) -> str:
    return f"{guess}: " + " ".join(f"{g}={_COLOUR[m]}" for g, m in zip(guess, fb))


class Wordle(Scenario[WordleInstance, History, str]):
    name = "wordle"
    summary = "find a hidden five-letter word in six guesses from colour feedback (rules checker, hard mode)"
    Params = WordleParams
    checker = "rules"
    max_answer_chars = 32

    def generate(self, params: WordleParams, seed: int) -> WordleInstance:
        if params.word:
            word = params.word.strip().lower()
            if word not in word_set(N):
                raise AgentloopError(f"wordle: word={params.word!r} is not a five-letter word of the word list")
            return WordleInstance(params, seed, word)
        return WordleInstance(params, seed, random.Random(f"wordle:{seed}").choice(_answers()))

    def initial_state(self, inst: WordleInstance) -> History:
        return ()

    def steps(self, inst: WordleInstance) -> list[Step]:
        return [Step(i, (i,), f"guess {i + 1}") for i in range(inst.guesses)]

    def _solved(self, inst: WordleInstance, state: History) -> bool:
        return any(g == inst.answer for g, _ in state)

    def solve(self, inst: WordleInstance, state: History, step: Step) -> str:
        if self._solved(inst, state) or len(state) + 1 >= inst.guesses:
            return inst.answer  # the only guess that fits (solved) or keeps the goal reachable (last)
        return best_guess(state)

    def illegal(self, inst: WordleInstance, state: History, step: Step, answer: str) -> str | None:
        if len(answer) != N:
            return f"{answer!r} has {len(answer)} letters, a guess needs {N}"
        if answer not in word_set(N):  # the parser refuses these first; kept so none is ever committed
            return f"{answer!r} is not in the word list"
        return None

    def check(self, inst: WordleInstance, state: History, step: Step, answer: str) -> Verdict:
        """A listed word that fits all feedback so far; on the last guess, only the word will do."""
        why = self.illegal(inst, state, step, answer)
        if why is not None:
            return Verdict.reject("illegal", why, observed=answer)
        expected = self.solve(inst, state, step)
        broken = Constraints.from_history(state).violation(answer)
        if broken is not None:
            return Verdict.reject("wrong", f"{answer!r} does not fit the feedback so far: {broken}",
                                  expected=expected, observed=answer)
        if answer != inst.answer and len(state) + 1 >= inst.guesses:
            return Verdict.reject("wrong", f"{answer!r} is not the word, and this is the last guess",
                                  expected=expected, observed=answer)
        return Verdict.accept(answer)

    def apply(self, inst: WordleInstance, state: History, step: Step, answer: str) -> History:
        return state + ((answer, feedback(inst.answer, answer)),)

    def on_track(self, inst: WordleInstance, state: History, true_state: History) -> bool:
        """Still winnable: solved, or guesses left (every feedback is true, so the word always fits)."""
        return self._solved(inst, state) or len(state) < inst.guesses

    def is_goal(self, inst: WordleInstance, state: History) -> bool:
        return self._solved(inst, state)

    def corrupt(self, inst: WordleInstance, state: History, step: Step, answer: str, rng: random.Random) -> str:
        """A listed word that breaks the feedback (the likely slip), else a listed word with a letter
        dropped (illegal: a guess has five letters). Never an unlisted word: the parser refuses those."""
        pool, cons = words(N), Constraints.from_history(state)
        last = len(state) + 1 >= inst.guesses
        for _ in range(300 if state or last else 0):  # before any feedback every listed word fits
            w = rng.choice(pool)
            if w != answer and (last or cons.violation(w) is not None):
                return w
        return wrong_length_word(answer, rng)

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: WordleInstance) -> str:
        return (
            f"Play Wordle: find a hidden five-letter English word in at most {inst.guesses} guesses. "
            "Each guess must be a five-letter word. After each guess every letter is marked: green = right "
            "letter in the right place; yellow = the letter is in the word but elsewhere; grey = not in the "
            "word (a repeated letter is grey once the word's copies of it are all marked). Hard mode: every "
            "guess must fit all the feedback so far. One guess per step."
        )

    def show_initial(self, inst: WordleInstance) -> str:
        return f"A hidden five-letter word; {inst.guesses} guesses; no feedback yet."

    def oneshot_format(self, inst: WordleInstance) -> str:
        return (
            f"You will get no feedback. Write up to {inst.guesses} guesses, one five-letter word per line, "
            "and nothing else."
        )

    def window(self, inst: WordleInstance, state: History, step: Step) -> str:
        used = ", ".join(g for g, _ in state) or "none"
        last = f" Last feedback: {_describe(*state[-1])}." if state else ""
        known = Constraints.from_history(state).render()
        return f"Guesses used: {len(state)} of {inst.guesses} ({used}).{last} {known}"

    def step_prompt(self, inst: WordleInstance, step: Step, window: str | None) -> str:
        ask = f"Guess {step.index + 1} of {inst.guesses}: which five-letter word? Answer with the word only."
        return ask if window is None else f"{window}\n{ask}"

    def observation(self, inst: WordleInstance, state: History, step: Step) -> str | None:
        return f"Feedback: {_describe(*state[-1])}." if state else None

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> str:
        return parse_listed_word(text)

    def format_answer(self, answer: str) -> str:
        return answer

    def parse_trajectory(self, inst: WordleInstance, text: str) -> list[str]:
        guesses = parse_word_lines(text, "guesses", limit=inst.guesses + 1)  # one more shows there are too many
        if len(guesses) > inst.guesses:
            raise ParseError(f"{len(guesses)} guesses, at most {inst.guesses} are allowed")
        return guesses

    def format_trajectory(self, inst: WordleInstance, answers: Sequence[str]) -> str:
        return "\n".join(answers)

    def initial_json(self, inst: WordleInstance) -> dict:
        return {"letters": N, "guesses": inst.guesses}

    def expected_json(self, inst: WordleInstance) -> list[dict]:
        """The reference strategy's game (its last guess is the hidden word)."""
        state = self.initial_state(inst)
        for step in self.steps(inst):
            state = self.apply(inst, state, step, self.solve(inst, state, step))
        return self.result_json(inst, state, [g for g, _ in state])

    def result_json(self, inst: WordleInstance, state: History, answers: Sequence[str]) -> list[dict]:
        return [{"guess": g, "feedback": fb} for g, fb in state]
