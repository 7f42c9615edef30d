"""The planner agent (planner=llm): hanoi by recursive subgoals, sudoku by choosing the next cell,
each proposal judged against the simulator, a wrong plan its own error class `plan`."""

from __future__ import annotations

import json
import random
import re

import pytest
from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.conditions import get_condition
from agentloop.errors import AgentloopError, ParseError
from agentloop.experiment import parse_experiment, run_experiment
from agentloop.loop import run_episode
from agentloop.loop._planner import HanoiPlanner, SudokuPlanner, parse_subgoals
from agentloop.scenarios import get_scenario
from agentloop.scenarios.hanoi import HanoiState, optimal_solution
from agentloop.store import ResultsStore
from agentloop.types import Completion

runner = CliRunner()
PLAN = get_condition("tape", planner="llm")
PLAN_VERIFY = get_condition("verify", planner="llm")


def test_the_done_when_command_records_each_proposal_and_its_verdict():
    res = runner.invoke(app, ["run", "hanoi", "-p", "disks=5", "--condition", "tape", "-C", "planner=llm",
                              "--model", "scripted/noisy", "-M", "error=0.05", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["condition"] == "tape+planner=llm"
    plans = [p for s in r["steps"] for p in s["plans"]]
    assert plans and r["plans"] == len(plans)
    assert plans[0]["goal"] == "move disks 1 to 5 onto peg 2"
    for p in plans:
        assert p["verdict"]["code"] in ("ok", "plan") and p["proposal"]
        assert p["replies"] and p["replies"][0]["text"]
    assert all(s["plan_ok"] is not None for s in r["steps"])


def test_the_oracle_plans_right_and_its_moves_are_the_shortest_solution():
    for seed in range(4):
        rec = run_episode("hanoi", {"disks": 5}, condition=PLAN, model="scripted/oracle", seed=seed)
        assert rec.success and rec.plan_errors == 0 and rec.plans > 0
        assert all(p.verdict.ok and p.followed for s in rec.steps for p in s.plans)
        assert rec.planned_right == rec.planned_right_ok == rec.steps_total
        start = get_scenario("hanoi").generate(get_scenario("hanoi").Params(disks=5), seed).start
        assert [s.answer for s in rec.steps] == [list(m) for m in optimal_solution(start)]
        # each worker question names the plan's subgoal
        assert all("the plan's subgoal: move disk" in s.label for s in rec.steps)


def test_the_classic_start_is_planned_by_halves():
    rec = run_episode("hanoi", {"disks": 4, "start": "classic"}, condition=PLAN, model="scripted/oracle")
    first = rec.steps[0].plans[0]
    assert first.proposal == [["tower", 3, 1], ["disk", 4, 0, 2], ["tower", 3, 2]]
    # towers of 2 or more disks are decomposed; a tower of one disk is its move
    assert rec.success and rec.plans == 7  # 1 (4 disks) + 2 (3 disks) + 4 (2 disks)


def _planner_episodes(condition, error, seeds=12, scenario="hanoi", params=None):
    params = params or {"disks": 5}
    return [run_episode(scenario, params, condition=condition, model="scripted/noisy",
                        model_args={"error": error}, seed=s) for s in range(seeds)]


def test_a_wrong_plan_is_code_plan_and_without_a_checker_it_is_followed():
    recs = _planner_episodes(PLAN, 0.3)
    wrong = [(r, s, p) for r in recs for s in r.steps for p in s.plans if not p.verdict.ok]
    assert wrong, "a 30% planner must err somewhere in 12 episodes"
    for r, s, p in wrong:
        assert p.verdict.code == "plan" and p.verdict.expected != p.verdict.observed
        assert p.followed  # nothing checks the plan under tape: the agent cannot know
    assert sum(r.plan_errors for r in recs) == len(wrong)


def test_with_the_simulator_checking_the_planner_re_plans_on_rejection():
    recs = _planner_episodes(PLAN_VERIFY, 0.3)
    replanned = [s for r in recs for s in r.steps if any(not p.verdict.ok for p in s.plans)]
    assert replanned
    for s in replanned:
        for before, after in zip(s.plans, s.plans[1:]):
            if not before.verdict.ok and before.goal == after.goal:
                assert not before.followed  # rejected, then asked again
    # no wrong plan was ever followed: every step the plan chose was chosen rightly
    for r in recs:
        assert all(p.followed == p.verdict.ok for s in r.steps for p in s.plans if s.code != "plan")
    # the rejection is shown to the planner in its next request
    rec = next(r for r in recs if any(not p.verdict.ok for s in r.steps for p in s.plans))
    step = next(s for s in rec.steps if any(not p.verdict.ok for p in s.plans))
    j = next(j for j, p in enumerate(step.plans) if not p.verdict.ok)
    again = rec.prompts[step.plans[j + 1].prompt][-1]["content"]
    assert "Your previous plan was rejected" in again


def test_planner_error_is_measured_apart_from_worker_error():
    recs = _planner_episodes(PLAN_VERIFY, 0.2)
    # under verify the worker's answers are checked too; the plan's verdicts are counted on their own
    assert sum(r.plans for r in recs) > 0
    for r in recs:
        assert r.plan_errors == sum(not p.verdict.ok for s in r.steps for p in s.plans if p.proposal is not None)
        assert r.planned_right_ok <= r.planned_right <= len(r.steps)


def test_a_perfect_worker_under_a_wrong_planner_errs_only_where_the_plan_is_wrong():
    recs = [run_episode("hanoi", {"disks": 5}, condition=PLAN, model="scripted/oracle",
                        model_args={"plan_error": 0.3}, seed=s) for s in range(8)]
    assert sum(r.plan_errors for r in recs) > 0
    for r in recs:
        assert r.planned_right_ok == r.planned_right  # the worker never slips
        for s in r.steps:
            if s.attempts:
                m = re.search(r"move disk (\d+) from peg (\d+) to peg (\d+)", s.label)
                assert s.answer == [int(x) for x in m.groups()]  # it does what the plan says
                assert s.ok == s.plan_ok  # so a step is wrong exactly where the plan is


def test_a_scripted_worker_carries_out_a_wrong_plan():
    recs = _planner_episodes(PLAN, 0.3)
    stale = [s for r in recs for s in r.steps if s.plan_ok is False and s.attempts]
    assert stale
    followed = 0
    for s in stale:
        m = re.search(r"move disk (\d+) from peg (\d+) to peg (\d+)", s.label)
        assert m is not None
        if s.answer == [int(x) for x in m.groups()]:  # the worker did what the plan said: a wrong step
            followed += 1
            assert not s.ok and s.code in ("wrong", "illegal")
    assert followed > len(stale) / 2  # the 30% worker slips now and then, even off a wrong plan


def test_an_unreadable_plan_ends_the_episode_as_format_with_the_replies_kept():
    rec = run_episode("hanoi", {"disks": 3}, condition=PLAN, model="scripted/noisy", model_args={"format": 1.0})
    assert rec.status == "format" and not rec.success
    last = rec.steps[-1]
    assert last.code == "format" and not last.committed and last.plans
    assert last.plans[-1].verdict.code == "format" and last.plans[-1].replies


def test_sudoku_the_planner_chooses_a_decidable_cell():
    sc = get_scenario("sudoku")
    for size in (4, 9):
        rec = run_episode("sudoku", {"size": size}, condition=PLAN, model="scripted/oracle", seed=1)
        assert rec.success and rec.plan_errors == 0
        inst = sc.generate(sc.Params(size=size), 1)
        grid = inst.puzzle
        planner = SudokuPlanner(sc, inst)
        for s in rec.steps:
            cell = s.plans[0].proposal
            index = (cell[0] - 1) * size + cell[1] - 1
            assert index in planner.decidable(grid) and s.label == f"row {cell[0]}, column {cell[1]}"
            grid = grid[:index] + (s.answer,) + grid[index + 1:]


def test_sudoku_judges_cells_that_cannot_be_decided_or_filled():
    sc = get_scenario("sudoku")
    inst = sc.generate(sc.Params(size=9), 0)
    planner = SudokuPlanner(sc, inst)
    d = planner.next(inst.puzzle, 0)
    good = planner.decidable(inst.puzzle)
    undecided = next(c for c, v in enumerate(inst.puzzle) if v == 0 and c not in good)
    filled = next(c for c, v in enumerate(inst.puzzle) if v != 0)
    rc = lambda cell: (cell // 9 + 1, cell % 9 + 1)  # noqa: E731
    v, followable = d.judge(rc(undecided))
    assert v.code == "plan" and "cannot be decided yet" in v.reason and followable
    v, followable = d.judge(rc(filled))
    assert v.code == "plan" and "already filled" in v.reason and not followable
    assert v.observed == list(rc(filled)) and v.expected == list(rc(good[0]))  # the record shows both cells
    v, followable = d.judge((10, 1))
    assert v.code == "plan" and "there is no row 10, column 1" in v.reason and not followable
    assert v.observed == [10, 1] and v.expected == list(rc(good[0]))  # out of range: the right cell still shown
    assert d.judge(rc(good[0]))[0].ok and d.right == rc(good[0])
    assert d.parse("I would pick Row 2, Column 3.") == (2, 3)
    assert d.parse("row 12 col 0") == (12, 0)  # read as written; judged out of range
    with pytest.raises(ParseError):
        d.parse("the middle one")
    rng = random.Random(0)
    assert all(not d.judge(d.corrupt(rng))[0].ok for _ in range(20))


def test_hanoi_judges_breakdowns_that_are_wrong_or_impossible():
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=4, start="classic"), 0)
    planner = HanoiPlanner(sc, inst)
    d = planner.next(HanoiState(inst.start, None), 0)
    right = [("tower", 3, 1), ("disk", 4, 0, 2), ("tower", 3, 2)]
    assert d.right == right and d.judge(right)[0].ok
    v, followable = d.judge([("tower", 3, 2), ("disk", 4, 0, 1), ("tower", 3, 1)])
    assert v.code == "plan" and followable and v.expected == [["tower", 3, 1], ["disk", 4, 0, 2], ["tower", 3, 2]]
    for bad, why in [([("tower", 4, 1)], "not smaller"), ([("tower", 2, 5)], "peg other than"),
                     ([("disk", 4, 1, 1)], "not a move"), ([("tower", 1, 1)] * 4, "at most 3")]:
        v, followable = d.judge(bad)
        assert v.code == "plan" and why in v.reason and not followable
        assert v.expected == [list(g) for g in right] and v.observed == [list(g) for g in bad]
    # a reply of ten subgoals is read up to the ninth: enough to say it has too many
    ten = parse_subgoals("\n".join(f"tower {i} to 1" for i in range(1, 11)))
    assert len(ten) == 9 and d.judge(ten)[0].reason == "a breakdown has at most 3 subgoals, got 9"
    rng = random.Random(0)
    assert all(d.corrupt(rng) != right for _ in range(20))


@pytest.mark.parametrize(
    "text, subgoals",
    [
        ("tower 3 to 1\ndisk 4 from 0 to 2\ntower 3 to 2", [("tower", 3, 1), ("disk", 4, 0, 2), ("tower", 3, 2)]),
        ("1. Tower 2 -> peg 0\n2. Disk 3 from peg 1 to peg 2.", [("tower", 2, 0), ("disk", 3, 1, 2)]),
        ("```\ntower 1 onto 2\n```", [("tower", 1, 2)]),
    ],
)
def test_subgoal_lines_are_read_from_what_models_write(text, subgoals):
    assert parse_subgoals(text) == subgoals


@pytest.mark.parametrize("text", ["", "move everything to peg 2", "tower x to 1", "disk 3 to 2"])
def test_a_reply_without_subgoals_is_a_parse_error(text):
    with pytest.raises(ParseError):
        parse_subgoals(text)


def test_planner_llm_on_a_scenario_without_one_is_one_line_and_exit_2():
    res = runner.invoke(app, ["run", "reversal", "-C", "planner=llm"])
    assert res.exit_code == 2
    assert "planner=llm is not available for scenario 'reversal'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    with pytest.raises(AgentloopError, match="not available"):
        run_episode("reversal", {}, condition=PLAN)


class ReadsThePrompt:
    """A stand-in for a real model (not simulated: no hint): it answers hanoi's planning and move
    questions from their text alone, as a perfect model would."""

    name, args, simulated = "test/reader", {}, False

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        assert hint is None
        q = messages[-1]["content"]
        pegs = [tuple(int(x) for x in re.findall(r"\d+", body)) for body in re.findall(r"peg \d: \[([^\]]*)\]", q)]
        if "Break this goal" in q:
            m = re.search(r"Goal: move disks? 1(?: to (\d+))? onto peg (\d)", q)
            k, t = int(m[1] or 1), int(m[2])
            p = next(i for i, peg in enumerate(pegs) if k in peg)
            text = f"tower {k - 1} to {t}" if p == t else f"tower {k - 1} to {3 - p - t}\ndisk {k} from {p} to {t}\ntower {k - 1} to {t}"
        else:
            m = re.search(r"subgoal: move disk (\d+) from peg (\d) to peg (\d)", q)
            text = f"[{m[1]}, {m[2]}, {m[3]}]"
        return Completion(text=text, tokens_in=len(q) // 4, tokens_out=len(text) // 4)

    async def acomplete(self, messages, **kw):
        return self.complete(messages, **kw)


def test_a_real_model_plans_through_the_ordinary_prompt_path():
    rec = run_episode("hanoi", {"disks": 4}, condition=PLAN, model=ReadsThePrompt(), seed=3)
    assert rec.success and rec.plans > 0 and rec.plan_errors == 0 and not rec.simulated
    prompt = rec.prompts[rec.steps[0].plans[0].prompt]
    assert prompt[0]["role"] == "system" and "Tower of Hanoi" in prompt[0]["content"]


def test_plans_survive_the_store(tmp_path):
    text = """
name = "plans"
seeds = 3
conditions = [{name = "tape", planner = "llm"}]
[[scenarios]]
name = "hanoi"
params = { disks = 3 }
[[models]]
name = "scripted/noisy"
args = { error = 0.2 }
"""
    run_experiment(parse_experiment(text), tmp_path, progress=False)
    with ResultsStore(tmp_path / "results.sqlite", create=False) as store:
        recs = [r for _, r in store.episodes()]
        key = store.episodes()[0][0]
        one = store.episode(key)
    assert all(r.condition == "tape+planner=llm" for r in recs)
    assert sum(r.plans for r in recs) == sum(len([p for p in s.plans if p.proposal is not None]) for r in recs for s in r.steps)
    assert all(s.plan_ok is not None for r in recs for s in r.steps)
    assert all(p.prompt in one.prompts for s in one.steps for p in s.plans)


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.text(max_size=400))
def test_planner_parsers_read_any_text_or_say_why(text):
    sc = get_scenario("sudoku")
    inst = sc.generate(sc.Params(size=4), 0)
    d = SudokuPlanner(sc, inst).next(inst.puzzle, 0)
    for parse in (parse_subgoals, d.parse):
        try:
            got = parse(text)
        except ParseError:
            continue
        assert got  # a non-empty proposal, which the judge then rules on
    try:
        d.judge(d.parse(text))
    except ParseError:
        pass


class Garbage(ReadsThePrompt):
    name = "test/garbage"

    def complete(self, messages, *, hint=None, sample=0, seed=None):
        return Completion(text="I cannot help with towers.", tokens_in=10, tokens_out=6, latency_s=0.25)


def test_a_real_model_that_cannot_plan_ends_as_format_with_its_replies():
    rec = run_episode("hanoi", {"disks": 3}, condition=PLAN, model=Garbage())
    assert rec.status == "format" and rec.calls == 3  # the question and two format re-asks
    (step,) = rec.steps
    assert step.code == "format" and [r.text for r in step.plans[0].replies] == ["I cannot help with towers."] * 3


PLAN_CASES = {
    "hanoi tape": dict(scenario="hanoi", params={"disks": 5}, condition=PLAN, model="scripted/noisy",
                       model_args={"error": 0.05}, seed=2),
    "hanoi verify": dict(scenario="hanoi", params={"disks": 5}, condition=PLAN_VERIFY, model="scripted/oracle",
                         model_args={"plan_error": 0.3}, seed=1),
    "sudoku verify": dict(scenario="sudoku", params={"size": 4}, condition=PLAN_VERIFY, model="scripted/noisy",
                          model_args={"error": 0.2}, seed=3),
    "wordsquare verify": dict(scenario="wordsquare", params={"size": 5}, condition=PLAN_VERIFY,
                              model="scripted/oracle", model_args={"plan_error": 0.5}, seed=3),
}


@pytest.mark.parametrize("case", PLAN_CASES)
@pytest.mark.parametrize("dies_at", [2, 3])
def test_a_planned_episode_killed_mid_run_resumes_to_the_uninterrupted_record(case, dies_at, tmp_path, monkeypatch):
    assert_killed_planned_episode_resumes_to_the_whole(PLAN_CASES[case], dies_at, tmp_path, monkeypatch)


def assert_killed_planned_episode_resumes_to_the_whole(kw, dies_at, tmp_path, monkeypatch):
    """Killed after `dies_at` journal writes and run again, a planned episode stores the record an
    uninterrupted run stores (test_planner_granularity uses it too)."""
    import agentloop.loop._graph as graph
    from test_resume import DiesAfter, Killed, Watched, run_into, stored

    monkeypatch.setattr(graph, "QUANTUM_S", 0.0)  # a checkpoint after every step
    whole = ResultsStore(tmp_path / "whole.sqlite")
    run_into(whole, "k", **kw)
    killed = ResultsStore(tmp_path / "killed.sqlite")
    with pytest.raises(Killed):
        run_into(killed, "k", journal=lambda j: DiesAfter(j, dies_at), **kw)
    assert killed.count() == 0
    (step,) = killed.con.execute("SELECT step FROM checkpoints WHERE episode_key='k'").fetchone()
    watched = []
    run_into(killed, "k", journal=lambda j: watched.append(Watched(j)) or watched[0], **kw)
    assert watched[0].first == step > 0  # it went on from its checkpoint, the planner's state with it
    assert stored(killed, "k") == stored(whole, "k")
    rec = json.loads(whole.con.execute("SELECT record FROM episodes").fetchone()[0])
    assert rec["plans"] > 0  # the counters are in what was compared


# --- word squares: the planner chooses the row ------------------------------------------------------
from agentloop.loop._planner import WordsquarePlanner  # noqa: E402
from agentloop.scenarios import wordsquare as ws  # noqa: E402


@pytest.mark.parametrize("size, symmetric", [(3, False), (3, True), (4, False), (4, True), (5, False)])
def test_wordsquare_the_planner_chooses_a_most_constrained_row(size, symmetric):
    sc = get_scenario("wordsquare")
    for seed in range(3):
        rec = run_episode("wordsquare", {"size": size, "symmetric": symmetric}, condition=PLAN,
                          model="scripted/oracle", seed=seed)
        assert rec.success and rec.plan_errors == 0 and rec.plans == size - 1
        inst = sc.generate(sc.Params(size=size, symmetric=symmetric), seed)
        planner, rows = WordsquarePlanner(sc, inst), (inst.first,)
        for s in rec.steps:
            fits = planner.open_rows(rows)
            r = s.plans[0].proposal - 1
            assert fits[r] == min(fits.values()) and s.label == f"row {r + 1}"
            rows = ws.place(rows, r, s.answer)
        assert list(rows) == rec.answer


def test_some_squares_are_written_out_of_order():
    orders = [[s.label for s in run_episode("wordsquare", {}, condition=PLAN, model="scripted/oracle", seed=seed).steps]
              for seed in range(6)]
    assert any(o != ["row 2", "row 3", "row 4"] for o in orders)


def _brute(n, symmetric, rows, at):
    """Words that fit row `at`, by trying every word (what `candidates` must give)."""
    out = []
    for w in ws.words(n):
        placed = ws.place(rows, at, w)
        if any(ws._dead(c, n) for c in ws.column_patterns(placed, n)):
            continue
        if symmetric and any(r and w[j] != r[at] for j, r in enumerate(rows)):
            continue
        out.append(w)
    return out


@pytest.mark.parametrize("symmetric", [False, True])
def test_candidates_of_a_row_written_out_of_order_are_the_words_that_fit(symmetric):
    rng = random.Random(7)
    for _ in range(30):
        first = rng.choice(ws.words(3))
        rows = (first,)
        at = 2
        assert list(ws.candidates(3, symmetric, rows, at)) == _brute(3, symmetric, rows, at)
        fits = list(ws.candidates(3, symmetric, rows, at))
        if fits:
            later = ws.place(rows, at, rng.choice(fits))
            assert list(ws.candidates(3, symmetric, later, 1)) == _brute(3, symmetric, later, 1)


def test_a_square_with_a_row_missing_in_the_middle_is_checked_and_shown_as_such():
    sc = get_scenario("wordsquare")
    inst = sc.generate(sc.Params(size=4), 0)
    sol = inst.solution
    state = ws.place((inst.first,), 3, sol[3])  # rows 1 and 4 written, 2 and 3 not
    assert state == (sol[0], "", "", sol[3])
    from agentloop.types import Step

    step = Step(1, (1,), "row 2")
    assert sc.check(inst, state, step, sol[1]).ok
    assert sc.solve(inst, state, step) == sol[1]
    assert "row 4 is already written" in sc.check(inst, state, Step(1, (3,), "row 4"), sol[3]).reason
    window = sc.window(inst, state, step)
    assert "row 2: ...." in window and f"row 4: {sol[3]}" in window and f"{sol[0][0]}..{sol[3][0]}" in window
    assert ws.completion(4, False, state) is not None
    assert not sc.is_goal(inst, state) and sc.is_goal(inst, ws.place(ws.place(state, 1, sol[1]), 2, sol[2]))


def test_wordsquare_planner_judges_rows():
    sc = get_scenario("wordsquare")
    inst = sc.generate(sc.Params(size=5), 1)
    planner = WordsquarePlanner(sc, inst)
    d = planner.next((inst.first,), 0)
    fits = planner.open_rows((inst.first,))
    assert d.judge(d.right)[0].ok
    assert d.judge(1)[0].code == "plan" and not d.judge(1)[1]  # given
    assert "there is no row 9" in d.judge(9)[0].reason
    loose = max(fits, key=fits.get) + 1
    if fits[loose - 1] > min(fits.values()):
        v, followable = d.judge(loose)
        assert v.code == "plan" and followable and "another row is more constrained" in v.reason
    assert d.parse("Row 3 looks best") == 3
    with pytest.raises(ParseError):
        d.parse("the third")


def test_a_noisy_wordsquare_planner_is_rechecked_under_verify():
    recs = [run_episode("wordsquare", {"size": 5}, condition=PLAN_VERIFY, model="scripted/oracle",
                        model_args={"plan_error": 0.5}, seed=s) for s in range(6)]
    assert sum(r.plan_errors for r in recs) > 0
    assert all(r.success for r in recs)  # a perfect worker, and every wrong plan re-planned


# --- the planner's edges: goals, pegs, cells, seeds, checkpoints --------------------------------
from types import SimpleNamespace  # noqa: E402

from agentloop.loop._planner import Decision, Leaf, plan_restore  # noqa: E402


def test_the_first_hanoi_question_is_the_whole_tower_onto_peg_2_held_as_a_tower_goal():
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=4, start="classic"), 0)
    planner = HanoiPlanner(sc, inst)
    d = planner.next(HanoiState(inst.start, None), 0)
    assert isinstance(d, Decision) and d.goal == "move disks 1 to 4 onto peg 2"
    # the pending goal, as a checkpoint would hold it: the form resume() reads and the judge renders
    assert planner.snapshot() == [["tower", 4, 2]]


def test_a_finished_subgoal_that_leaves_the_tower_unfinished_asks_the_planner_again():
    # A wrong plan under tape ("tower 1 to 2" for the whole tower) is followed; once it is done the
    # stack is empty but disks 2 and 3 are not on peg 2: the planner is asked again, no free move.
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=3, start="classic"), 0)
    planner = HanoiPlanner(sc, inst)
    planner.resume([["tower", 1, 2]])
    d = planner.next(HanoiState(((3, 2), (), (1,)), None), 1)
    assert isinstance(d, Decision) and d.goal == "move disks 1 to 3 onto peg 2"
    assert d.right == [("tower", 2, 1), ("disk", 3, 0, 2), ("tower", 2, 2)]
    # with every disk on peg 2 and nothing pending, a move still owed is left to the worker
    planner.resume([["tower", 1, 2]])
    leaf = planner.next(HanoiState(((), (), (3, 2, 1)), None), 5)
    assert isinstance(leaf, Leaf) and leaf.intent is None and leaf.plan_ok and leaf.step.label == "move 6"


def test_a_hanoi_breakdown_naming_peg_3_cannot_be_followed():
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=4, start="classic"), 0)
    d = HanoiPlanner(sc, inst).next(HanoiState(inst.start, None), 0)
    for bad, text in [([("tower", 2, 3)], "tower 2 to 3"), ([("disk", 4, 0, 3)], "disk 4 from 0 to 3")]:
        v, followable = d.judge(bad)
        assert v.code == "plan" and not followable
        assert v.reason == f"{text!r} names a peg other than 0, 1, 2"


def _decidable_by_definition(grid, n):
    """The empty cells whose digit follows from the grid (one candidate, or the only place in a
    row, column or box for a digit), else the most constrained ones: the rule, written out."""
    from agentloop.scenarios.sudoku import _box, candidates

    b = _box(n)
    empty = [c for c, v in enumerate(grid) if v == 0]
    cands = {c: set(candidates(grid, n, c)) for c in empty}

    def units(cell):
        r, c = divmod(cell, n)
        return [[r * n + j for j in range(n)], [i * n + c for i in range(n)],
                [(r - r % b + i) * n + c - c % b + j for i in range(b) for j in range(b)]]

    found = {c for c in empty if len(cands[c]) == 1 or any(
        all(d not in cands.get(o, ()) for o in unit if o != c) for unit in units(c) for d in cands[c])}
    if not found and empty:
        least = min(len(cands[c]) for c in empty)
        found = {c for c in empty if len(cands[c]) == least}
    return sorted(found)


@pytest.mark.parametrize("size", [4, 9])
def test_sudoku_decidable_cells_are_those_the_rule_decides_including_by_box(size):
    sc = get_scenario("sudoku")
    checked = 0
    for seed in range(3):
        inst = sc.generate(sc.Params(size=size), seed)
        planner, grid = SudokuPlanner(sc, inst), list(inst.puzzle)
        empty = [c for c, v in enumerate(grid) if v == 0]
        for cell in empty[:: max(1, len(empty) // 6)]:  # grids along the way to the solution
            assert planner.decidable(tuple(grid)) == _decidable_by_definition(grid, size)
            grid[cell] = inst.solution[cell]
            checked += 1
    assert checked >= 12


def test_each_plan_request_is_seeded_by_its_decision_as_a_negative_step():
    from agentloop.models import get_model
    from agentloop.models._protocol import request_seed

    class Seeds:
        def __init__(self, inner):
            self.inner, self.name, self.args, self.simulated, self.plan = inner, inner.name, inner.args, True, []

        def complete(self, messages, *, hint=None, sample=0, seed=None):
            if hint is not None and hint.role == "plan":
                self.plan.append((hint.key, sample, seed))
            return self.inner.complete(messages, hint=hint, sample=sample, seed=seed)

    model = Seeds(get_model("scripted/oracle", plan_error=0.4, seed=1))
    rec = run_episode("hanoi", {"disks": 4, "start": "classic"}, condition=PLAN_VERIFY, model=model, seed=0, key="ep")
    assert rec.plan_errors > 0  # some decisions were asked again
    attempts = set()
    for key, sample, seed in model.plan:
        _, role, decision, attempt = key.rsplit(":", 3)
        assert role == "plan" and seed == request_seed("ep", -int(decision), int(attempt), sample)
        attempts.add(int(attempt))
    assert len(model.plan) == rec.plans and attempts >= {0, 1}


def test_restoring_a_planned_episode_from_a_checkpoint_without_planner_state_is_a_value_error():
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=3), 0)
    with pytest.raises(ValueError) as exc:
        plan_restore(SimpleNamespace(planner=HanoiPlanner(sc, inst)), None)
    assert str(exc.value) == "the checkpoint has no planner state"
    plan_restore(SimpleNamespace(planner=None), None)  # the fixed planner has nothing to restore


def test_a_chosen_cell_or_row_survives_snapshot_and_resume():
    sc = get_scenario("sudoku")
    inst = sc.generate(sc.Params(size=4), 0)
    for right in (True, False):
        before = SudokuPlanner(sc, inst)
        before.follow((2, 3), right)
        after = SudokuPlanner(sc, inst)
        after.resume(json.loads(json.dumps(before.snapshot())))
        leaf = after.next(inst.puzzle, 5)
        assert (leaf.step.index, leaf.step.key, leaf.step.label, leaf.plan_ok) == (5, (6,), "row 2, column 3", right)
    sc = get_scenario("wordsquare")
    inst = sc.generate(sc.Params(size=4), 0)
    for right in (True, False):
        before = WordsquarePlanner(sc, inst)
        before.follow(3, right)
        after = WordsquarePlanner(sc, inst)
        after.resume(json.loads(json.dumps(before.snapshot())))
        leaf = after.next((inst.first,), 1)
        assert (leaf.step.key, leaf.step.label, leaf.plan_ok) == ((2,), "row 3", right)


def test_an_unreadable_row_choice_is_format_with_the_reply_quoted_to_40_characters():
    from fakes import Scripted

    text = "The most constrained one is clearly the second of them, I think."
    rec = run_episode("wordsquare", {"size": 4}, condition=PLAN, model=Scripted([text]))
    assert rec.status == "format"
    (plan,) = rec.steps[-1].plans
    assert plan.verdict.reason == f"could not read a plan (expected `row R`, got {text[:40]!r})"
    assert plan.verdict.observed == text  # the reply itself, for the record


def test_an_unreadable_plan_shows_its_reply_cut_to_200_characters_and_an_empty_one_as_none():
    from fakes import Scripted

    long = "I have thought about which row is most constrained, " * 6  # no `row R` anywhere
    assert len(long) > 200
    rec = run_episode("wordsquare", {"size": 4}, condition=PLAN, model=Scripted([long]))
    (plan,) = rec.steps[-1].plans
    assert (rec.status, plan.verdict.code, plan.verdict.observed) == ("format", "format", long[:200])
    rec = run_episode("wordsquare", {"size": 4}, condition=PLAN, model=Scripted([""]))
    (plan,) = rec.steps[-1].plans
    assert (rec.status, plan.verdict.code, plan.verdict.observed) == ("format", "format", None)


def test_a_failed_plan_records_the_calls_tokens_and_latency_it_took():
    rec = run_episode("hanoi", {"disks": 3}, condition=PLAN, model=Garbage())
    (step,) = rec.steps
    assert (step.calls, step.prompt_tokens, step.tokens_out, step.latency_s) == (3, 10, 18, 0.75)
    assert (step.label, step.samples, step.plan_ok) == ("plan for step 1", 0, False)


class ShortPlanState:
    """A journal whose checkpoint holds a planner state cut short (a chosen cell without its verdict)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def load(self):
        cp = self.inner.load()
        if cp is not None:
            cp["plan"]["state"] = [7]
        return cp

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("case", ["sudoku verify", "wordsquare verify"])
def test_a_checkpoint_whose_planner_state_is_cut_short_starts_the_episode_over(case, tmp_path, monkeypatch):
    import agentloop.loop._graph as graph
    from test_resume import DiesAfter, Killed, run_into, stored

    monkeypatch.setattr(graph, "QUANTUM_S", 0.0)
    kw = PLAN_CASES[case]
    whole = ResultsStore(tmp_path / "whole.sqlite")
    run_into(whole, "k", **kw)
    killed = ResultsStore(tmp_path / "killed.sqlite")
    with pytest.raises(Killed):
        run_into(killed, "k", journal=lambda j: DiesAfter(j, 3), **kw)
    run_into(killed, "k", journal=ShortPlanState, **kw)  # unreadable: not resumed, and no crash
    assert stored(killed, "k") == stored(whole, "k")


# --- the planner's questions, word for word; sudoku and word-square corner cases -------------------
def test_each_planners_question_is_word_for_word_the_same():
    sc = get_scenario("hanoi")
    inst = sc.generate(sc.Params(disks=3, start="classic"), 0)
    assert HanoiPlanner(sc, inst).next(HanoiState(inst.start, None), 0).question == (
        "Plan the moves; do not make them. Pegs (bottom to top): peg 0: [3, 2, 1] | peg 1: [] | peg 2: [].\n"
        "Goal: move disks 1 to 3 onto peg 2.\nBreak this goal into at most 3 smaller subgoals, in the order they "
        "are done. Write one subgoal per line, either `tower K to P` (move disks 1 to K, as a tower, onto peg P; "
        "K below 3) or `disk D from A to B` (move the single disk D from peg A to peg B). Answer with the "
        "subgoal lines only."
    )
    sc = get_scenario("sudoku")
    inst = sc.generate(sc.Params(size=4), 0)
    assert SudokuPlanner(sc, inst).next(inst.puzzle, 0).question == (
        "The grid now:\n. . | . .\n1 4 | . 2\n. 1 | . 3\n3 2 | . 1\nWhich empty cell should be filled next? "
        "Choose one whose digit can already be decided from the grid as it is (it has only one possible digit, "
        "or it is the only place in its row, column or box for some digit). Do not give the digit. Answer with "
        "`row R, column C` only."
    )
    sc = get_scenario("wordsquare")
    inst = sc.generate(sc.Params(size=4), 0)
    rows = ws.place((inst.first,), 3, inst.solution[3])  # rows 1 and 4 written: a gap is shown as dots
    assert WordsquarePlanner(sc, inst).next(rows, 0).question == (
        "The square so far (. is a letter of a row not written yet):\nrow 1: mire\nrow 2: ....\nrow 3: ....\n"
        "row 4: ants\nWhich row should be written next? Choose the most constrained one: the row that the fewest "
        "words fit, given the letters the columns already have. Do not write the word. Answer with `row R` only."
    )


def _sudoku_decision(grid):
    sc = get_scenario("sudoku")
    planner = SudokuPlanner(sc, sc.generate(sc.Params(size=4), 0))  # only the size is the instance's
    return planner, planner.next(tuple(grid), 0)


def test_sudoku_with_no_cell_decidable_the_most_constrained_cells_are_right():
    # one given digit: its row, column and box keep 3 candidates, every other cell 4, and no digit
    # has a single place in any unit
    grid = [1] + [0] * 15
    planner, d = _sudoku_decision(grid)
    assert planner.decidable(tuple(grid)) == [1, 2, 3, 4, 5, 8, 12]
    assert d.right == (1, 2) and d.judge((2, 2))[0].ok
    v, followable = d.judge((2, 3))
    assert (v.code, v.reason, v.expected, v.observed, followable) == (
        "plan", "row 2, column 3 cannot be decided yet (4 digits are still possible there)", [1, 2], [2, 3], True)
    assert planner.decidable((0,) * 16) == list(range(16))  # an empty grid: every cell alike


def test_a_corrupt_sudoku_cell_is_an_empty_cell_that_cannot_be_decided_yet():
    grid = [1] + [0] * 15
    _, d = _sudoku_decision(grid)
    rng = random.Random(0)
    seen = set()
    for _ in range(60):
        r, c = d.corrupt(rng)
        v, followable = d.judge((r, c))
        assert grid[(r - 1) * 4 + c - 1] == 0 and not v.ok and followable and "cannot be decided yet" in v.reason
        seen.add((r - 1) * 4 + c - 1)
    assert seen == {6, 7, 9, 10, 11, 13, 14, 15}  # every undecidable cell, and only those


def test_a_corrupt_row_choice_is_a_less_constrained_row_and_with_one_row_left_row_1():
    sc = get_scenario("wordsquare")
    inst = sc.generate(sc.Params(size=4), 0)
    d = WordsquarePlanner(sc, inst).next((inst.first,), 0)  # 35 words fit row 2, 400 or more rows 3 and 4
    assert d.right == 2
    rng = random.Random(0)
    seen = set()
    for _ in range(30):
        r = d.corrupt(rng)
        v, followable = d.judge(r)
        assert not v.ok and followable and v.reason == f"400 or more words fit row {r}; another row is more constrained"
        seen.add(r)
    assert seen == {3, 4}
    # only row 2 of a 3x3 square left: the corrupt choice is row 1, which is given and cannot be followed
    inst = sc.generate(sc.Params(size=3), 0)
    d = WordsquarePlanner(sc, inst).next(ws.place((inst.first,), 2, inst.solution[2]), 0)
    assert d.right == 2 and d.corrupt(random.Random(0)) == 1
    v, followable = d.judge(1)
    assert (v.reason, v.expected, v.observed, followable) == ("row 1 is already written", 2, 1, False)


def test_a_row_outside_the_square_is_rejected_with_the_right_row_expected():
    sc = get_scenario("wordsquare")
    inst = sc.generate(sc.Params(size=4), 0)
    d = WordsquarePlanner(sc, inst).next((inst.first,), 0)
    for r in (0, 5):
        v, followable = d.judge(r)
        assert (v.code, v.reason, v.expected, v.observed, followable) == (
            "plan", f"there is no row {r} (rows are 1 to 4)", 2, r, False)


def test_a_row_choice_is_read_from_the_first_2000_characters_only():
    sc = get_scenario("wordsquare")
    inst = sc.generate(sc.Params(size=4), 0)
    d = WordsquarePlanner(sc, inst).next((inst.first,), 0)
    assert d.parse("x" * 1994 + " row 3") == 3  # "row 3" ends at character 2000
    with pytest.raises(ParseError):
        d.parse("x" * 1995 + " row 3")  # its number is character 2001


def test_a_planned_episode_reads_back_from_the_store_with_its_plans(tmp_path):
    rec = run_episode("hanoi", {"disks": 3, "start": "classic"}, condition=get_condition("tape", planner="llm"),
                      model="scripted/noisy", model_args={"error": 0.2, "plan_error": 0.3}, seed=4)
    assert any(s.plans for s in rec.steps) and any(s.attempts for s in rec.steps)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.add_episode("k", rec, store.begin_run({}, {}))
        assert store.episode("k") == rec  # each step's attempts, proposals and plan verdict
