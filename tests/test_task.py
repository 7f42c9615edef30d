"""A task of one's own: the Scenario base's defaults, and the clear errors where one cannot do."""

from __future__ import annotations

import random

import pytest

from agentloop import AgentloopError, ParseError, Scenario, Step, run_episode
from agentloop.scenarios import Instance, Params, get_scenario, list_scenarios, parse_params
from agentloop.scenarios._base import _defines
from plugin_pkg.install import fresh_registries  # noqa: F401  (fixture)

SUPPORTS = ["tape", "vote", "verify", "stepwise", "full"]


class Tally(Scenario):
    """Keep a running total. Add the number you are given to the total and reply with the new
    total only."""

    def initial_state(self, inst):
        return 0

    def steps(self, inst):
        rng = random.Random(inst.seed)
        return [Step(i, (rng.randint(1, 9),), f"add {i}") for i in range(6)]

    def solve(self, inst, state, step):
        return state + step.key[0]

    def apply(self, inst, state, step, answer):
        return answer

    def step_prompt(self, inst, step, window):
        return f"Total so far: {window}. Add {step.key[0]}." if window is not None else f"Add {step.key[0]}."

    def parse(self, text, step):
        if not text.strip().isdigit():
            raise ParseError(f"not a number: {text[:20]!r}")
        return int(text)


class NoisyTally(Tally):
    def corrupt(self, inst, state, step, answer, rng):
        return answer + rng.choice((-1, 1))


# --- defaults ------------------------------------------------------------------------------------


def test_name_summary_and_rules_come_from_the_class():
    sc = Tally()
    assert sc.name == "tally" and sc.summary == "Keep a running total. Add the number you are given to the total and reply with the new"
    assert sc.rules(None).startswith("Keep a running total.") and "\n" in sc.rules(None)  # the whole docstring
    assert NoisyTally.name == "noisytally" and NoisyTally.summary == Tally.summary


def test_a_class_without_docstring_still_has_rules():
    bare = type("Bare", (Tally,), {})
    assert bare().rules(None) == Tally.summary  # the summary it inherited
    assert type("Bare2", (Tally,), {"summary": ""})().rules(None) == "Task bare2: answer each question exactly as asked."


def test_params_default_to_none_and_refuse_unknown_keys():
    sc = Tally()
    assert parse_params(sc, {}) == Params()
    with pytest.raises(AgentloopError, match="unknown parameter 'size'"):
        parse_params(sc, {"size": 3})


def test_the_default_instance_is_the_params_and_the_seed():
    inst = Tally().generate(Params(), 5)
    assert inst == Instance(Params(), 5) and inst == Tally().generate(Params(), 5)


def test_the_window_initial_and_json_views_write_the_state_out():
    class Pairs(Tally):
        def initial_state(self, inst):
            return (1, "a")

    sc, inst = Pairs(), Pairs().generate(Params(), 0)
    assert sc.window(inst, (1, "a"), None) == '[1, "a"]' and sc.window(inst, "text", None) == "text"
    assert sc.show_initial(inst) == '[1, "a"]' and sc.initial_json(inst) == [1, "a"]
    assert sc.result_json(inst, (2, "b"), []) == [2, "b"]
    assert sc.format_answer(12) == "12" and sc.to_json_answer(12) == 12


def test_the_default_views_write_letters_beyond_ascii_as_they_are_not_as_escapes():
    sc, inst = Tally(), Tally().generate(Params(), 0)
    assert sc.window(inst, {"name": "Zoë", "path": ("é", 1)}, None) == '{"name": "Zoë", "path": ["é", 1]}'


def test_the_goal_and_expected_result_default_to_the_simulators_final_state():
    sc = Tally()
    inst = sc.generate(Params(), 3)
    total = sum(s.key[0] for s in sc.steps(inst))
    assert sc.true_final_state(inst) == total and sc.expected_json(inst) == total
    assert sc.is_goal(inst, total) and not sc.is_goal(inst, total + 1)


# --- running -------------------------------------------------------------------------------------


@pytest.mark.parametrize("condition", SUPPORTS)
def test_a_short_task_runs_under_every_stepwise_condition(condition):
    rec = run_episode(Tally(), condition=condition, model="scripted/oracle", seed=1)
    assert rec.status == "solved" and rec.steps_correct == 6 and rec.answer == rec.expected
    assert rec.scenario == "tally" and rec.params == {}


@pytest.mark.parametrize("condition", ["tape", "vote", "verify"])
def test_with_a_corrupter_it_runs_on_a_model_that_makes_mistakes(condition):
    recs = [run_episode(NoisyTally(), condition=condition, model="scripted/noisy", model_args={"error": 0.2}, seed=s) for s in range(6)]
    slipped = [st for r in recs for st in r.steps if not st.first_ok or len(st.votes or {}) > 1]
    assert slipped  # the corrupter was used
    solved = sum(r.success for r in recs)
    assert solved == 6 if condition != "tape" else solved < 6  # vote and verify repair the slips


def test_a_simulated_model_that_errs_needs_a_corrupter_and_says_so():
    with pytest.raises(AgentloopError) as err:
        for seed in range(10):
            run_episode(Tally(), condition="tape", model="scripted/noisy", model_args={"error": 0.5}, seed=seed)
    msg = str(err.value)
    assert msg.startswith("scenario 'tally' does not define corrupt:") and "scripted/oracle" in msg and "\n" not in msg


def test_oneshot_needs_its_optional_parts_and_says_which():
    with pytest.raises(AgentloopError) as err:
        run_episode(Tally(), condition="oneshot", model="scripted/oracle")
    assert str(err.value) == (
        "scenario 'tally' does not define oneshot_format: "
        "the oneshot condition needs oneshot_format, parse_trajectory and format_trajectory"
    )


def test_oneshot_refused_on_the_command_line_in_one_line(fresh_registries):
    from typer.testing import CliRunner

    from agentloop.cli import app

    res = CliRunner().invoke(app, ["run", "test_task:Tally", "--condition", "oneshot"])
    assert res.exit_code == 2 and "does not define oneshot_format" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_task_with_only_a_checker_needs_no_solve():
    class Checked(Scenario):
        checker = "rules"

        def initial_state(self, inst): return 0
        def steps(self, inst): return [Step(0, (0,), "one")]
        def apply(self, inst, state, step, answer): return answer
        def step_prompt(self, inst, step, window): return "Any even number."
        def parse(self, text, step): return int(text)

        def check(self, inst, state, step, answer):
            from agentloop import Verdict

            return Verdict.accept(answer) if answer % 2 == 0 else Verdict.reject("wrong", "odd")

    assert Checked.missing_methods() == ["is_goal (without solve)"]  # nothing to compare the end with

    class Done(Checked):
        def is_goal(self, inst, state):
            return state % 2 == 0

    assert Done.missing_methods() == []
    sc = Done()
    assert sc.check(None, 0, None, 4).ok and not sc.check(None, 0, None, 3).ok
    assert sc.expected_json(None) is None  # no right answer is known
    with pytest.raises(AgentloopError, match="does not define solve: the right answer to a step"):
        sc.solve(None, 0, None)


# --- the ten built-ins are untouched by the defaults ------------------------------------------------

OPTIONAL = ["solve", "corrupt", "oneshot_format", "parse_trajectory", "format_trajectory", "rules", "show_initial",
            "window", "is_goal", "initial_json", "result_json", "expected_json", "format_answer", "generate"]


@pytest.mark.parametrize("name", list_scenarios()[:10])
def test_builtin_scenarios_define_every_optional_part(name):
    cls = type(get_scenario(name))
    assert [m for m in OPTIONAL if not _defines(cls, m)] == []
    assert cls.Params is not Params and cls.summary and cls.missing_methods() == []
