"""A small run of tools/fuzz.py: mutated right answers for every scenario, parsed cleanly.

The full run (10^5 replies, with the 50 ms timing target) is `python tools/fuzz.py`; here a few
thousand replies check that no parser raises anything but ParseError or returns an answer that
does not read back, with a wall-time bound loose enough for a busy machine.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest


_PATH = Path(__file__).resolve().parents[1] / "tools" / "fuzz.py"
_spec = importlib.util.spec_from_file_location("agentloop_tools_fuzz", _PATH)
fuzz = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fuzz  # dataclasses look their module up there
_spec.loader.exec_module(fuzz)


@pytest.fixture(scope="module")
def report():
    return fuzz.run(3000, seed=11)


def test_thousands_of_fuzzed_replies_raise_nothing_but_parse_errors(report):
    assert report.tried == 3000
    assert report.exceptions == []


def test_the_fuzzer_reaches_both_outcomes(report):
    # A fuzzer whose mutations always broke the reply (or never did) would test half the parser.
    assert report.outcomes["answer"] > 300 and report.outcomes["format"] > 300


def test_no_fuzzed_reply_takes_long(report):
    assert max(report.times_ms) < 2000  # the 50 ms target is tools/fuzz.py's, not a test's


@pytest.mark.parametrize("mutation", [m for m, _ in fuzz.MUTATIONS])
def test_each_mutation_changes_a_reply(mutation):
    rng = random.Random(0)
    text = "move [1, 0, 2]"
    assert any(mutation(rng, text) != text for _ in range(20)), mutation.__name__


def _broken(parse):
    case = fuzz.Case.of("eca", 0)
    cls = type(case.sc)
    broken = type("Broken", (cls,), {"parse": lambda self, text, step: parse(text)})()
    return fuzz.Case(case.name, broken, case.inst, case.steps, case.states, case.answers)


def test_a_parser_that_crashes_is_counted_with_its_error():
    def crash(text):
        raise ValueError("boom")

    outcome, _, detail = fuzz.attempt(_broken(crash), "step", 0, "1")
    assert outcome == "exception" and "boom" in detail


def test_an_answer_that_does_not_read_back_is_counted():
    outcome, _, detail = fuzz.attempt(_broken(lambda text: object()), "step", 0, "1")
    assert outcome == "exception" and "does not read back" in detail
