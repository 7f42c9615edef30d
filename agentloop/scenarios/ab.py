"""Victor Taelin's A::B challenge (April 2024): rewrite a sequence of tokens to its normal form.

Tokens are `A#`, `#A`, `B#`, `#B`. Whenever two neighbours face each other (`X# #Y`) they
interact: `A# #A` and `B# #B` annihilate, `A# #B` and `B# #A` swap. The system always reaches
the same normal form, whatever order the rewrites are done in.

Atomic step: one rewrite. The planner picks the leftmost redex (the first facing pair); the
tape holds the current sequence, and its window shows that sequence with the redex marked. The
answer is the whole sequence after the rewrite, so copying slips count as errors, as they do
when a model keeps the state in its own context. An answer that no single rewrite of the
current sequence can produce is `illegal`; rewriting some other redex is legal but `wrong`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import Field

from agentloop.errors import AgentloopError, ParseError
from agentloop.scenarios._base import Params, Scenario, parse_lines, strip_reply
from agentloop.types import Step

TOKENS = ("A#", "#A", "B#", "#B")
Seq = tuple[str, ...]

# The four rules; a value is what replaces the facing pair.
RULES: dict[tuple[str, str], Seq] = {
    ("A#", "#A"): (),
    ("A#", "#B"): ("#B", "A#"),
    ("B#", "#A"): ("#A", "B#"),
    ("B#", "#B"): (),
}
MAX_LENGTH = 64
_EMPTY_WORDS = ("empty", "(empty)", "nothing", "(nothing)")
_LABEL = re.compile(r"^(?:answer|sequence|new sequence|result|normal form)\s*:\s*", re.IGNORECASE)
_LINE_LABEL = re.compile(r"^(?:(?:rewrite|step)\s*[0-9]+|[0-9]+[.)]?)\s*:?\s*", re.IGNORECASE)


class AbParams(Params):
    length: int = Field(default=12, ge=2, le=MAX_LENGTH, description="tokens in the initial sequence")


@dataclass(frozen=True)
class AbInstance:
    params: AbParams
    seed: int
    initial: Seq


def redexes(seq: Sequence[str]) -> list[int]:
    """Positions i where tokens i and i+1 face each other and a rule applies."""
    return [i for i in range(len(seq) - 1) if (seq[i], seq[i + 1]) in RULES]


def rewrite(seq: Seq, i: int) -> Seq:
    """The sequence after rewriting the pair at i (which must be a redex). Pure."""
    return seq[:i] + RULES[(seq[i], seq[i + 1])] + seq[i + 2 :]


def step_once(seq: Seq) -> Seq:
    """One leftmost rewrite, or the sequence itself when it is already in normal form."""
    r = redexes(seq)
    return rewrite(seq, r[0]) if r else seq


def normal_form(seq: Seq) -> tuple[Seq, int]:
    """The normal form and the number of leftmost rewrites that reach it."""
    n = 0
    while redexes(seq):
        seq, n = step_once(seq), n + 1
    return seq, n


def fmt_seq(seq: Sequence[str]) -> str:
    return " ".join(seq) if seq else "empty"


def parse_seq(text: str) -> Seq:
    """Space-separated tokens (or `empty`) → a sequence; ParseError on anything else."""
    t = _LABEL.sub("", strip_reply(text)).strip().strip("[]").replace(",", " ").strip()
    if "\n" in t or "\r" in t:
        raise ParseError("expected one sequence on one line")
    if t.lower() in _EMPTY_WORDS:
        return ()
    if not t:
        raise ParseError("no sequence found (write `empty` for the empty sequence)")
    # Rewrites never lengthen a sequence, so no answer has more than MAX_LENGTH tokens; splitting
    # no further than that keeps a megabyte of tokens from becoming a list of 300,000 strings.
    toks = t.split(maxsplit=MAX_LENGTH)
    if len(toks) > MAX_LENGTH:
        raise ParseError(f"more than {MAX_LENGTH} tokens; no sequence here is that long")
    out = []
    for tok in toks:
        tok = tok.upper()
        if tok not in TOKENS:
            raise ParseError(f"not an A::B token: {tok[:12]!r} (tokens are A#, #A, B#, #B)")
        out.append(tok)
    return tuple(out)


class Ab(Scenario[AbInstance, Seq, Seq]):
    name = "ab"
    summary = "Taelin's A::B rewriting puzzle: one leftmost rewrite per step, the whole sequence as the answer"
    Params = AbParams
    max_answer_chars = 3 * MAX_LENGTH + 24

    def generate(self, params: AbParams, seed: int) -> AbInstance:
        rng = random.Random(seed)
        # Redraw (deterministically) until at least one rewrite is needed: an instance already
        # in normal form has no steps to measure. Only possible to fail for tiny lengths.
        for _ in range(1000):
            seq = tuple(rng.choice(TOKENS) for _ in range(params.length))
            if redexes(seq):
                return AbInstance(params, seed, seq)
        raise AgentloopError(f"ab: could not draw a sequence of length {params.length} that needs a rewrite")

    def initial_state(self, inst: AbInstance) -> Seq:
        return inst.initial

    def steps(self, inst: AbInstance) -> list[Step]:
        _, n = normal_form(inst.initial)
        return [Step(i, (i + 1,), f"rewrite {i + 1}") for i in range(n)]

    def solve(self, inst: AbInstance, state: Seq, step: Step) -> Seq:
        return step_once(state)

    def illegal(self, inst: AbInstance, state: Seq, step: Step, answer: Seq) -> str | None:
        r = redexes(state)
        if not r:
            return None if answer == state else "the sequence is already in normal form; copy it unchanged"
        if any(rewrite(state, i) == answer for i in r):
            return None
        return "no single rewrite of the current sequence gives that sequence"

    def apply(self, inst: AbInstance, state: Seq, step: Step, answer: Seq) -> Seq:
        return answer

    def is_goal(self, inst: AbInstance, state: Seq) -> bool:
        return state == normal_form(inst.initial)[0]

    def corrupt(self, inst: AbInstance, state: Seq, step: Step, answer: Seq, rng: random.Random) -> Seq:
        # A legal slip first (rewriting another redex), then the classic rule confusions.
        r = redexes(state)
        others = [s for s in (rewrite(state, i) for i in r) if s != answer]
        if others:
            return rng.choice(others)
        if r:
            i = r[0]
            pair = state[i : i + 2]
            wrong = pair[::-1] if not RULES[pair] else ()  # swap an annihilating pair, or annihilate a swap
            cand = state[:i] + wrong + state[i + 2 :]
            if cand != answer:
                return cand
        return answer[1:] if answer else ("A#",)

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: AbInstance) -> str:
        return (
            "A::B is a system with four tokens: A#, #A, B# and #B. A program is a sequence of tokens. "
            "When two neighbour tokens face each other (a token ending in # followed by one starting "
            "with #), they are rewritten by these rules:\n"
            "A# #A -> (nothing)\nA# #B -> #B A#\nB# #A -> #A B#\nB# #B -> (nothing)\n"
            "One step rewrites exactly one facing pair: always the leftmost one. Write sequences as "
            "tokens separated by spaces, or `empty` when no token is left."
        )

    def show_initial(self, inst: AbInstance) -> str:
        return f"sequence: {fmt_seq(inst.initial)}"

    def oneshot_format(self, inst: AbInstance) -> str:
        return (
            "Rewrite the leftmost facing pair again and again until no pair faces. Write the sequence "
            "after every rewrite, one per line, as `rewrite N: ` followed by the tokens (or `empty`); "
            "the last line is the normal form. Write nothing else."
        )

    def window(self, inst: AbInstance, state: Seq, step: Step) -> str:
        r = redexes(state)
        if not r:
            return f"Sequence: {fmt_seq(state)}. No pair faces: the sequence is in normal form."
        i = r[0]
        return (
            f"Sequence: {fmt_seq(state)}. Leftmost facing pair: tokens {i + 1} and {i + 2} "
            f"({state[i]} {state[i + 1]})."
        )

    def step_prompt(self, inst: AbInstance, step: Step, window: str | None) -> str:
        if window is None:
            return (
                f"{step.label}: rewrite the leftmost facing pair of the current sequence. "
                "Answer with the whole new sequence only."
            )
        return f"{step.label}. {window} Rewrite that pair and answer with the whole new sequence only."

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> Seq:
        return parse_seq(text)

    def format_answer(self, answer: Seq) -> str:
        return fmt_seq(answer)

    def parse_trajectory(self, inst: AbInstance, text: str) -> list[Seq]:
        return parse_lines(
            text, lambda line: parse_seq(_LINE_LABEL.sub("", line)), "sequences", limit=len(self.steps(inst))
        )

    def format_trajectory(self, inst: AbInstance, answers: Sequence[Seq]) -> str:
        return "\n".join(f"rewrite {i + 1}: {fmt_seq(s)}" for i, s in enumerate(answers))

    def to_json_answer(self, answer: Seq) -> str:
        return fmt_seq(answer)

    def initial_json(self, inst: AbInstance) -> str:
        return fmt_seq(inst.initial)

    def expected_json(self, inst: AbInstance) -> str:
        return fmt_seq(normal_form(inst.initial)[0])

    def result_json(self, inst: AbInstance, state: Seq, answers: Sequence[Seq]) -> str:
        return fmt_seq(state)
