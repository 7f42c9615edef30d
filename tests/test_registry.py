"""The open registries: register_scenario / register_provider, import paths, entry points."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from agentloop import AgentloopError, Scenario, Step, get_model, get_scenario, list_scenarios, register_provider, register_scenario
from agentloop._plugins import Registry
from agentloop.models.scripted import ScriptedModel
from plugin_pkg.install import fresh_registries, plugins, site  # noqa: F401  (fixtures)

BUILTIN = ["eca", "life", "hanoi", "ab", "multiply", "ledger", "reversal", "wordsquare", "sudoku", "wordle"]

pytestmark = pytest.mark.usefixtures("fresh_registries")


class Count(Scenario):
    """Count up: each step adds one to the number."""

    def initial_state(self, inst):
        return 0

    def steps(self, inst):
        return [Step(i, (i,), f"step {i + 1}") for i in range(3)]

    def solve(self, inst, state, step):
        return state + 1

    def apply(self, inst, state, step, answer):
        return answer

    def step_prompt(self, inst, step, window):
        return f"The number is {window}. Add one."

    def parse(self, text, step):
        return int(text)


# --- scenarios -------------------------------------------------------------------------------


def test_builtins_are_listed_first_in_their_order():
    assert list_scenarios()[:10] == BUILTIN


def test_a_registered_class_is_found_by_its_name_and_listed():
    assert register_scenario(Count) is Count  # usable as a decorator
    assert "count" in list_scenarios()
    sc = get_scenario("count")
    assert isinstance(sc, Count) and sc.name == "count"


def test_a_class_registered_under_another_name_runs_under_that_name():
    register_scenario(Count, name="counter")
    assert get_scenario("counter").name == "counter"  # records say the name it was run by
    assert Count.name == "count"  # the class itself is untouched


def test_an_instance_is_returned_as_registered():
    sc = Count()
    register_scenario(sc, name="mine")
    assert get_scenario("mine") is sc


def test_registering_a_name_again_replaces_it():
    register_scenario(Count, name="x")
    other = type("Other", (Count,), {})
    register_scenario(other, name="x")
    assert type(get_scenario("x")) is other


@pytest.mark.parametrize("name", ["eca", "wordle"])
def test_builtin_names_cannot_be_replaced(name):
    with pytest.raises(AgentloopError, match="built in"):
        register_scenario(Count, name=name)
    assert type(get_scenario(name)).__module__.startswith("agentloop.scenarios.")


@pytest.mark.parametrize("name", ["", "a/b", "m:C"])
def test_scenario_names_are_plain_words(name):
    with pytest.raises(AgentloopError, match="plain words"):
        register_scenario(Count, name=name)


def test_what_is_not_a_scenario_is_refused_when_registered():
    with pytest.raises(AgentloopError, match="not a subclass of agentloop.Scenario"):
        register_scenario(dict, name="d")  # type: ignore[arg-type]


def test_an_incomplete_scenario_is_refused_naming_what_it_lacks():
    class NoParse(Scenario):
        def initial_state(self, inst): ...
        def steps(self, inst): ...
        def apply(self, inst, state, step, answer): ...
        def step_prompt(self, inst, step, window): ...

    with pytest.raises(AgentloopError, match=r"does not define parse, solve or check$"):
        register_scenario(NoParse)


def test_an_import_path_names_a_scenario_without_registering_it():
    sc = get_scenario("agentloop.scenarios.eca:Eca")
    assert sc.name == "eca" and "agentloop.scenarios.eca:Eca" not in list_scenarios()


def test_an_import_path_can_be_registered_and_is_imported_only_when_used(tmp_path, monkeypatch):
    (tmp_path / "late_task.py").write_text(_task_module("Late"))
    monkeypatch.syspath_prepend(str(tmp_path))
    register_scenario("late_task:Late", name="late")
    assert "late_task" not in sys.modules
    assert get_scenario("late").name == "late" and "late_task" in sys.modules


def test_an_import_path_needs_a_name_to_be_registered_under():
    with pytest.raises(AgentloopError, match="give the name"):
        register_scenario("agentloop.scenarios.eca:Eca")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("nosuchmodule_xyz:Task", "ModuleNotFoundError: No module named 'nosuchmodule_xyz'"),
        ("agentloop.scenarios.eca:Nope", "agentloop.scenarios.eca has no attribute 'Nope'"),
        ("agentloop.scenarios.eca:next_row", "not a subclass of agentloop.Scenario"),
        ("agentloop.scenarios.eca:", "not an import path"),
    ],
)
def test_a_bad_import_path_is_one_line(name, fragment):
    with pytest.raises(AgentloopError) as err:
        get_scenario(name)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_a_module_that_fails_on_import_is_one_line_naming_the_error(tmp_path, monkeypatch):
    (tmp_path / "broken_task.py").write_text("raise RuntimeError('no config file\\nsecond line')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AgentloopError, match=r"^cannot import scenario 'broken_task:T': RuntimeError: no config file$"):
        get_scenario("broken_task:T")


def test_an_import_path_is_found_in_the_current_directory_as_python_m_would(tmp_path, monkeypatch):
    # The `agentloop` console script's search path has neither '' nor the current directory.
    (tmp_path / "here_task.py").write_text(_task_module("Here"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path), os.getcwd())])
    assert get_scenario("here_task:Here").name == "here"
    assert sys.path[-1] == str(tmp_path)  # appended: an installed package is never shadowed


def test_unknown_names_are_one_line_listing_the_choices():
    with pytest.raises(AgentloopError) as err:
        get_scenario("nope")
    msg = str(err.value)
    assert msg.startswith("unknown scenario 'nope'; choose one of: eca, life,") and "\n" not in msg
    assert "package.module:Class" in msg


# --- entry points ----------------------------------------------------------------------------


def test_entry_points_are_read_once_and_only_for_unknown_names(monkeypatch):
    calls = []

    def fake(group):
        calls.append(group)
        return {"plug": "agentloop.scenarios.eca:Eca", "eca": "elsewhere:Eca"}

    monkeypatch.setattr("agentloop._plugins.entry_point_targets", fake)
    reg = Registry("scenario", "agentloop.scenarios", {"eca": "agentloop.scenarios.eca:Eca"})
    assert reg.get("eca") == "agentloop.scenarios.eca:Eca" and calls == []  # a known name reads nothing
    assert reg.get("plug") == "agentloop.scenarios.eca:Eca" and calls == ["agentloop.scenarios"]
    assert reg.get("other") is None and reg.names() == ["eca", "plug"] and len(calls) == 1
    assert reg.get("eca") == "agentloop.scenarios.eca:Eca"  # an entry point never shadows a built-in


def test_installed_scenarios_are_listed_and_found(plugins):
    names = list_scenarios()
    assert names[:10] == BUILTIN and {"edits", "units"} <= set(names[10:])
    assert type(get_scenario("edits")).__name__ == "Edits"


def test_import_does_not_read_entry_points_and_known_names_import_no_plugin(site):
    code = (
        "import sys, agentloop; from agentloop import get_scenario; "
        "print('agentloop_examples' in sys.modules, end=' '); get_scenario('eca'); "
        "print('agentloop_examples' in sys.modules, end=' '); get_scenario('units'); "
        "print('agentloop_examples.units' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == ["False", "False", "True"]


# --- model providers ---------------------------------------------------------------------------


def _oracle(rest, args):
    from agentloop.models.scripted import make

    return make("oracle", args)


def test_a_registered_provider_is_called_with_the_rest_of_the_name_and_the_args():
    seen = []

    def factory(rest, args):
        seen.append((rest, dict(args)))
        return _oracle(rest, {})

    register_provider("mine", factory)
    m = get_model("mine/some/model", temperature=0.5, retries=2)
    assert seen == [("some/model", {"temperature": 0.5})]  # retries belong to the retry layer
    assert isinstance(m.inner, ScriptedModel) and m.attempts == 2


def test_a_provider_may_be_registered_by_import_path():
    register_provider("oracle2", "test_registry:_oracle")
    assert get_model("oracle2/x").name == "scripted/oracle"


def test_a_factory_that_returns_no_model_is_one_line():
    register_provider("bad", lambda rest, args: object())
    with pytest.raises(AgentloopError, match="provider 'bad' returned object, which is not an agentloop Model"):
        get_model("bad/x")


@pytest.mark.parametrize(("prefix", "factory", "fragment"), [
    ("scripted", _oracle, "built in"),
    ("a/b", _oracle, "plain word"),
    ("ok", 42, "must be a function"),
])
def test_bad_provider_registrations_are_refused(prefix, factory, fragment):
    with pytest.raises(AgentloopError, match=fragment):
        register_provider(prefix, factory)


def test_an_installed_provider_is_found_by_its_prefix(plugins):
    m = get_model("canned/hello")
    assert m.name == "canned/hello" and not m.simulated
    assert m.complete([{"role": "user", "content": "hi"}]).text == "hello"


_LITELLM_NAMES: list[str] = []


def _litellm_spy(name, args):
    _LITELLM_NAMES.append(name)
    return _oracle(name, {})


def test_unknown_providers_still_go_to_litellm(monkeypatch):
    monkeypatch.setattr("agentloop.models._LITELLM", "test_registry:_litellm_spy")
    get_model("openai/gpt-4o-mini")
    assert _LITELLM_NAMES[-1] == "openai/gpt-4o-mini"  # the whole name: litellm's providers are its own


def _task_module(cls: str) -> str:
    return textwrap.dedent(f"""
        from agentloop import Scenario, Step

        class {cls}(Scenario):
            def initial_state(self, inst): return 0
            def steps(self, inst): return [Step(0, (0,), "one")]
            def solve(self, inst, state, step): return 1
            def apply(self, inst, state, step, answer): return answer
            def step_prompt(self, inst, step, window): return "Say 1."
            def parse(self, text, step): return int(text)
    """)
