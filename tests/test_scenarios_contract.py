"""Contract tests over every registered scenario (they run for each new scenario automatically)."""

from __future__ import annotations

import copy
import json
import random

import pytest

from agentloop.conditions import PRESETS
from agentloop.loop import run_episode
from agentloop.scenarios import describe_params, get_scenario, list_scenarios

# Small instances so that every condition runs quickly; scenarios not listed use their defaults.
SMALL = {
    "eca": {"rule": 110, "width": 8, "steps": 2},
    "life": {"rows": 4, "cols": 4, "steps": 1},
    "hanoi": {"disks": 3},
}

NAMES = list_scenarios()


def instance(name: str, seed: int = 7):
    sc = get_scenario(name)
    params = sc.Params.model_validate(SMALL.get(name, {}))
    return sc, sc.generate(params, seed)


@pytest.mark.parametrize("name", NAMES)
def test_oracle_passes_the_checker_at_every_step_and_reaches_the_goal(name):
    sc, inst = instance(name)
    state = sc.initial_state(inst)
    steps = list(sc.steps(inst))
    assert steps, "a scenario must have at least one step"
    for step in steps:
        answer = sc.solve(inst, state, step)
        verdict = sc.check(inst, state, step, answer)
        assert verdict.ok, (step, verdict)
        state = sc.apply(inst, state, step, answer)
    assert sc.is_goal(inst, state)


# Parameters for the distinct-instances test: the defaults, except where noted.
DISTINCT = {"hanoi": {"disks": 4}}
# Where the parameter space does not allow 20 distinct instances, and why.
FIXED_BY_PARAMS = {
    ("hanoi", "classic"): {"disks": 4, "start": "classic"},  # one start position: all disks on peg 0
    ("wordle", "word"): {"word": "crane"},  # the hidden word is the parameter
}


def _fingerprint(sc, inst) -> str:
    return json.dumps([sc.initial_json(inst), sc.expected_json(inst)], sort_keys=True)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_instance_and_twenty_seeds_twenty_instances(name):
    sc = get_scenario(name)
    params = sc.Params.model_validate(DISTINCT.get(name, {}))
    assert sc.generate(params, 3) == sc.generate(params, 3)
    seen = {_fingerprint(sc, sc.generate(params, seed)) for seed in range(20)}
    assert len(seen) == 20, f"{name}: {len(seen)} distinct instances over 20 seeds"


@pytest.mark.parametrize("key", list(FIXED_BY_PARAMS))
def test_instances_fixed_by_their_parameters_ignore_the_seed(key):
    sc = get_scenario(key[0])
    params = sc.Params.model_validate(FIXED_BY_PARAMS[key])
    assert len({_fingerprint(sc, sc.generate(params, seed)) for seed in range(5)}) == 1


@pytest.mark.parametrize("name", NAMES)
def test_corrupted_answers_are_rejected_and_the_simulator_is_pure(name):
    sc, inst = instance(name)
    state = sc.initial_state(inst)
    rng = random.Random(0)
    for step in list(sc.steps(inst))[:12]:
        answer = sc.solve(inst, state, step)
        wrong = sc.corrupt(inst, state, step, answer, rng)
        assert wrong != answer
        assert not sc.check(inst, state, step, wrong).ok
        before = copy.deepcopy(state)
        nxt = sc.apply(inst, state, step, answer)
        assert state == before, "apply() must not mutate its input"
        state = nxt


@pytest.mark.parametrize("name", NAMES)
def test_answers_and_trajectories_round_trip_through_the_parser(name):
    sc, inst = instance(name)
    state, answers = sc.initial_state(inst), []
    for step in sc.steps(inst):
        a = sc.solve(inst, state, step)
        assert sc.parse(sc.format_answer(a), step) == a
        answers.append(a)
        state = sc.apply(inst, state, step, a)
    assert sc.parse_trajectory(inst, sc.format_trajectory(inst, answers)) == answers


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("condition", list(PRESETS))
def test_oracle_succeeds_under_every_condition(name, condition):
    r = run_episode(name, SMALL.get(name, {}), condition=condition, model="scripted/oracle", seed=5)
    assert r.success, (r.status, r.error, r.first_error_step)
    assert r.steps_correct == r.steps_total == len(r.step_ok)
    assert r.simulated
    assert r.answer == r.expected


@pytest.mark.parametrize("name", NAMES)
def test_params_are_described_with_defaults(name):
    described = describe_params(get_scenario(name))
    assert described and all("default" in p and p["name"] for p in described)
