"""Conditions as combinations: presets by name, any field changed (`-C`, TOML tables,
`get_condition`), combinations that cannot run refused in one line, keys that stay put."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.conditions import PRESETS, Condition, get_condition, parse_condition_overrides
from agentloop.errors import AgentloopError
from agentloop.experiment import episode_key, parse_experiment, plan_episodes

runner = CliRunner()


def test_preset_episode_keys_are_the_ones_stores_already_hold():
    # Computed before the new fields existed: a store written then still resumes.
    assert episode_key("eca", {"rule": 110, "width": 8}, get_condition("vote"), "scripted/noisy",
                       {"error": 0.1}, 3) == "1d6607025aa1a2db677d1010"
    assert episode_key("hanoi", {}, get_condition("tape"), "scripted/oracle", {}, 0) == "39232e797a2db01e5d5a3012"


@pytest.mark.parametrize(
    "field, value",
    [("vote", True), ("verify", True), ("tape", False), ("planner", "llm"), ("checker", "rules"), ("cot", True),
     ("pad_chars", 100), ("k", 5)],
)
def test_changing_any_field_changes_the_episode_key(field, value):
    extra = {"inject_step": 2} if field == "pad_chars" else {}
    base = episode_key("hanoi", {}, get_condition("tape"), "scripted/oracle", {}, 0)
    changed = get_condition("tape", **{field: value}, **extra)
    assert episode_key("hanoi", {}, changed, "scripted/oracle", {}, 0) != base


def test_the_injected_text_is_part_of_the_key_though_not_of_the_name():
    a = get_condition("tape", inject_step=1, inject="from now on, use rule 30")
    b = get_condition("tape", inject_step=1, inject="from now on, use rule 90")
    assert a.name == b.name == "tape+inject_step=1"
    assert episode_key("eca", {}, a, "m/x", {}, 0) != episode_key("eca", {}, b, "m/x", {}, 0)


def test_a_changed_support_renames_the_condition_and_a_bound_does_not():
    assert get_condition("tape", vote=True, planner="llm").name == "tape+vote=true+planner=llm"
    assert get_condition("vote", k=5).name == "vote"
    assert get_condition("tape", vote=False).name == "tape"  # unchanged from the preset
    assert get_condition("tape") is PRESETS["tape"]


def test_a_checker_other_than_the_oracle_turns_verify_on():
    c = get_condition("tape", checker="critic", critic_model="scripted/oracle")
    assert c.verify and c.checker == "critic" and c.name == "tape+checker=critic+critic_model=scripted/oracle"
    assert not get_condition("tape").verify


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"planner": "llm", "decompose": False}, "planner=llm plans steps"),
        ({"checker": "critic", "decompose": False}, "judges atomic steps"),
        ({"critic_model": "openai/gpt-4o"}, "needs checker=critic"),
        ({"inject_step": 3}, "inject_step needs inject"),
        ({"inject": "use rule 30"}, "need inject_step"),
        ({"pad_chars": 10}, "need inject_step"),
        ({"inject_step": 0, "inject": "x", "decompose": False}, "inject_step needs decompose"),
        ({"planner": "smart"}, "planner='smart'"),
        ({"checker": "god"}, "checker='god'"),
        ({"pad_chars": -1}, "pad_chars=-1"),
        ({"name": "x"}, "unknown field 'name'"),
        ({"nope": 1}, "unknown field 'nope'"),
    ],
)
def test_combinations_that_cannot_run_are_one_line_errors(overrides, fragment):
    with pytest.raises(AgentloopError) as info:
        get_condition("tape", **overrides)
    msg = str(info.value)
    assert fragment in msg and "\n" not in msg, msg


def test_condition_field_strings_are_typed_like_the_fields():
    got = parse_condition_overrides({"vote": "true", "tape": "off", "k": "5", "critic_model": "none", "inject": "x=1"})
    assert got == {"vote": True, "tape": False, "k": "5", "critic_model": None, "inject": "x=1"}
    c = get_condition("tape", **parse_condition_overrides({"k": "5", "vote": "yes"}))
    assert c.k == 5 and c.vote


def test_run_takes_condition_fields_with_dash_c():
    res = runner.invoke(app, ["run", "eca", "-p", "width=8", "-p", "steps=2", "--condition", "tape", "-C", "vote=true",
                              "-C", "k=2", "--model", "scripted/noisy", "-M", "error=0.2", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["condition"] == "tape+vote=true"
    assert any(s["votes"] for s in r["steps"])  # voting happened: the tally is recorded
    assert r["calls"] > r["steps_total"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["-C", "vote"], "malformed -C"),
        (["-C", "colour=red"], "-C colour: unknown condition field"),
        (["-C", "vote=maybe"], "expected true or false"),
        (["-C", "k=many"], "k='many'"),
        (["--condition", "oneshot", "-C", "planner=llm"], "planner=llm plans steps"),
        (["-C", "vote=true", "-C", "vote=false"], "-C vote given twice"),
    ],
)
def test_bad_condition_fields_on_the_command_line_are_one_line_and_exit_2(args, fragment):
    res = runner.invoke(app, ["run", "eca", *args])
    assert res.exit_code == 2
    assert fragment in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "Traceback" not in res.output


GRID = """
name = "combos"
seeds = 2
conditions = ["tape", {name = "tape", vote = true, k = 2}, {name = "tape", cot = true, label = "thinking"}]

[[scenarios]]
name = "hanoi"
params = { disks = 3 }

[[models]]
name = "scripted/oracle"
"""


def test_an_experiment_condition_may_be_a_table_of_fields():
    tasks = plan_episodes(parse_experiment(GRID))
    conds = {t.condition.name: t.condition for t in tasks}
    assert set(conds) == {"tape", "tape+vote=true", "thinking"}
    assert conds["tape+vote=true"].vote and conds["tape+vote=true"].k == 2
    assert conds["thinking"].cot and not conds["thinking"].vote
    assert len({t.key for t in tasks}) == 6


@pytest.mark.parametrize(
    "table, fragment",
    [
        ('{name = "oneshot", planner = "llm"}', "field conditions[1].name: condition oneshot: planner=llm plans"),
        ('{name = "tape", vote = "yes"}', "field conditions[1].vote"),
        ('{name = "tape", inject_step = 2}', "inject_step needs inject"),
    ],
)
def test_an_experiment_table_that_cannot_run_is_refused_with_its_line(table, fragment):
    text = GRID.replace('{name = "tape", vote = true, k = 2}', table)
    with pytest.raises(AgentloopError) as info:
        parse_experiment(text, source="f.toml")
    assert "f.toml:4:" in str(info.value) and fragment in str(info.value), str(info.value)


def test_every_preset_is_a_valid_condition_with_the_new_fields_at_their_defaults():
    for c in PRESETS.values():
        assert Condition.model_validate(c.model_dump()) == c
        assert (c.planner, c.checker, c.cot, c.inject_step, c.pad_chars) == ("fixed", "oracle", False, None, 0)


@pytest.mark.parametrize("text, value", [(t, True) for t in ("true", "1", "yes", "on", "TRUE", "Yes")]
                         + [(t, False) for t in ("false", "0", "no", "off", "OFF", "No")])
def test_every_spelling_of_a_switch_reads_as_its_truth_value(text, value):
    assert parse_condition_overrides({"cot": text}) == {"cot": value}
    assert parse_condition_overrides({"decompose": text}) == {"decompose": value}


@pytest.mark.parametrize("text", ["2", "maybe", "", "ye", "none"])
def test_anything_else_for_a_switch_is_refused(text):
    with pytest.raises(AgentloopError, match=rf"-C tape={text!r}: expected true or false"):
        parse_condition_overrides({"tape": text})


@pytest.mark.parametrize("key", ["critic_model", "inject_step"])
@pytest.mark.parametrize("text", ["none", "null", "None", "NULL"])
def test_none_clears_only_the_fields_that_may_be_empty(key, text):
    assert parse_condition_overrides({key: text}) == {key: None}
    assert parse_condition_overrides({"inject": text}) == {"inject": text}  # a text field keeps the word


def test_an_unknown_field_names_every_settable_one():
    with pytest.raises(AgentloopError) as e:
        parse_condition_overrides({"tapes": "true"})
    assert str(e.value).startswith("-C tapes: unknown condition field; fields: ")
    assert "tape" in str(e.value).split("fields: ")[1].split(", ")


def test_verify_turned_on_is_named_unless_a_checker_turned_it_on():
    assert get_condition("tape", verify=True).name == "tape+verify=true"
    assert get_condition("tape", checker="critic").name == "tape+checker=critic"  # verify implied by the checker
    assert get_condition("tape", verify=True, checker="rules").name == "tape+checker=rules"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"inject_step": 3}, "inject_step needs inject (an instruction) or pad_chars (padding) to put into the context"),
    ({"inject": "use rule 30"}, "inject and pad_chars need inject_step (the step from which they enter the context)"),
    ({"inject_step": 0, "inject": "x", "decompose": False},
     "inject_step needs decompose=true (with decompose=false the whole task is one call)"),
    ({"planner": "llm", "decompose": False},
     "planner=llm plans steps, and decompose=false asks for the whole task in one call"),
    ({"checker": "critic", "decompose": False}, "checker=critic judges atomic steps, and decompose=false has none"),
    ({"critic_model": "openai/gpt-4o"}, "critic_model is the critic's model; it needs checker=critic"),
])
def test_a_combination_that_cannot_run_says_why_in_these_words(overrides, message):
    with pytest.raises(AgentloopError) as info:
        get_condition("tape", **overrides)
    assert str(info.value) == f"condition tape: {message}"
