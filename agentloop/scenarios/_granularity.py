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
from typing import Any

from pydantic import SerializerFunctionWrapHandler

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


def chunks(total: int, k: int) -> list[tuple[int, int]]:
    """(first, count) of each call when `total` units go `k` at a time (the last may be shorter)."""
    return [(first, min(k, total - first)) for first in range(0, total, k)]


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
