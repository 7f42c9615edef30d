"""Contract tests over every registered scenario (they run for each new scenario automatically).

What every scenario must do lives here, once: the oracle passes its own checker, seeds give
different puzzles, corrupted answers are rejected and still parse, answers survive the parser
with harmless decoration and garbage does not, bad parameters are one-line errors, and the
loop runs every condition. Each tests/test_scenario_*.py keeps only what is specific to its puzzle.
"""

from __future__ import annotations

import copy
import json
import random

import pytest
from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.conditions import PRESETS, get_condition
from agentloop.errors import AgentloopError, ParseError
from agentloop.loop import run_episode
from agentloop.scenarios import Params, describe_params, get_scenario, list_scenarios, parse_params

# Small instances so that every condition runs quickly; scenarios not listed use their defaults.
SMALL = {
    "eca": {"rule": 110, "width": 8, "steps": 2},
    "life": {"rows": 4, "cols": 4, "steps": 1},
    "hanoi": {"disks": 3},
}

NAMES = list_scenarios()
# Each granularity (a call bigger than one atomic step) meets the same contract as the default:
# case name -> (scenario, its parameters on top of SMALL).
GRANULAR = {
    "eca[row]": ("eca", {"granularity": "row", "steps": 4}),
    "eca[rows:2]": ("eca", {"granularity": "rows:2", "steps": 6}),
    "eca[rows:3]": ("eca", {"granularity": "rows:3", "steps": 4}),  # a shorter last call
    "life[row]": ("life", {"granularity": "row"}),
    "life[board]": ("life", {"granularity": "board", "steps": 2}),
    "life[board,torus]": ("life", {"granularity": "board", "topology": "torus"}),
    "hanoi[moves:3]": ("hanoi", {"granularity": "moves:3"}),
    "hanoi[moves:2,classic]": ("hanoi", {"granularity": "moves:2", "start": "classic"}),
    "multiply[partial]": ("multiply", {"granularity": "partial"}),
    "multiply[partial,m=1]": ("multiply", {"granularity": "partial", "m": 1}),
}
# Other shapes of a scenario (larger boards, fewer guesses, symmetric squares) meet it too: one
# place for them, instead of a copy of the contract in each scenario's own test file.
SHAPES = {
    "hanoi[disks=4]": ("hanoi", {"disks": 4}),
    "sudoku[9x9]": ("sudoku", {"size": 9, "givens": 40}),
    "wordle[guesses=3]": ("wordle", {"guesses": 3}),
    "wordle[guesses=4]": ("wordle", {"guesses": 4}),
    "wordsquare[5x5]": ("wordsquare", {"size": 5}),
    "wordsquare[5x5,symmetric]": ("wordsquare", {"size": 5, "symmetric": True}),
    "wordsquare[symmetric]": ("wordsquare", {"symmetric": True}),
    "wordsquare[3x3,symmetric]": ("wordsquare", {"size": 3, "symmetric": True}),
}
CASES = NAMES + [c for c, (name, _) in {**GRANULAR, **SHAPES}.items() if name in NAMES]


def case_params(case: str) -> tuple[str, dict]:
    """(scenario name, parameters) of a contract case: a scenario, or one of its granularities."""
    name, extra = GRANULAR.get(case) or SHAPES.get(case) or (case, {})
    return name, {**SMALL.get(name, {}), **extra}


def instance(case: str, seed: int = 7):
    name, params = case_params(case)
    sc = get_scenario(name)
    return sc, sc.generate(sc.Params.model_validate(params), seed)


def oracle_run(sc, inst):
    """(step, state before it, the oracle's answer) for every step."""
    state, out = sc.initial_state(inst), []
    for step in sc.steps(inst):
        answer = sc.solve(inst, state, step)
        out.append((step, state, answer))
        state = sc.apply(inst, state, step, answer)
    return out


@pytest.mark.parametrize("name", CASES)
def test_oracle_passes_the_checker_at_every_step_and_reaches_the_goal(name):
    sc, inst = instance(name)
    run = oracle_run(sc, inst)
    assert run, "a scenario must have at least one step"
    for step, state, answer in run:
        verdict = sc.check(inst, state, step, answer)
        assert verdict.ok, (step, verdict)
    step, state, answer = run[-1]
    assert sc.is_goal(inst, sc.apply(inst, state, step, answer))


# --- instances ----------------------------------------------------------------------------------
# Parameters for the distinct-instances test: the defaults, except where noted.
DISTINCT = {"hanoi": {"disks": 4}}
# Where the parameter space does not allow 20 distinct instances, and why.
FIXED_BY_PARAMS = {
    ("hanoi", "classic"): {"disks": 4, "start": "classic"},  # one start position: all disks on peg 0
    ("wordle", "word"): {"word": "crane"},  # the hidden word is the parameter
}


def _fingerprint(sc, inst) -> str:
    return json.dumps([sc.initial_json(inst), sc.expected_json(inst)], sort_keys=True)


# Scenarios with fewer than 20 instances whatever their parameters: how many there are, and why.
SMALL_SPACE = {
    "rg/tower_of_hanoi": 30,  # reasoning-gym's 3-peg Hanoi: 3..7 disks × 3 start pegs × 2 target pegs
    "ta/TowerOfHanoi-v0": 1,  # TextArena's game is one fixed game: 3 disks from A to C
}


@pytest.mark.parametrize("name", [n for n in NAMES if n not in SMALL_SPACE])
def test_same_seed_same_instance_and_twenty_seeds_twenty_instances(name):
    sc = get_scenario(name)
    params = sc.Params.model_validate(DISTINCT.get(name, {}))
    assert sc.generate(params, 3) == sc.generate(params, 3)
    seen = {_fingerprint(sc, sc.generate(params, seed)) for seed in range(20)}
    assert len(seen) == 20, f"{name}: {len(seen)} distinct instances over 20 seeds"


@pytest.mark.parametrize("name", NAMES)
def test_an_instance_keeps_the_seed_it_was_generated_from(name):
    sc = get_scenario(name)
    params = sc.Params.model_validate(DISTINCT.get(name, {}))
    assert [sc.generate(params, seed).seed for seed in (0, 5, 123)] == [0, 5, 123]


@pytest.mark.parametrize("name", [n for n in NAMES if n in SMALL_SPACE])
def test_a_small_instance_space_is_covered_by_the_seeds(name):
    sc = get_scenario(name)
    params = sc.Params()
    assert sc.generate(params, 3) == sc.generate(params, 3)
    seen = {_fingerprint(sc, sc.generate(params, seed)) for seed in range(12 * SMALL_SPACE[name])}
    assert len(seen) == SMALL_SPACE[name]


@pytest.mark.parametrize("key", list(FIXED_BY_PARAMS))
def test_instances_fixed_by_their_parameters_ignore_the_seed(key):
    sc = get_scenario(key[0])
    params = sc.Params.model_validate(FIXED_BY_PARAMS[key])
    assert len({_fingerprint(sc, sc.generate(params, seed)) for seed in range(5)}) == 1


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("seed", [0, 3, 7])
def test_corrupted_answers_are_rejected_and_parse_and_the_simulator_is_pure(name, seed):
    sc, inst = instance(name, seed)
    rng = random.Random(seed)
    for step, state, answer in oracle_run(sc, inst)[:12]:
        wrong = sc.corrupt(inst, state, step, answer, rng)
        assert wrong != answer
        assert not sc.check(inst, state, step, wrong).ok
        # simulated models send corrupted answers as replies: they must read back, or a
        # simulated slip would become a format failure
        assert sc.parse(sc.format_answer(wrong), step) == wrong
        before = copy.deepcopy(state)
        sc.apply(inst, state, step, answer)
        assert state == before, "apply() must not mutate its input"


# --- answers through the parser -----------------------------------------------------------------
def step_variants(text: str) -> list[str]:
    """How a model may decorate a right answer without making it another answer."""
    return [text, f"  {text}  ", f"\n{text}\n", f"{text}.", f"```\n{text}\n```", f"```text\n{text}\n```",
            text.upper(), text.lower()]


def trajectory_variants(text: str) -> list[str]:
    return [text, f"\n\n{text}\n\n", f"```\n{text}\n```", f"```text\n{text}\n```", text.replace("\n", "\r\n"),
            "\n".join(f"{line}  " for line in text.splitlines()), text.replace("\n", "\n\n")]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_oracle_answer_and_trajectory_round_trips_with_harmless_decoration(name, seed):
    sc, inst = instance(name, seed)
    run = oracle_run(sc, inst)
    for step, _, answer in run:
        for text in step_variants(sc.format_answer(answer)):
            assert sc.parse(text, step) == answer, (step, text)
    answers = [a for _, _, a in run]
    for text in trajectory_variants(sc.format_trajectory(inst, answers)):
        assert sc.parse_trajectory(inst, text) == answers, text[:80]
    for cut in (1, len(answers) // 2):  # a reply that stops early gives a prefix, never shifted answers
        try:
            got = sc.parse_trajectory(inst, sc.format_trajectory(inst, answers[:cut]))
        except ParseError:
            continue  # a grid cut inside a row cannot be read
        assert 0 < len(got) <= cut and got == answers[: len(got)]


BAD_STEP_REPLIES = ["", "   ", "\n\n", "```\n```", "?", "answer:", "0.5", "1 2 3 4 5 6 7 8 9 10", "2 + 2",
                    "I don't know, sorry!", "Let me think step by step.\nFirst, the rule says"]
BAD_TRAJECTORIES = ["", "\n \n", "```\n```", "I cannot solve this, sorry!", "?\n?\n?"]


@pytest.mark.parametrize("name", CASES)
def test_garbage_is_a_parse_error_for_steps_and_whole_tasks(name):
    sc, inst = instance(name)
    step = sc.steps(inst)[0]
    for text in BAD_STEP_REPLIES:
        with pytest.raises(ParseError):
            sc.parse(text, step)
    for text in BAD_TRAJECTORIES:
        with pytest.raises(ParseError):
            sc.parse_trajectory(inst, text)


# --- parameters ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_params_are_described_with_defaults(name):
    described = describe_params(get_scenario(name))
    assert described and all("default" in p and p["name"] for p in described)


def test_params_are_described_exactly_as_their_schema_says():
    assert describe_params(get_scenario("eca")) == [
        {"name": "rule", "type": "integer", "default": 110, "minimum": 0, "maximum": 255,
         "description": "Wolfram rule number"},
        {"name": "width", "type": "integer", "default": 16, "minimum": 3, "maximum": 1024,
         "description": "cells in the ring"},
        {"name": "steps", "type": "integer", "default": 4, "minimum": 1, "maximum": 1000,
         "description": "generations to compute"},
        {"name": "granularity", "type": "string", "default": "cell", "allowed": "cell|row|rows:K",
         "description": "what one call answers: cell, row (one generation) or rows:K (K generations)"},
    ]


def test_a_parameter_without_a_description_is_described_with_an_empty_one():
    class Plain(Params):
        size: int = 3

    class Task:
        Params = Plain

    assert describe_params(Task()) == [{"name": "size", "type": "integer", "default": 3, "description": ""}]


def _out_of_range(name: str) -> tuple[str, str]:
    """A parameter of `name` and a value (as the CLI would pass it) outside its allowed range."""
    for p in describe_params(get_scenario(name)):
        if "maximum" in p:
            return p["name"], str(p["maximum"] + 1)
        if "minimum" in p:
            return p["name"], str(p["minimum"] - 1)
    raise AssertionError(f"{name} has no bounded parameter")


@pytest.mark.parametrize("name", NAMES)
def test_out_of_range_parameters_are_one_line_errors_in_python_and_on_the_cli(name):
    field, value = _out_of_range(name)
    with pytest.raises(AgentloopError) as exc:
        parse_params(get_scenario(name), {field: value})
    msg = str(exc.value)
    assert msg.startswith(f"{name}: parameter {field}") and "parameters:" in msg and "\n" not in msg
    res = CliRunner().invoke(app, ["run", name, "-p", f"{field}={value}"])
    assert res.exit_code == 2
    assert res.stderr.startswith(f"error: {name}: parameter {field}") and res.stderr.count("\n") == 1


# --- the loop -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("condition", list(PRESETS))
def test_oracle_succeeds_under_every_condition(name, condition):
    r = run_episode(*case_params(name), condition=condition, model="scripted/oracle", seed=5)
    assert r.success, (r.status, r.error, r.first_error_step)
    sc, inst = instance(name, 5)
    assert r.steps_correct == r.steps_total == len(r.step_ok) == len(sc.steps(inst))
    assert r.simulated
    assert r.answer == r.expected


@pytest.mark.parametrize("name", CASES)
def test_noisy_slips_show_without_a_checker_and_verify_repairs_them(name):
    """Simulated slips are visible under `tape`, and `verify` (with room to re-ask) fixes them all."""
    noisy = {"model": "scripted/noisy", "model_args": {"error": 0.3, "seed": 1}}
    tape = [run_episode(*case_params(name), condition="tape", seed=s, **noisy) for s in range(3)]
    assert not all(all(r.step_ok) and r.success for r in tape)
    for r in tape:
        assert r.simulated and r.status in ("solved", "failed") and len(r.step_ok) == len(r.steps) <= r.steps_total
        json.dumps(r.model_dump())
    if name in GRANULAR:
        # Slips are per atom, so a call of many cells at 30% is almost never right: repair a
        # model whose calls are wrong about two times in three, with more room.
        sc, inst = instance(name)
        atoms = max(len(sc.atoms(inst, step, answer)) for step, _, answer in oracle_run(sc, inst))
        noisy = {"model": "scripted/noisy", "model_args": {"error": round(1 / atoms, 4), "seed": 1}}
    verify = get_condition("verify", max_retries=50 if name in GRANULAR else 8)
    fixed = [run_episode(*case_params(name), condition=verify, seed=s, **noisy) for s in range(3)]
    for r in fixed:
        assert r.success and r.answer == r.expected, (r.status, r.error)
    assert sum(r.calls for r in fixed) > sum(r.steps_total for r in fixed)  # the repairs were paid for
