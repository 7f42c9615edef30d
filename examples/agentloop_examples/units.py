"""A long chain of length conversions, the factors read from units.csv.

Each step converts the current length to another unit, rounded to 4 significant figures; the
next step starts from the agent's own answer, so the simulator checks each conversion alone.
"""

import csv
import random
import re
from decimal import Context, Decimal
from pathlib import Path

from pydantic import Field

from agentloop import Params, ParseError, Scenario, Step

with open(Path(__file__).with_name("units.csv"), newline="") as f:
    METRES = {row["unit"]: Decimal(row["metres"]) for row in csv.DictReader(f)}
UNITS = list(METRES)
FOUR = Context(prec=4)


def convert(value: Decimal, unit: str, to: str) -> Decimal:
    """`value` in `unit` as a length in `to`, to 4 significant figures, written without exponent."""
    return Decimal(format(FOUR.create_decimal(value * METRES[unit] / METRES[to]), "f"))


class UnitsParams(Params):
    steps: int = Field(10, ge=1, le=10_000, description="conversions in the chain")


class Units(Scenario):
    """A chain of length conversions, one per step, each rounded to 4 significant figures."""

    Params = UnitsParams

    def rules(self, inst):
        table = ", ".join(f"1 {unit} = {m} m" for unit, m in METRES.items())
        return f"You convert a length from unit to unit, step after step ({table}). Round each result to 4 significant figures."

    def initial_state(self, inst):
        rng = random.Random(inst.seed)
        return rng.choice(UNITS), Decimal(rng.randint(1, 500))

    def steps(self, inst):
        rng, unit, out = random.Random(f"units:{inst.seed}"), self.initial_state(inst)[0], []
        for i in range(inst.params.steps):
            unit = rng.choice([u for u in UNITS if u != unit])
            out.append(Step(i, (UNITS.index(unit),), f"convert to {unit}"))
        return out

    def solve(self, inst, state, step):
        return convert(state[1], state[0], UNITS[step.key[0]])

    def apply(self, inst, state, step, answer):
        return UNITS[step.key[0]], answer

    def window(self, inst, state, step):
        return f"{state[1]} {state[0]}"

    def step_prompt(self, inst, step, window):
        have = f"You have {window}. " if window is not None else "Take the length you have now. "
        return f"{have}Step {step.index + 1}: {step.label}. Reply with the number only."

    def parse(self, text, step):  # a number, perhaps followed by its unit ("292 inches.")
        m = re.fullmatch(r"([0-9]{1,15}(\.[0-9]{1,15})?)( [a-z ]{1,20})?", text.strip().strip("`.").lower())
        if m is None:
            raise ParseError(f"expected a number, got {text[:40]!r}")
        return Decimal(m[1])

    def corrupt(self, inst, state, step, answer, rng):  # for scripted/noisy: the decimal point slips
        return answer * Decimal(rng.choice(("10", "0.1")))

    def to_json_answer(self, answer):  # one spelling per value, so votes on 1.50 and 1.5 agree
        return format(answer.normalize(), "f")
