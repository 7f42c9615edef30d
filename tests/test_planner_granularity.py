"""planner=llm on eca and life: the model chooses the granularity of each step (one cell, or K
whole rows / generations from where the work stands), each choice judged against the state, and
the chosen chunk checked atom by atom as a fixed granularity is."""

from __future__ import annotations

import json
import random
import re

import pytest
from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.conditions import get_condition
from agentloop.errors import AgentloopError, ParseError
from agentloop.loop import run_episode
from agentloop.loop._planner import EcaPlanner, LifePlanner, parse_chunk
from agentloop.scenarios import get_scenario
from agentloop.scenarios._granularity import atom_table
from agentloop.scenarios.eca import EcaState
from agentloop.scenarios.life import LifeState, next_board
from agentloop.types import Completion, Step

runner = CliRunner()
PLAN = get_condition("tape", planner="llm")
PLAN_VERIFY = get_condition("verify", planner="llm")
ECA = {"rule": 110, "width": 8, "steps": 4}
LIFE = {"rows": 5, "cols": 5, "steps": 2}


class ChoosesSizes:
    """A simulated model that plans its own sizes: where a row can start it takes the next of
    `choices` (clamped to what remains), else `cell`; as a worker it answers the hint, with the
    first atom of every step of more than `slip_over` atoms wrong."""

    name, args, simulated = "test/sizes", {}, True

    def __init__(self, choices, slip_over: int | None = None):
        self.choices, self.n, self.slip_over = choices, 0, slip_over

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        if hint.role == "plan":
            right = hint.answers[0]
            if right[0] == "cell":
                return Completion(text="cell", tokens_in=10, tokens_out=1)
            most = int(re.search(r"K from 1 to (\d+)", messages[-1]["content"])[1])
            choice = self.choices[self.n % len(self.choices)]
            self.n += 1
            m = re.fullmatch(r"rows (\d+)", choice)
            if m and int(m[1]) > most:
                choice = f"rows {most}"
            return Completion(text=choice, tokens_in=10, tokens_out=2)
        answers = list(hint.answers)
        if self.slip_over is not None and len(answers) > self.slip_over:
            answers[0] = hint.corrupt(0, random.Random(0))
        return Completion(text=hint.render(answers), tokens_in=10, tokens_out=len(answers))


# --- the scripted oracle plans one row at a time and solves ------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_the_oracle_chooses_a_row_per_step_and_solves_eca(seed):
    rec = run_episode("eca", ECA, condition=PLAN, model="scripted/oracle", seed=seed)
    assert rec.success and rec.status == "solved"
    assert rec.plans == 4 and rec.plan_errors == 0 and rec.planned_right == rec.planned_right_ok == 4
    assert rec.steps_total == 4 and rec.step_ok == [True] * 4  # the steps taken, not the 32 cells
    assert [s.label for s in rec.steps] == [f"generation {g}" for g in range(1, 5)]
    assert all(s.plans[0].proposal == ["row", 1] and s.plans[0].verdict.ok for s in rec.steps)


@pytest.mark.parametrize("topology", ["dead", "torus"])
def test_the_oracle_chooses_a_row_per_step_and_solves_life(topology):
    rec = run_episode("life", {**LIFE, "topology": topology}, condition=PLAN, model="scripted/oracle", seed=1)
    assert rec.success and rec.plans == 10 and rec.plan_errors == 0
    assert [s.label for s in rec.steps][:2] == ["generation 1, row 0", "generation 1, row 1"]
    assert rec.steps[-1].label == "generation 2, row 4"


def test_the_done_when_style_command_records_the_chosen_sizes():
    res = runner.invoke(app, ["run", "eca", "-p", "width=8", "-p", "steps=3", "--condition", "tape", "-C",
                              "planner=llm", "--model", "scripted/oracle", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["condition"] == "tape+planner=llm" and r["success"]
    assert [p["proposal"] for s in r["steps"] for p in s["plans"]] == [["row", 1]] * 3
    assert all(p["goal"] == "the size of the next step" for s in r["steps"] for p in s["plans"])


# --- each choice judged against the state -------------------------------------------------------
def _decision(planner_cls, name, params, state):
    sc = get_scenario(name)
    inst = sc.generate(sc.Params(**params), 0)
    return planner_cls(sc, inst).next(state(inst), 0)


def test_eca_choices_are_judged_against_where_the_work_stands():
    d = _decision(EcaPlanner, "eca", ECA, lambda inst: EcaState((inst.initial,), ()))
    assert d.right == ("row", 1)
    for ok in [("cell", 1), ("row", 1), ("row", 4)]:
        assert d.judge(ok) == (d.judge(ok)[0], True) and d.judge(ok)[0].ok
    for bad, why in [(("row", 5), "not within what remains (1 to 4)"), (("row", 0), "not within"),
                     (("cell", 3), "one cell"), (("board", 0), "eca has no board")]:
        v, followable = d.judge(bad)
        assert v.code == "plan" and not followable and why in v.reason
        assert v.expected == ["row", 1] and v.observed == list(bad)
    # mid-generation: only a cell can come next
    mid = _decision(EcaPlanner, "eca", ECA, lambda inst: EcaState((inst.initial,), (1, 0, 1)))
    assert mid.right == ("cell", 1) and mid.judge(("cell", 1))[0].ok
    v, followable = mid.judge(("row", 1))
    assert v.code == "plan" and not followable and "under way (3 cells written)" in v.reason


def test_life_choices_are_judged_against_where_the_work_stands():
    d = _decision(LifePlanner, "life", LIFE, lambda inst: LifeState((inst.initial,), ()))
    assert d.judge(("board", 0))[0].ok and d.judge(("row", 5))[0].ok and d.judge(("row", 2))[0].ok
    assert "not within what remains (1 to 5)" in d.judge(("row", 6))[0].reason
    # two rows written: three remain, and a board no longer fits
    two = _decision(LifePlanner, "life", LIFE, lambda inst: LifeState((inst.initial,), (0,) * 10))
    assert two.judge(("row", 3))[0].ok
    assert not two.judge(("row", 4))[0].ok and not two.judge(("board", 0))[0].ok
    mid = _decision(LifePlanner, "life", LIFE, lambda inst: LifeState((inst.initial,), (0,) * 7))
    assert mid.right == ("cell", 1) and "row is under way (2 cells written)" in mid.judge(("row", 1))[0].reason


@pytest.mark.parametrize("text, chunk", [
    ("cell", ("cell", 1)), ("Rows 3", ("row", 3)), ("the next 2 generations: generations 2", ("row", 2)),
    ("row", ("row", 1)), ("board", ("board", 0)), ("One cell please: cell", ("cell", 1)), ("cells 4", ("cell", 4)),
])
def test_size_choices_are_read_from_what_models_write(text, chunk):
    assert parse_chunk(text) == chunk


@pytest.mark.parametrize("text", ["", "two", "the whole thing", "rowing"])
def test_a_reply_without_a_size_is_a_parse_error(text):
    with pytest.raises(ParseError):
        parse_chunk(text)


# --- noisy planners: errors counted, re-planned under verify ------------------------------------
def _noisy(condition, scenario="eca", params=ECA, seeds=10):
    return [run_episode(scenario, params, condition=condition, model="scripted/oracle",
                        model_args={"plan_error": 0.3}, seed=s) for s in range(seeds)]


def test_an_impossible_choice_is_code_plan_and_ends_the_episode_without_a_checker():
    recs = _noisy(PLAN)
    failed = [r for r in recs if not r.success]
    assert failed, "a 30% planner must err in 10 episodes of 4 choices"
    for r in failed:
        last = r.steps[-1]
        assert last.code == "plan" and not last.committed and r.status == "failed"
        # what was left is counted at a row a step (the failed plan is a step of its own)
        assert len(r.steps) < r.steps_total <= 5
        assert not last.plans[-1].verdict.ok and not last.plans[-1].followed
    assert sum(r.plan_errors for r in recs) == sum(not p.verdict.ok for r in recs for s in r.steps for p in s.plans)


@pytest.mark.parametrize("scenario, params", [("eca", ECA), ("life", LIFE)])
def test_under_verify_an_impossible_choice_is_re_planned(scenario, params):
    recs = _noisy(PLAN_VERIFY, scenario, params, seeds=6)
    assert sum(r.plan_errors for r in recs) > 0
    assert sum(r.success for r in recs) >= 4  # a perfect worker, and impossible choices re-planned
    for r in recs:
        assert all(p.followed == p.verdict.ok for s in r.steps for p in s.plans)
        if not r.success:  # only when every re-plan was impossible too
            last = r.steps[-1]
            assert last.code == "plan" and len(last.plans) == PLAN_VERIFY.max_retries + 1
            assert not any(p.verdict.ok for p in last.plans)
    replanned = [s for r in recs for s in r.steps if s.committed and len(s.plans) > 1]
    assert replanned and all(s.plans[-1].verdict.ok for s in replanned)
    rejected = next(s for s in replanned)
    again = next(r for r in recs if rejected in r.steps).prompts[rejected.plans[1].prompt][-1]["content"]
    assert "Your previous plan was rejected" in again


# --- chunks of mixed sizes, checked atom by atom ------------------------------------------------
def test_mixed_sizes_solve_eca_and_the_table_shows_each_size():
    rec = run_episode("eca", {**ECA, "steps": 6}, condition=PLAN, model=ChoosesSizes(["rows 2", "cell", "row"]))
    assert rec.success, rec.status
    labels = [s.label for s in rec.steps]
    # rows 2, then a generation cell by cell, then one row, then the last two
    assert labels[0] == "generations 1 to 2" and labels[1:9] == [f"generation 3, cell {c}" for c in range(8)]
    assert labels[9:] == ["generation 4", "generations 5 to 6"]
    assert rec.plans == len(rec.steps) == rec.steps_total and rec.plan_errors == 0
    table = {r.granularity: r for r in atom_table([rec])}
    assert table["chosen"].atoms == 48 and table["chosen"].calls == 11
    assert table["chosen rows:2"].calls == 2 and table["chosen rows:2"].atoms_per_call == 16
    assert table["chosen cell"].atoms_per_call == 1 and table["chosen row"].atoms == 8


def test_mixed_sizes_solve_life_including_a_board():
    rec = run_episode("life", LIFE, condition=PLAN, model=ChoosesSizes(["board", "rows 2", "cell", "rows 9"]))
    assert rec.success, rec.status
    labels = [s.label for s in rec.steps]
    assert labels[0] == "generation 1"  # a board
    assert labels[1] == "generation 2, rows 0 to 1"
    assert labels[2:7] == [f"generation 2, row 2, column {c}" for c in range(5)]
    assert labels[7] == "generation 2, rows 3 to 4"  # rows 9 clamped to what remains
    sc = get_scenario("life")
    inst = sc.generate(sc.Params(**LIFE), 0)
    assert rec.answer == [list(r) for r in next_board(next_board(inst.initial))]
    # the table names each size as a granularity value: a board, two chunks of 2 rows, 5 cells
    table = {r.granularity: (r.calls, r.atoms) for r in atom_table([rec])}
    assert table == {"chosen": (8, 50), "chosen board": (1, 25), "chosen rows:2": (2, 20), "chosen cell": (5, 5)}


def test_a_chunk_is_wrong_when_any_atom_is_and_the_table_counts_atoms():
    rec = run_episode("eca", {**ECA, "steps": 6}, condition=PLAN,
                      model=ChoosesSizes(["rows 2", "cell", "row"], slip_over=1))
    first = rec.steps[0]
    assert not first.ok and first.code == "wrong" and "1 of 16 cells" in first.attempts[0].verdict.reason
    table = {r.granularity: r for r in atom_table([rec])}
    rows2 = table["chosen rows:2"]  # both chunks of two generations slipped one cell of 16
    assert (rows2.calls, rows2.calls_ok, rows2.atoms, rows2.atoms_ok) == (2, 0, 32, 30)


def test_a_planned_chunk_of_life_rows_shows_its_rows_and_one_on_each_side():
    sc = get_scenario("life")
    inst = sc.generate(sc.Params(**LIFE), 0)
    step = Step(0, (1, 1, 5, 2), "generation 1, rows 1 to 2")
    state = sc.initial_state(inst)
    window = sc.window(inst, state, step)
    assert window.splitlines() == ["".join(map(str, r)) for r in inst.initial[0:4]]
    prompt = sc.step_prompt(inst, step, window)
    assert "Rows 0 to 3 of the previous generation" in prompt and "new rows 1 to 2" in prompt
    assert sc.parse("10101\n01010", step) == ((1, 0, 1, 0, 1), (0, 1, 0, 1, 0))


# --- bad combinations ---------------------------------------------------------------------------
@pytest.mark.parametrize("scenario, granularity", [("eca", "row"), ("eca", "rows:3"), ("life", "board")])
def test_a_fixed_granularity_with_planner_llm_is_one_line_and_exit_2(scenario, granularity):
    res = runner.invoke(app, ["run", scenario, "-p", f"granularity={granularity}", "-C", "planner=llm"])
    assert res.exit_code == 2
    assert f"planner=llm chooses the granularity of {scenario}" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    with pytest.raises(AgentloopError, match="chooses the granularity"):
        run_episode(scenario, {"granularity": granularity}, condition=PLAN)


# --- resume ------------------------------------------------------------------------------------
CASES = {
    "eca verify": dict(scenario="eca", params={**ECA, "steps": 8}, condition=PLAN_VERIFY, model="scripted/noisy",
                       model_args={"error": 0.1}, seed=2),
    "life tape": dict(scenario="life", params=LIFE, condition=PLAN, model="scripted/noisy",
                      model_args={"error": 0.02}, seed=1),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dies_at", [2, 3])
def test_a_planned_chunk_episode_killed_mid_run_resumes_to_the_uninterrupted_record(case, dies_at, tmp_path,
                                                                                    monkeypatch):
    from test_planner import assert_killed_planned_episode_resumes_to_the_whole

    assert_killed_planned_episode_resumes_to_the_whole(CASES[case], dies_at, tmp_path, monkeypatch)


# --- the planner's edges: how a size is written, a wrong size, room for the answer ---------------
from agentloop.loop._planner import render_chunk  # noqa: E402
from agentloop.scenarios._granularity import planned_chunk  # noqa: E402


def test_a_chosen_size_is_written_as_a_model_writes_it():
    # the reply text a perfect planner writes (the scripted model's): lower case, read back the same
    for chunk, text in [(("cell", 1), "cell"), (("board", 0), "board"), (("row", 1), "rows 1"),
                        (("row", 3), "rows 3"), (("cell", 2), "cells 2")]:
        assert render_chunk(chunk) == text and parse_chunk(text) == chunk


def test_a_corrupt_size_choice_can_never_be_done():
    # at a generation's start: more generations than remain (4 of them); mid-generation: any rows
    for partial, low, high in [((), 5, 7), ((1, 0, 1), 1, 3)]:
        d = _decision(EcaPlanner, "eca", ECA, lambda inst, partial=partial: EcaState((inst.initial,), partial))
        rng = random.Random(0)
        seen = set()
        for _ in range(30):
            kind, n = d.corrupt(rng)
            v, followable = d.judge((kind, n))
            assert kind == "row" and low <= n <= high and v.code == "plan" and not followable
            seen.add(n)
        assert seen == set(range(low, high + 1))


def test_a_chosen_chunk_allows_an_answer_as_long_as_its_rows():
    eca = get_scenario("eca")
    planner = EcaPlanner(eca, eca.generate(eca.Params(**ECA), 0))
    # K generations of 8 cells: K * (8 + 24) + 16 characters; a cell: the scenario's limit
    assert [planner.answer_chars(Step(0, (1, k, 8), "")) for k in (1, 3)] == [48, 112]
    assert planner.answer_chars(Step(0, (1, 0), "generation 1, cell 0")) is None
    life = get_scenario("life")
    planner = LifePlanner(life, life.generate(life.Params(**LIFE), 0))
    # K rows of 5 cells: K * (5 + 4) + 32 characters; a cell: the scenario's limit
    assert [planner.answer_chars(Step(0, (1, 0, 5, k), "")) for k in (1, 2, 5)] == [41, 50, 77]
    assert planner.answer_chars(Step(0, (1, 0, 0), "generation 1, row 0, column 0")) is None


class AlwaysChooses:
    """A simulated model that plans `choice` wherever a row can start (else `cell`) and answers
    every step right: deterministic, so a vote's samples agree."""

    name, args, simulated = "test/always", {}, True

    def __init__(self, choice):
        self.choice = choice

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        if hint.role == "plan":
            most = re.search(r"K from 1 to (\d+)", messages[-1]["content"])
            text = "cell" if hint.answers[0][0] == "cell" else self.choice.replace("K", most[1])
            return Completion(text=text, tokens_in=10, tokens_out=1)
        return Completion(text=hint.render(list(hint.answers)), tokens_in=10, tokens_out=len(hint.answers))


@pytest.mark.parametrize("scenario, params, choice, label", [
    ("eca", ECA, "rows K", "generations 1 to 4"),  # 4 rows of 8 cells, 35 characters
    ("life", {**LIFE, "cols": 8}, "board", "generation 1"),  # 5 rows of 8 cells, 44 characters
])
def test_under_a_vote_a_chosen_chunk_of_several_rows_is_not_red_flagged(scenario, params, choice, label):
    rec = run_episode(scenario, params, condition=get_condition("vote", planner="llm"), model=AlwaysChooses(choice))
    assert rec.success and rec.format_retries == 0 and rec.steps[0].label == label


def test_a_planned_chunk_is_the_first_step_of_the_fixed_granularity_it_names():
    # its atoms are compared as that granularity's are: the same key, the same count of atoms
    for scenario, params, choices in [("eca", {**ECA, "steps": 6}, ["rows 2", "cell", "row"]),
                                      ("life", LIFE, ["board", "row", "cell", "row", "row", "row"])]:
        sc = get_scenario(scenario)
        rec = run_episode(scenario, params, condition=PLAN, model=ChoosesSizes(choices))
        assert rec.success
        seen = set()
        for s in rec.steps:
            label, step, size = planned_chunk(scenario, sc.Params(**params), s)
            inst = sc.generate(sc.Params(**params, granularity=label), 0)
            first = sc.steps(inst)[0]
            assert step.index == s.index and step.key == first.key
            assert size == len(sc.atoms(inst, first, sc.solve(inst, sc.initial_state(inst), first)))
            seen.add(label)
        assert seen == ({"rows:2", "cell", "row"} if scenario == "eca" else {"board", "row", "cell"})


# --- the question, the verdict of a possible size, the count of steps, a chosen size resumed -----
def test_the_size_questions_are_word_for_word_the_same():
    mid = _decision(EcaPlanner, "eca", ECA, lambda inst: EcaState((inst.initial,), (1, 0, 1)))
    assert mid.question == (
        "The task: generations 1 to 4 of 8 cells each. Generations 0 to 0 are done; of generation 1, 3 of 8 cells "
        "are written.\nHow much should the next call do? Answer `cell` (the next cell only) or, when a generation "
        "can start here, `rows K` (the next K whole generations, K from 1 to 3). Do not do the work. Answer with "
        "the choice only."
    )
    start = _decision(LifePlanner, "life", LIFE, lambda inst: LifeState((inst.initial,), ()))
    assert start.question == (
        "The task: generations 1 to 2 of a 5x5 board. Generations 0 to 0 are done; of generation 1, 0 of 25 cells "
        "are written (row by row), and `board` (the whole generation) is also a choice at its first row.\nHow much "
        "should the next call do? Answer `cell` (the next cell only) or, when a row can start here, `rows K` (the "
        "next K whole rows, K from 1 to 5). Do not do the work. Answer with the choice only."
    )


def test_a_possible_size_is_accepted_with_the_size_observed():
    d = _decision(EcaPlanner, "eca", ECA, lambda inst: EcaState((inst.initial,), ()))
    for chunk in [("cell", 1), ("row", 1), ("row", 4)]:
        v, followable = d.judge(chunk)
        assert (v.ok, v.code, v.observed, followable) == (True, "ok", list(chunk), True)
    rec = run_episode("eca", ECA, condition=PLAN, model=ChoosesSizes(["rows 3", "row"]))
    assert [s.plans[0].verdict.observed for s in rec.steps] == [["row", 3], ["row", 1]]


def test_the_steps_left_are_counted_as_the_rest_of_the_row_under_way_then_a_step_per_row():
    eca = get_scenario("eca")
    planner = EcaPlanner(eca, eca.generate(eca.Params(**ECA), 0))
    initial = planner.inst.initial
    # 3 of 8 cells of generation 1 written: 5 cells, then generations 2 to 4
    assert planner.steps_total(EcaState((initial,), (1, 0, 1)), 3, 32) == 3 + 5 + 3
    assert planner.steps_total(EcaState((initial,), ()), 0, 32) == 4
    life = get_scenario("life")
    planner = LifePlanner(life, life.generate(life.Params(**LIFE), 0))
    # 7 cells of 5x5 written: 3 cells of row 1, then rows 2 to 4
    assert planner.steps_total(LifeState((planner.inst.initial,), (0,) * 7), 7, 50) == 7 + 3 + 3


def test_a_chosen_size_survives_snapshot_and_resume():
    eca = get_scenario("eca")
    inst = eca.generate(eca.Params(**ECA), 0)
    state = EcaState((inst.initial,), ())
    for chunk, key, label in [(("row", 2), (1, 2, 8), "generations 1 to 2"),
                              (("cell", 1), (1, 0), "generation 1, cell 0")]:
        before = EcaPlanner(eca, inst)
        before.follow(chunk, True)
        after = EcaPlanner(eca, inst)
        after.resume(json.loads(json.dumps(before.snapshot())))
        leaf = after.next(state, 4)
        assert (leaf.step.index, leaf.step.key, leaf.step.label, leaf.plan_ok) == (4, key, label, True)
    after = EcaPlanner(eca, inst)
    after.resume(None)  # nothing chosen: the planner is asked
    assert after.next(state, 0).goal == "the size of the next step"


def test_a_chosen_life_cell_or_rows_is_the_step_of_its_index():
    life = get_scenario("life")
    inst = life.generate(life.Params(**LIFE), 0)
    state = LifeState((inst.initial,), (0,) * 7)  # 7 of 25 cells written: row 1, column 2 is next
    for chunk, key, label in [(("cell", 1), (1, 1, 2), "generation 1, row 1, column 2"),
                              (("row", 2), (1, 1, 5, 2), "generation 1, rows 1 to 2")]:
        planner = LifePlanner(life, inst)
        planner.follow(chunk, True)
        leaf = planner.next(state, 6)
        assert (leaf.step.index, leaf.step.key, leaf.step.label, leaf.plan_ok) == (6, key, label, True)
