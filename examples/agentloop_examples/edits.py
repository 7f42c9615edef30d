"""Apply a long list of word edits to a document, one edit per step.

Each step names a line and one edit; the answer is the whole line after it. The simulator keeps
the true document, so every answer is checked against the line it should be.
"""

import random
import re

from pydantic import Field

from agentloop import Params, ParseError, Scenario, Step

WORDS = "apple river stone cloud lamp violet garden copper window salt maple thunder".split()
EDITS = {"replace": "replace every '{a}' with '{b}'", "prepend": "insert '{a}' at the start",
         "append": "add '{a}' at the end", "swap": "swap the first and the last word"}
KINDS = list(EDITS)


def edit(words: list[str], kind: str, a: str, b: str) -> list[str]:
    if kind == "replace":
        return [b if w == a else w for w in words]
    if kind in ("prepend", "append"):
        return [a, *words] if kind == "prepend" else [*words, a]
    return [words[-1], *words[1:-1], words[0]] if len(words) > 1 else words  # swap


class EditsParams(Params):
    lines: int = Field(8, ge=1, le=200, description="lines in the document")
    edits: int = Field(20, ge=1, le=5000, description="edits to apply, one per step")


class Edits(Scenario):
    """You edit a document of lower-case words one line at a time. Apply the edit to the line
    and reply with the whole edited line, words separated by single spaces, and nothing else."""

    Params = EditsParams
    max_answer_chars = 400  # lines grow as words are added

    def initial_state(self, inst):
        rng = random.Random(inst.seed)
        return tuple(" ".join(rng.choices(WORDS, k=5)) for _ in range(inst.params.lines))

    def steps(self, inst):
        rng, n = random.Random(f"edits:{inst.seed}"), inst.params.lines
        keys = [(rng.randrange(n), rng.randrange(4), rng.randrange(12), rng.randrange(12)) for _ in range(inst.params.edits)]
        return [Step(i, k, f"line {k[0] + 1}: " + EDITS[KINDS[k[1]]].format(a=WORDS[k[2]], b=WORDS[k[3]]))
                for i, k in enumerate(keys)]

    def solve(self, inst, state, step):
        line, kind, a, b = step.key
        return " ".join(edit(state[line].split(), KINDS[kind], WORDS[a], WORDS[b]))

    def apply(self, inst, state, step, answer):
        return (*state[: step.key[0]], answer, *state[step.key[0] + 1 :])

    def window(self, inst, state, step):
        return state[step.key[0]]  # the tape shows only the line being edited

    def step_prompt(self, inst, step, window):
        now = f' The line reads: "{window}".' if window is not None else ""
        return f"Edit {step.index + 1}, {step.label}.{now} Reply with the edited line."

    def parse(self, text, step):
        line = " ".join(text.strip().strip('`."').lower().split())
        if not re.fullmatch(r"[a-z]+( [a-z]+)*", line):
            raise ParseError(f"expected one line of words, got {text[:40]!r}")
        return line

    def corrupt(self, inst, state, step, answer, rng):  # for scripted/noisy: one word wrong
        words = answer.split()
        i = rng.randrange(len(words))
        words[i] = rng.choice([w for w in WORDS if w != words[i]])
        return " ".join(words)
