"""Fuzz every scenario's parsers with mutated right answers, and time them.

    .venv/bin/python tools/fuzz.py --replies 100000 [--seed N] [--scenario NAME]

NAME is a scenario, or one of its bigger-step shapes (`eca[rows:2]`, `life[board]`,
`hanoi[moves:3]`, `multiply[partial]`: the `granularity` parameter), which are fuzzed too.

Replies are the oracle's own answers (`format_answer` for one step, `format_trajectory` for the
whole task) with one to three mutations each: characters inserted, deleted or duplicated,
digits swapped for look-alikes ('²', '٣', '１' — str.isdigit() accepts all three), huge
numbers, long runs of whitespace, code fences, prose around the answer, truncation, and now and
then a reply blown up to a megabyte. Each reply goes to `parse` or `parse_trajectory`.

A parser must raise ParseError or return an answer that reads back the same through
`format_answer`/`format_trajectory` and that `check` can judge; anything else is counted as an
exception (the first few are printed with the reply's repr). Parse time is measured per reply;
the target is under 50 ms even for a 1 MB reply. A reply over the target is timed twice more and
keeps its best time, so that a busy machine is not taken for a slow parser.

Exit status 1 when there is an exception or a parse over the target.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentloop.errors import ParseError
from agentloop.scenarios import Scenario, get_scenario, list_scenarios
from agentloop.types import Verdict

TARGET_MS = 50.0
MB = 1_000_000
SEEDS = (0, 1, 2)  # instances per scenario (default parameters)
# Bigger steps per call (the `granularity` parameter) have their own parsers: fuzzed as cases of their own.
GRANULAR = {
    "eca[row]": ("eca", {"granularity": "row"}),
    "eca[rows:2]": ("eca", {"granularity": "rows:2"}),
    "life[row]": ("life", {"granularity": "row"}),
    "life[board]": ("life", {"granularity": "board"}),
    "hanoi[moves:3]": ("hanoi", {"granularity": "moves:3"}),
    "multiply[partial]": ("multiply", {"granularity": "partial"}),
}

# Characters a model might produce where a parser expects something else.
LOOKALIKE_DIGITS = "²³¹⁰٣١٠१０１２𝟏①½"
NOISE = " \t\n\r\x0b\u00a0\u2028,;:.=-+−[](){}`*#_'\"/|\\?!aAzZé漢\x00\ufeff" + LOOKALIKE_DIGITS + "0123456789"


@dataclass(frozen=True)
class Case:
    """One instance with the oracle's answers: the material the replies are made from."""

    name: str
    sc: Scenario
    inst: Any
    steps: list
    states: list
    answers: list

    @classmethod
    def of(cls, name: str, seed: int) -> Case:
        scenario, params = GRANULAR.get(name, (name, {}))
        sc = get_scenario(scenario)
        inst = sc.generate(sc.Params.model_validate(params), seed)
        steps, states, answers = list(sc.steps(inst)), [], []
        state = sc.initial_state(inst)
        for step in steps:
            states.append(state)
            answers.append(sc.solve(inst, state, step))
            state = sc.apply(inst, state, step, answers[-1])
        return cls(name, sc, inst, steps, states, answers)


# --- mutations: each takes (rng, text) and returns new text -------------------------------------
def _at(rng: random.Random, text: str) -> int:
    return rng.randrange(len(text) + 1)


def insert_char(rng, text):
    i = _at(rng, text)
    return text[:i] + rng.choice(NOISE) + text[i:]


def delete_char(rng, text):
    if not text:
        return text
    i = rng.randrange(len(text))
    return text[:i] + text[i + 1 :]


def duplicate_span(rng, text):
    i = _at(rng, text)
    j = min(len(text), i + rng.randint(1, 12))
    return text[:j] + text[i:j] + text[j:]


def lookalike_digit(rng, text):
    spots = [i for i, ch in enumerate(text) if ch in "0123456789"]
    if not spots:
        return insert_char(rng, text)
    i = rng.choice(spots)
    return text[:i] + rng.choice(LOOKALIKE_DIGITS) + text[i + 1 :]


def huge_number(rng, text):
    i = _at(rng, text)
    return text[:i] + "9" * rng.choice((20, 4301, 5000, 20_000)) + text[i:]


def whitespace_run(rng, text):
    i = _at(rng, text)
    return text[:i] + rng.choice(" \t\n") * rng.choice((50, 2_000, 50_000)) + text[i:]


def fence(rng, text):
    return f"```{rng.choice(('', 'text', 'json', 'python'))}\n{text}\n```"


def prose(rng, text):
    return rng.choice((
        "The answer is {}.", "Answer: {}", "**{}**", "Sure! Here it is:\n{}\nLet me know if you need more.",
        "Let me think step by step. First, {}", "{} (I am fairly sure)", "> {}",
    )).format(text)


def change_case(rng, text):
    return rng.choice((str.upper, str.lower, str.title, str.swapcase))(text)


def truncate(rng, text):
    return text[: rng.randrange(len(text) + 1)]


def megabyte(rng, text):
    unit = text or " "
    return rng.choice((
        unit * (MB // len(unit) + 1), text + " " * MB, text + "\n" * MB, "A# " * (MB // 3) + text,
        "a line of prose\n" * (MB // 16) + text, text + "\n1" * (MB // 2), "```\n" * (MB // 4) + text,
        text + "\ngeneration 1:" * (MB // 14), "...\n" * (MB // 4) + text,
    ))


MUTATIONS: list[tuple[Callable[[random.Random, str], str], float]] = [
    (insert_char, 4), (delete_char, 4), (duplicate_span, 3), (lookalike_digit, 3), (huge_number, 1),
    (whitespace_run, 1), (fence, 1), (prose, 2), (change_case, 1), (truncate, 2), (megabyte, 0.05),
]


def mutate(rng: random.Random, text: str) -> str:
    funcs, weights = zip(*MUTATIONS)
    for f in rng.choices(funcs, weights, k=rng.choice((1, 1, 2, 3))):
        text = f(rng, text)
    return text


# --- one reply ------------------------------------------------------------------------------------
def _timed(f: Callable[[], Any]) -> tuple[str, Any, float]:
    t = time.perf_counter()
    try:
        out = ("answer", f())
    except ParseError:
        out = ("format", None)
    except Exception as exc:  # noqa: BLE001 - counting these is the point
        out = ("exception", exc)
    return out[0], out[1], time.perf_counter() - t


def _validate(case: Case, kind: str, i: int, answer: Any) -> None:
    """What a returned answer must satisfy; raises AssertionError (or anything a buggy checker raises)."""
    sc, inst = case.sc, case.inst
    if kind == "step":
        assert sc.parse(sc.format_answer(answer), case.steps[i]) == answer, "answer does not read back"
        assert isinstance(sc.check(inst, case.states[i], case.steps[i], answer), Verdict)
        return
    assert isinstance(answer, list) and len(answer) <= len(case.steps), "more answers than steps"
    assert sc.parse_trajectory(inst, sc.format_trajectory(inst, answer)) == answer, "trajectory does not read back"
    for step, a in zip(case.steps, answer):
        assert sc.parse(sc.format_answer(a), step) == a, "an answer of the trajectory does not read back"


def attempt(case: Case, kind: str, i: int, text: str) -> tuple[str, float, str]:
    """(outcome, parse seconds, detail): outcome is `answer`, `format` or `exception`."""
    if kind == "step":
        run = lambda: case.sc.parse(text, case.steps[i])  # noqa: E731
    else:
        run = lambda: case.sc.parse_trajectory(case.inst, text)  # noqa: E731
    outcome, answer, seconds = _timed(run)
    if seconds * 1000 > TARGET_MS:
        seconds = min(seconds, *(_timed(run)[2] for _ in range(2)))
    if outcome == "exception":
        return outcome, seconds, f"parse raised {answer!r}"
    if outcome == "answer":
        try:
            _validate(case, kind, i, answer)
        except Exception as exc:  # noqa: BLE001
            return "exception", seconds, f"answer {answer!r:.80} is unusable: {exc!r}"
    return outcome, seconds, ""


@dataclass
class Report:
    tried: int = 0
    outcomes: Counter = field(default_factory=Counter)
    exceptions: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)  # replies over the target
    times_ms: list[float] = field(default_factory=list)
    slowest: tuple[float, str, str] = (0.0, "", "")  # (ms, scenario, kind)

    @property
    def ok(self) -> bool:
        return not self.exceptions and not self.slow

    def p99_ms(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


def installed() -> list[str]:
    """The registered scenarios that can run here (those from an optional extra need it)."""
    names = [n for n in list_scenarios() if getattr(get_scenario(n), "extra_available", True)]
    return names + [g for g, (n, _) in GRANULAR.items() if n in names]


def run(replies: int, seed: int = 0, names: list[str] | None = None) -> Report:
    rng = random.Random(seed)
    cases = [Case.of(name, s) for name in (names or installed()) for s in SEEDS]
    report = Report()
    for n in range(replies):
        case = cases[n % len(cases)]
        if rng.random() < 0.5:
            kind, i = "step", rng.randrange(len(case.steps))
            text = case.sc.format_answer(case.answers[i])
        else:
            kind, i = "trajectory", 0
            text = case.sc.format_trajectory(case.inst, case.answers[: rng.randint(1, len(case.answers))])
        text = mutate(rng, text)
        outcome, seconds, detail = attempt(case, kind, i, text)
        ms = seconds * 1000
        report.tried += 1
        report.outcomes[outcome] += 1
        report.times_ms.append(ms)
        where = f"{case.name} {kind} (seed {case.inst.seed}, step {i}), {len(text):,} chars"
        if outcome == "exception":
            report.exceptions.append(f"{where}: {detail}; reply {text[:120]!r}")
        if ms > TARGET_MS:
            report.slow.append(f"{where}: {ms:.1f} ms; reply {text[:60]!r}")
        if ms > report.slowest[0]:
            report.slowest = (ms, case.name, kind)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replies", type=int, default=100_000, help="fuzzed replies to try (default 100000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the mutations")
    ap.add_argument("--scenario", choices=[*list_scenarios(), *GRANULAR], help="fuzz one scenario (or shape) only")
    a = ap.parse_args(argv)
    t = time.perf_counter()
    r = run(a.replies, a.seed, [a.scenario] if a.scenario else None)
    print(f"replies tried: {r.tried:,} ({time.perf_counter() - t:.1f} s; seed {a.seed})")
    print("outcomes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r.outcomes.items())))
    print(f"exceptions other than ParseError: {len(r.exceptions)}")
    for line in r.exceptions[:5]:
        print(f"  {line}")
    print(f"parse time: max {max(r.times_ms, default=0):.2f} ms, p99 {r.p99_ms():.3f} ms (target: every parse < {TARGET_MS:.0f} ms)")
    print(f"slowest: {r.slowest[1]} {r.slowest[2]} ({r.slowest[0]:.2f} ms)")
    print(f"parses over {TARGET_MS:.0f} ms: {len(r.slow)}")
    for line in r.slow[:5]:
        print(f"  {line}")
    return 0 if r.ok else 1


if __name__ == "__main__":
    sys.exit(main())
