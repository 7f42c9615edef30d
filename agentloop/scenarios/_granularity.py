"""The `granularity` parameter: how much of the task one model call answers.

One parameter name across scenarios, each with its own values (see docs/scenarios.md):

- eca: `cell` (the default), `row` (one whole generation per call) or `rows:K` (K generations);
- life: `cell` (the default), `row` or `board` (one whole generation per call);
- hanoi: `move` (the default) or `moves:K` (K moves per call);
- multiply: `digit` (the default) or `partial` (one partial product per call, then the sum).

The default is left out of a parameter dump, so records and episode keys of runs that do not set
it stay what they were before the parameter existed. A step bigger than one atomic unit is wrong
when any of its atoms is wrong; its rejection says how many were (`atoms_wrong_reason`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import SerializerFunctionWrapHandler, field_validator, model_serializer

from agentloop.errors import ParseError
from agentloop.scenarios._base import Params
from agentloop.types import Step, Verdict

MAX_PER_CALL = 1000
_CHUNK = re.compile(r"([a-z]+):([0-9]{1,4})")


def per_call(value: str, single: str, plural: str) -> int | None:
    """How many units `value` asks for per call: `single` → 1, `plural:K` → K (1..MAX_PER_CALL);
    None when `value` is neither."""
    if value == single:
        return 1
    m = _CHUNK.fullmatch(value)
    if m and m[1] == plural and 1 <= int(m[2]) <= MAX_PER_CALL:
        return int(m[2])
    return None


def normalise_chunks(value: str, default: str, single: str, plural: str) -> str:
    """A validated `granularity` of the default/single/plural:K kind, `plural:1` written as `single`;
    ValueError (one line) for anything else."""
    if value == default:
        return value
    k = per_call(value, single, plural)
    if k is None:
        raise ValueError(
            f"granularity must be {default}, {single} or {plural}:K with K from 1 to {MAX_PER_CALL} "
            f"(K {plural} per call)"
        )
    return single if k == 1 else f"{plural}:{k}"


def omit_default(handler: SerializerFunctionWrapHandler, params: Any, default: str) -> dict[str, Any]:
    """A params dump without `granularity` when it is `default` (keys of older runs unchanged)."""
    out = handler(params)
    if out.get("granularity") == default:
        del out["granularity"]
    return out


class ChunkedParams(Params):
    """Parameters whose `granularity` is `default`, `single` or `plural:K` (eca, hanoi): validated
    by `normalise_chunks`, left out of a dump when it is the default (`omit_default`). A subclass
    declares the `granularity` field and sets `granularity_kinds` to (default, single, plural)."""

    granularity_kinds: ClassVar[tuple[str, str, str]]

    @field_validator("granularity", check_fields=False)
    @classmethod
    def _granularity(cls, v: str) -> str:
        return normalise_chunks(v, *cls.granularity_kinds)

    @model_serializer(mode="wrap")
    def _omit_default_granularity(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_default(handler, self, self.granularity_kinds[0])


def chunks(total: int, k: int) -> list[tuple[int, int]]:
    """(first, count) of each call when `total` units go `k` at a time (the last may be shorter)."""
    return [(first, min(k, total - first)) for first in range(0, total, k)]


def whole_calls(answers: list[Any]) -> list[Any]:
    """A whole-task reply read into calls of several atoms: the whole calls, or ParseError when
    the reply ends before the first call is complete (an empty list is no answer)."""
    if not answers:
        raise ParseError("the reply ends before the first step's answer is complete")
    return answers


def bundle_verdict(scenario: Any, inst: Any, step: Step, answer: Any, expected: Any, unit: str) -> Verdict:
    """The verdict on a multi-atom answer: accepted when every atom is right, else `wrong` with
    the count of wrong atoms (never which, nor the right values) and both answers for the record."""
    if answer == expected:
        return Verdict.accept(scenario.to_json_answer(answer))
    return Verdict.reject(
        "wrong",
        atoms_wrong_reason(scenario.atoms(inst, step, answer), scenario.atoms(inst, step, expected), unit, step),
        expected=scenario.to_json_answer(expected),
        observed=scenario.to_json_answer(answer),
    )


def atoms_wrong_reason(got: Sequence[Any], want: Sequence[Any], unit: str, step: Step) -> str:
    wrong = sum(g != w for g, w in zip(got, want)) + abs(len(got) - len(want))
    return f"{wrong} of {len(want)} {unit} in {step.label} are wrong"


def atoms_right(scenario: Any, inst: Any, step: Step, verdict: Verdict, size: int) -> int:
    """How many of the `size` atoms of one judged answer were right, from the verdict's JSON answers.

    Accepted: all of them. Rejected with both answers recorded (`wrong`, and hanoi's `illegal`
    bundles): those equal to the right answer position by position. Unreadable (`format`), or
    rejected without a recorded right answer: none.
    """
    if verdict.ok:
        return size
    if verdict.code == "format" or verdict.expected is None or verdict.observed is None:
        return 0
    want = scenario.atoms(inst, step, verdict.expected)
    got = scenario.atoms(inst, step, verdict.observed)
    return min(size, sum(_same(g, w) for g, w in zip(got, want)))


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values (a tuple and the list it became in a record are the same answer)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


class AtomRow:
    """One row of the granularity table: a scenario at one granularity under one condition and model."""

    def __init__(self, scenario: str, granularity: str, condition: str, model: str) -> None:
        self.scenario, self.granularity, self.condition, self.model = scenario, granularity, condition, model
        self.episodes = self.solved = self.calls = self.calls_ok = self.atoms = self.atoms_ok = 0

    @property
    def atoms_per_call(self) -> float:
        return self.atoms / self.calls if self.calls else 0.0

    @property
    def call_accuracy(self) -> float | None:
        return self.calls_ok / self.calls if self.calls else None

    @property
    def atom_accuracy(self) -> float | None:
        return self.atoms_ok / self.atoms if self.atoms else None


def atom_table(records: Sequence[Any]) -> list[AtomRow]:
    """Accuracy per atomic step against the size of the step, from stored episodes.

    Per scenario, granularity, condition and model: the steps' first attempts (before any
    feedback), counted per call (all atoms right) and per atom (`atoms_right`), with each step's
    size from the oracle's answer on the same instance. Episodes whose scenario is not registered
    are left out.
    """
    from agentloop.scenarios import get_scenario, list_scenarios, parse_params

    known = set(list_scenarios())
    rows: dict[tuple[str, str, str, str], AtomRow] = {}
    for rec in records:
        if rec.scenario not in known:
            continue
        sc = get_scenario(rec.scenario)
        params = parse_params(sc, rec.params)
        inst = sc.generate(params, rec.seed)
        sizes, state = [], sc.initial_state(inst)
        steps = list(sc.steps(inst))
        for step in steps:
            truth = sc.solve(inst, state, step)
            sizes.append(len(sc.atoms(inst, step, truth)))
            state = sc.apply(inst, state, step, truth)
        g = str(getattr(params, "granularity", "-"))
        chooses = rec.scenario in ("eca", "life") and "planner=llm" in rec.condition
        if chooses:  # the planner chose each step's size: all steps, then a row per size chosen
            g = "chosen"
        row = rows.setdefault((rec.scenario, g, rec.condition, rec.model), AtomRow(rec.scenario, g, rec.condition, rec.model))
        row.episodes += 1
        row.solved += bool(rec.success)
        seen: set[str] = set()
        for s in rec.steps:
            targets = [row]
            if chooses:
                planned = planned_chunk(rec.scenario, params, s)
                if planned is None:  # a failed plan: no step was asked
                    continue
                chosen, step, size = planned
                key = (rec.scenario, f"chosen {chosen}", rec.condition, rec.model)
                sub = rows.setdefault(key, AtomRow(*key))
                if chosen not in seen:
                    seen.add(chosen)
                    sub.episodes += 1
                    sub.solved += bool(rec.success)
                targets.append(sub)
            elif s.index >= len(steps):
                continue
            else:
                size, step = sizes[s.index], steps[s.index]
            verdict = s.attempts[0].verdict if s.attempts and s.attempts[0].verdict is not None else None
            right = atoms_right(sc, inst, step, verdict, size) if verdict is not None else size * s.first_ok
            for r in targets:
                r.calls += 1
                r.calls_ok += bool(s.first_ok)
                r.atoms += size
                r.atoms_ok += right
    return list(rows.values())


def planned_chunk(scenario: str, params: Any, s: Any) -> tuple[str, Step, int] | None:
    """For a step of eca or life whose size the planner chose (planner=llm): the size as a
    granularity value (`cell`, `row`, `rows:K`, `board`), a step of that shape (its atoms are
    compared as a fixed granularity's are) and its count of atoms; None when no step was asked."""
    followed = [p for p in s.plans if p.followed and p.proposal is not None]
    if not s.attempts or not followed:
        return None
    kind, n = followed[-1].proposal
    if scenario == "eca":
        if kind == "cell":
            return "cell", Step(s.index, (1, 0), ""), 1
        n = int(n)
        return ("row" if n == 1 else f"rows:{n}"), Step(s.index, (1, n, params.width), ""), n * params.width
    if kind == "cell":
        return "cell", Step(s.index, (1, 0, 0), ""), 1
    n = params.rows if kind == "board" else int(n)
    label = "board" if n == params.rows else "row" if n == 1 else f"rows:{n}"
    return label, Step(s.index, (1, 0, params.cols, n), ""), n * params.cols


def format_atom_table(rows: Sequence[AtomRow], simulated: bool) -> str:
    """The table as Markdown; every figure labelled simulated when the model was."""
    tag = " (simulated)" if simulated else ""
    out = [
        f"| scenario | granularity | condition | model | atoms per step | steps | step accuracy{tag} "
        f"| atom accuracy{tag} | solved{tag} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r.scenario} | {r.granularity} | {r.condition} | {r.model} | {r.atoms_per_call:.1f} | {r.calls} "
            f"| {_pct(r.call_accuracy)} | {_pct(r.atom_accuracy)} | {r.solved}/{r.episodes} |"
        )
    return "\n".join(out)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"
