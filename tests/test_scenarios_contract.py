"""Contract tests over every registered scenario (they run for each new scenario automatically)."""

from __future__ import annotations

import copy
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


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_instance_and_different_seeds_differ_somewhere(name):
    sc, a = instance(name, seed=3)
    _, b = instance(name, seed=3)
    assert a == b
    others = [instance(name, seed=s)[1] for s in range(10, 20)]
    if name != "hanoi":  # a Hanoi instance is fixed by its size
        assert any(o != a for o in others)


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
