"""Long multiplication of an n-digit by an m-digit number, the schoolbook way ("Faith and Fate").

Atomic steps follow the algorithm a child is taught. First one partial product per digit of B
(from the right): for each digit of A (from the right), `digit of A × digit of B + carry`; the
tape writes the last digit of that value into the partial product and carries the rest; after
the last digit of A the carry becomes the partial product's leading digit. Then (when B has
more than one digit) the column sums: for each column from the right, the digits of the
shifted partial products in that column plus the carry; again the tape writes the last digit
and carries the rest. The answer to every step is that one number (e.g. `56`), so the model
never has to hold a carry: the tape does.

With the parameter `granularity=partial` a call does a whole row of that layout instead: one
call per partial product (A × one digit of B, carries held by the model), then (when B has more
than one digit) one call for the sum of the shifted partial products. Its atoms are the digits
the digit steps would have written: a partial product's n digit steps write its n - 1 last
digits and then the rest (the last step's whole number), and the sum's n + m column steps
likewise; such an answer is wrong when any of them is.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from agentloop.errors import ParseError
from agentloop.scenarios._base import Params, Scenario, parse_lines, strip_reply
from agentloop.scenarios._granularity import bundle_verdict, omit_default
from agentloop.types import Step

Digits = tuple[int, ...]  # least significant digit first

_INT = re.compile(r"[0-9]{1,4}")
_WIDE_INT = re.compile(r"[0-9]{1,48}")  # a partial product or the sum: up to 40 digits
_LABEL = re.compile(r"^(?:answer|value|result|sum|product)\s*[:=]\s*", re.IGNORECASE)
_PRODUCT_KEY, _COLUMN_KEY = 0, 1
_PARTIAL_KEY, _SUM_KEY = 2, 3  # granularity=partial: (2, j) the partial product of B's digit j; (3,) the sum


class MultiplyParams(Params):
    n: int = Field(default=3, ge=1, le=20, description="digits of the first factor A")
    m: int = Field(default=3, ge=1, le=20, description="digits of the second factor B")
    granularity: Literal["digit", "partial"] = Field(
        default="digit",
        description="what one call answers: digit (one digit product or column sum) or partial "
        "(a whole partial product, then the whole sum)",
    )

    @model_serializer(mode="wrap")
    def _omit_default_granularity(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return omit_default(handler, self, "digit")


@dataclass(frozen=True)
class MultiplyInstance:
    params: MultiplyParams
    seed: int
    a: int
    b: int


class MultiplyState(NamedTuple):
    partials: tuple[Digits, ...]  # finished partial products, unshifted, one per digit of B
    row: Digits  # digits of the partial product being written
    carry: int  # the carry into the next step (products or column sums)
    result: Digits  # digits of the final product written so far (column sums)


def digits_of(x: int) -> Digits:
    return tuple(int(ch) for ch in reversed(str(x)))


def number_of(ds: Sequence[int]) -> int:
    return int("".join(map(str, reversed(ds)))) if ds else 0


def column(partials: Sequence[Digits], k: int) -> Digits:
    """The digits in column k of the partial products, partial product j shifted left by j."""
    return tuple(p[k - j] for j, p in enumerate(partials) if 0 <= k - j < len(p))


def _n_columns(inst: MultiplyInstance) -> int:
    return inst.params.n + inst.params.m  # the widest shifted partial product has n+1+(m-1) digits


def split_digits(value: int, count: int) -> tuple[int, ...]:
    """`count` atoms of a number written by `count` digit steps: its last count - 1 digits (least
    significant first), then the rest of the number (the last step's value, carry included)."""
    low = tuple(value // 10**i % 10 for i in range(count - 1))
    return (*low, value // 10 ** (count - 1))


def join_digits(atoms: Sequence[int]) -> int:
    return sum(a * 10**i for i, a in enumerate(atoms))


def _written(value: int, count: int, zero_carry: bool) -> Digits:
    """The digits `count` digit steps write for `value`: one digit each, then the last carry's
    digits (a partial product writes a carry of 0 too; the column sums do not)."""
    carry = value // 10**count
    return (*(value // 10**i % 10 for i in range(count)), *(digits_of(carry) if carry or zero_carry else ()))


class Multiply(Scenario[MultiplyInstance, MultiplyState, int]):
    name = "multiply"
    summary = "schoolbook long multiplication: one digit product or one column sum per step, carries on the tape"
    Params = MultiplyParams
    max_answer_chars = 16

    def generate(self, params: MultiplyParams, seed: int) -> MultiplyInstance:
        rng = random.Random(seed)
        a = rng.randint(10 ** (params.n - 1), 10**params.n - 1)
        b = rng.randint(10 ** (params.m - 1), 10**params.m - 1)
        return MultiplyInstance(params, seed, a, b)

    def initial_state(self, inst: MultiplyInstance) -> MultiplyState:
        return MultiplyState((), (), 0, ())

    def steps(self, inst: MultiplyInstance) -> list[Step]:
        n, m = inst.params.n, inst.params.m
        if inst.params.granularity == "partial":
            out = [Step(j, (_PARTIAL_KEY, j), f"partial product {j + 1}") for j in range(m)]
            return out + [Step(m, (_SUM_KEY,), "sum")] if m > 1 else out
        out = [
            Step(j * n + i, (_PRODUCT_KEY, j, i), f"partial product {j + 1}, digit {i + 1}")
            for j in range(m)
            for i in range(n)
        ]
        if m > 1:  # one partial product is already the answer
            out += [Step(m * n + k, (_COLUMN_KEY, k), f"column {k + 1}") for k in range(_n_columns(inst))]
        return out

    def _operands(self, inst: MultiplyInstance, state: MultiplyState, step: Step) -> tuple[int, ...]:
        """What the step adds up: (a digit, b digit, carry) or (column digits..., carry)."""
        if step.key[0] == _PRODUCT_KEY:
            _, j, i = step.key
            return digits_of(inst.a)[i], digits_of(inst.b)[j], state.carry
        return (*column(state.partials, step.key[1]), state.carry)

    def _shifted(self, state: MultiplyState) -> list[int]:
        """The partial products written so far, partial product j shifted j places left."""
        return [number_of(p) * 10**j for j, p in enumerate(state.partials)]

    def solve(self, inst: MultiplyInstance, state: MultiplyState, step: Step) -> int:
        if step.key[0] == _PARTIAL_KEY:
            return inst.a * digits_of(inst.b)[step.key[1]]
        if step.key[0] == _SUM_KEY:
            return sum(self._shifted(state))
        ops = self._operands(inst, state, step)
        if step.key[0] == _PRODUCT_KEY:
            return ops[0] * ops[1] + ops[2]
        return sum(ops)

    def illegal(self, inst: MultiplyInstance, state: MultiplyState, step: Step, answer: int) -> str | None:
        if answer < 0:
            return "a digit product or column sum cannot be negative"
        return None

    def check(self, inst: MultiplyInstance, state: MultiplyState, step: Step, answer: int):
        if step.key[0] < _PARTIAL_KEY or self.illegal(inst, state, step, answer) is not None:
            return super().check(inst, state, step, answer)
        return bundle_verdict(self, inst, step, answer, self.solve(inst, state, step), "digits")

    def apply(self, inst: MultiplyInstance, state: MultiplyState, step: Step, answer: int) -> MultiplyState:
        if step.key[0] == _PARTIAL_KEY:  # written as the digit steps would have written it
            return MultiplyState(state.partials + (_written(answer, inst.params.n, True),), (), 0, state.result)
        if step.key[0] == _SUM_KEY:
            return MultiplyState(state.partials, state.row, 0, _written(answer, _n_columns(inst), False))
        digit, carry = answer % 10, answer // 10
        if step.key[0] == _PRODUCT_KEY:
            row = state.row + (digit,)
            if step.key[2] == inst.params.n - 1:  # last digit of A: the carry is the leading digit
                # A carry ≥ 10 only happens after a wrong answer; keep all its digits (as a
                # person writing it down would) so the state stays a faithful record.
                return MultiplyState(state.partials + (row + digits_of(carry),), (), 0, state.result)
            return MultiplyState(state.partials, row, carry, state.result)
        result = state.result + (digit,)
        if step.key[1] == _n_columns(inst) - 1 and carry:
            result += digits_of(carry)
        return MultiplyState(state.partials, state.row, 0 if step.key[1] == _n_columns(inst) - 1 else carry, result)

    def _answer_digits(self, inst: MultiplyInstance, state: MultiplyState) -> Digits:
        if inst.params.m == 1:
            return state.partials[0] if state.partials else ()
        return state.result

    def is_goal(self, inst: MultiplyInstance, state: MultiplyState) -> bool:
        ds = self._answer_digits(inst, state)
        return bool(ds) and number_of(ds) == inst.a * inst.b and len(state.partials) == inst.params.m

    def corrupt(self, inst, state: MultiplyState, step: Step, answer: int, rng: random.Random) -> int:
        if step.key[0] >= _PARTIAL_KEY:
            atoms = list(self.atoms(inst, step, answer))
            i = rng.randrange(len(atoms))
            atoms[i] = self.corrupt_atom(inst, state, step, answer, i, rng)
            return self.join_atoms(inst, step, atoms)
        # Typical slips: forgetting or doubling the carry, a neighbouring times-table entry, ±1.
        ops = self._operands(inst, state, step)
        cands = {answer + 1, answer - 1, answer + 10, answer - ops[-1], answer + ops[-1]}
        if step.key[0] == _PRODUCT_KEY:
            cands |= {answer + ops[0], answer - ops[0], answer + ops[1], answer - ops[1]}
        cands = sorted(c for c in cands if c >= 0 and c != answer)
        return rng.choice(cands)

    # --- calls of a whole row: atoms are what its digit steps would write -----------------------
    def _size(self, inst: MultiplyInstance, step: Step) -> int:
        return inst.params.n if step.key[0] == _PARTIAL_KEY else _n_columns(inst)

    def atoms(self, inst: MultiplyInstance, step: Step, answer: Any) -> Sequence[Any]:
        if step.key[0] < _PARTIAL_KEY:
            return (answer,)
        return split_digits(int(answer), self._size(inst, step))  # a record holds the number as a string

    def join_atoms(self, inst: MultiplyInstance, step: Step, atoms: Sequence[Any]) -> int:
        return atoms[0] if step.key[0] < _PARTIAL_KEY else join_digits(atoms)

    def corrupt_atom(self, inst, state, step: Step, answer: int, i: int, rng: random.Random) -> int:
        if step.key[0] < _PARTIAL_KEY:
            return self.corrupt(inst, state, step, answer, rng)
        atom = self.atoms(inst, step, answer)[i]
        if i < self._size(inst, step) - 1:  # a digit: a neighbouring one
            return (atom + rng.choice((1, 9))) % 10
        return atom + 1 if atom == 0 or rng.random() < 0.5 else atom - 1  # the leading part: off by one

    def answer_chars(self, inst: MultiplyInstance) -> int:
        return self.max_answer_chars if inst.params.granularity == "digit" else 64

    def to_json_answer(self, answer: int) -> Any:
        return answer if answer < 10**15 else str(answer)  # JSON readers lose integers past 2^53

    # --- prompts ----------------------------------------------------------------------------
    def rules(self, inst: MultiplyInstance) -> str:
        col = (
            " Then add the partial products, each shifted one place further left, column by column from "
            "the right: each step is the sum of the digits in one column plus the carry from the column "
            "before; write its last digit and carry the rest."
            if inst.params.m > 1
            else " With a one-digit B the partial product is the answer."
        )
        return (
            f"Long multiplication of A = {inst.a} by B = {inst.b}, the schoolbook way. For each digit of B, "
            "from the right, build a partial product: for each digit of A, from the right, compute "
            "digit of A × digit of B + carry; write the last digit of that number and carry the rest "
            "(the carry starts at 0 for each partial product; the last carry is written in front)." + col
            + " Answer each step with that one number only."
            + (
                " Here each step is a whole partial product (A × one digit of B), then one step for the sum of "
                "the shifted partial products; answer each with the whole number only."
                if inst.params.granularity == "partial" else ""
            )
        )

    def show_initial(self, inst: MultiplyInstance) -> str:
        return f"A = {inst.a}, B = {inst.b}; nothing written yet."

    def oneshot_format(self, inst: MultiplyInstance) -> str:
        n, m = inst.params.n, inst.params.m
        if inst.params.granularity == "partial":
            total = m + (m > 1)
            return (
                f"Write the number of every step, {total} lines in order, as `partial product J: ` (J from 1 "
                f"to {m}){', then `sum: `' if m > 1 else ''} followed by the number, and nothing else."
            )
        total = n * m + (_n_columns(inst) if m > 1 else 0)
        cols = f", then `column 1: ` to `column {_n_columns(inst)}: `" if m > 1 else ""
        return (
            f"Write the number of every step, {total} lines in order, as `partial product J, digit I: ` "
            f"(J from 1 to {m}, I from 1 to {n}, digits counted from the right){cols} followed by the "
            "number, and nothing else."
        )

    def window(self, inst: MultiplyInstance, state: MultiplyState, step: Step) -> str:
        if step.key[0] == _PARTIAL_KEY:
            return f"A: {inst.a}, digit {step.key[1] + 1} of B from the right: {digits_of(inst.b)[step.key[1]]}"
        if step.key[0] == _SUM_KEY:
            return "partial products, each shifted: " + " + ".join(map(str, self._shifted(state)))
        ops = self._operands(inst, state, step)
        if step.key[0] == _PRODUCT_KEY:
            return f"digit of A: {ops[0]}, digit of B: {ops[1]}, carry: {ops[2]}"
        return f"column digits: {', '.join(map(str, ops[:-1])) or 'none'}; carry: {ops[-1]}"

    def step_prompt(self, inst: MultiplyInstance, step: Step, window: str | None) -> str:
        if step.key[0] >= _PARTIAL_KEY:
            what = (
                f"A × digit {step.key[1] + 1} of B (from the right)" if step.key[0] == _PARTIAL_KEY
                else "the sum of the partial products, partial product J shifted J - 1 places left"
            )
            head = step.label if window is None else f"{step.label}. {window}"
            return f"{head}. What is {what}? Answer with the number only."
        what = "digit of A × digit of B + carry" if step.key[0] == _PRODUCT_KEY else "sum of the column's digits + carry"
        if window is None:
            return f"{step.label}: what is {what}? Answer with the number only."
        return f"{step.label}. {window}. What is {what}? Answer with the number only."

    # --- answers ------------------------------------------------------------------------------
    def parse(self, text: str, step: Step) -> int:
        t = _LABEL.sub("", strip_reply(text)).strip()
        if not (_INT if step.key[0] < _PARTIAL_KEY else _WIDE_INT).fullmatch(t):
            raise ParseError(f"expected one whole number, got {text[:40]!r}")
        return int(t)

    def format_answer(self, answer: int) -> str:
        return str(answer)

    def parse_trajectory(self, inst: MultiplyInstance, text: str) -> list[int]:
        pattern = _INT if inst.params.granularity == "digit" else _WIDE_INT

        def number(line: str) -> int:
            body = line.rpartition(":")[2].strip() if ":" in line else line
            if not pattern.fullmatch(body):
                raise ParseError(f"not a step's number: {line[:40]!r}")
            return int(body)

        return parse_lines(text, number, "numbers", limit=len(self.steps(inst)))

    def format_trajectory(self, inst: MultiplyInstance, answers: Sequence[int]) -> str:
        labels = [s.label for s in self.steps(inst)]
        return "\n".join(f"{label}: {a}" for label, a in zip(labels, answers))

    def initial_json(self, inst: MultiplyInstance) -> dict[str, str]:
        return {"a": str(inst.a), "b": str(inst.b)}  # strings: 40-digit products overflow JSON readers

    def expected_json(self, inst: MultiplyInstance) -> str:
        return str(inst.a * inst.b)

    def result_json(self, inst: MultiplyInstance, state: MultiplyState, answers: Sequence[int]) -> str:
        return str(number_of(self._answer_digits(inst, state)))
