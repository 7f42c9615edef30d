"""examples/ runs: the vote around a plain function, and the two tasks of one's own — directly,
and as a pip-installed plugin through `agentloop run`, an experiment file and `agentloop report`."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import shlex
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from agentloop import AgentloopError, ParseError, get_scenario, run_episode
from agentloop.cli import app
from agentloop.models._weights import CATALOGUE, is_installed
from agentloop.models.local import DEFAULT
from agentloop.scenarios import parse_params
from conftest import requires_extra
from plugin_pkg.install import EXAMPLES, fresh_registries, plugins, site  # noqa: F401  (fixtures)

TASKS = {"edits": {"lines": 4, "edits": 30}, "units": {"steps": 30}}
runner = CliRunner()


def _lines_of_code(path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


# --- vote around a plain function ------------------------------------------------------------------


def test_vote_any_function_runs_sync_and_async_in_20_lines():
    path = EXAMPLES / "vote_any_function.py"
    assert _lines_of_code(path) <= 20
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines] == [["vote:", "91"], ["avote:", "91"]]  # 17 + 25 + 8 + 41


# --- the tasks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TASKS))
def test_each_task_fits_in_60_lines(name):
    assert _lines_of_code(EXAMPLES / "agentloop_examples" / f"{name}.py") <= 60


@pytest.mark.usefixtures("plugins")
@pytest.mark.parametrize("name", list(TASKS))
def test_the_oracle_solves_each_task_and_its_answers_read_back(name):
    sc = get_scenario(name)
    inst = sc.generate(parse_params(sc, TASKS[name]), 3)
    state = sc.initial_state(inst)
    for step in sc.steps(inst):
        answer = sc.solve(inst, state, step)
        assert sc.parse(sc.format_answer(answer), step) == answer
        wrong = sc.corrupt(inst, state, step, answer, random.Random(step.index))
        assert sc.parse(sc.format_answer(wrong), step) == wrong and not sc.check(inst, state, step, wrong).ok
        state = sc.apply(inst, state, step, answer)
    assert sc.is_goal(inst, state)
    with pytest.raises(ParseError):
        sc.parse("I think the answer is: 12 apples!\nsecond line", sc.steps(inst)[0])


@pytest.mark.usefixtures("plugins")
@pytest.mark.parametrize("name", list(TASKS))
@pytest.mark.parametrize("condition", ["tape", "vote", "verify"])
def test_each_task_runs_on_a_simulated_model_that_errs(name, condition):
    recs = [run_episode(name, TASKS[name], condition=condition, model="scripted/noisy", model_args={"error": 0.1}, seed=s)
            for s in range(3)]
    assert all(r.simulated and r.scenario == name and r.steps_total == 30 for r in recs)
    if condition == "tape":
        assert any(r.first_error_step is not None for r in recs)  # the slips show without a check
    else:
        assert all(r.status == "solved" and r.answer == r.expected for r in recs)  # and are repaired


@pytest.mark.usefixtures("plugins")
@pytest.mark.parametrize("name", list(TASKS))
def test_oneshot_says_what_the_task_lacks(name):
    with pytest.raises(AgentloopError, match="oneshot condition needs oneshot_format"):
        run_episode(name, TASKS[name], condition="oneshot", model="scripted/oracle")


# --- as an installed plugin, end to end ------------------------------------------------------------


def test_agentloop_scenarios_lists_the_installed_tasks(site):
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-m", "agentloop.cli", "scenarios", "--json"], capture_output=True,
                         text=True, check=True, env=env).stdout
    listed = {item["name"]: item for item in json.loads(out)}
    assert {"eca", "edits", "units"} <= set(listed)
    assert [p["name"] for p in listed["edits"]["params"]] == ["lines", "edits"]
    assert listed["units"]["summary"].startswith("A chain of length conversions")


@pytest.mark.usefixtures("plugins")
def test_agentloop_run_finds_an_installed_task_by_name():
    res = runner.invoke(app, ["run", "edits", "-p", "edits=12", "--condition", "verify", "--model", "scripted/noisy",
                              "-M", "error=0.2", "--seed", "4", "--json"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["scenario"] == "edits" and rec["success"] and rec["steps_total"] == 12 and rec["params"]["lines"] == 8


@pytest.mark.usefixtures("plugins")
def test_an_installed_model_provider_runs_an_episode():
    res = runner.invoke(app, ["run", "units", "-p", "steps=3", "--model", "canned/12", "--json"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["model"] == "canned/12" and not rec["simulated"] and rec["calls"] >= 1


@pytest.mark.usefixtures("plugins")
def test_an_experiment_file_and_the_report_see_the_installed_tasks(tmp_path):
    spec = (EXAMPLES / "experiment.toml").read_text().replace("seeds = 4", "seeds = 2")
    (tmp_path / "exp.toml").write_text(spec)
    out = tmp_path / "runs"
    res = runner.invoke(app, ["experiment", str(tmp_path / "exp.toml"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["report", str(out), "--json"])
    assert res.exit_code == 0, res.output
    cells = json.loads(res.stdout)["cells"]
    assert {(c["scenario"], c["condition"]) for c in cells} == {(s, c) for s in TASKS for c in ("tape", "vote", "verify")}
    assert all(c["episodes"] == 2 for c in cells) and len(cells) == 12  # 2 tasks × 2 sizes × 3 conditions


def test_an_experiment_may_name_a_task_by_import_path(tmp_path, monkeypatch, fresh_registries):
    monkeypatch.chdir(EXAMPLES)  # the package is not installed: found in the current directory
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(EXAMPLES))])
    spec = (
        'name = "by-path"\nseeds = 2\nconditions = ["tape"]\n[[scenarios]]\nname = "agentloop_examples.units:Units"\n'
        'params = { steps = 5 }\n[[models]]\nname = "scripted/oracle"\n'
    )
    (tmp_path / "exp.toml").write_text(spec)
    res = runner.invoke(app, ["experiment", str(tmp_path / "exp.toml"), "--out", str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    from agentloop import load_results

    assert [r.scenario for r in load_results(tmp_path / "runs")] == ["units", "units"]


# --- the real local model ----------------------------------------------------------------------------

_HAVE_MODEL = importlib.util.find_spec("llama_cpp") is not None and is_installed(CATALOGUE[DEFAULT])
needs_model = requires_extra("local", _HAVE_MODEL, "llama-cpp-python and the default weights")


@pytest.mark.local_model
@needs_model
@pytest.mark.usefixtures("plugins")
@pytest.mark.parametrize("name", list(TASKS))
@pytest.mark.parametrize("condition", ["tape", "vote", "verify"])
def test_each_task_runs_on_the_local_model(name, condition):
    from agentloop import Limits

    # One step, four calls at most: a real model on 2 CPU cores takes seconds a call.
    params = {"edits": {"lines": 2, "edits": 1}, "units": {"steps": 1}}[name]
    rec = run_episode(name, params, condition=condition, model=f"local/{DEFAULT}", seed=1, limits=Limits(max_calls=4))
    assert not rec.simulated and rec.error is None and rec.status in ("solved", "failed", "format", "budget")
    assert 1 <= rec.calls <= 4 and rec.tokens_out >= rec.calls


# --- docs/library.md: every snippet runs -------------------------------------------------------------

DOC = EXAMPLES.parent / "docs" / "library.md"


def _snippets() -> list[tuple[str, str]]:
    return re.findall(r"```(\w+)\n(.*?)```", DOC.read_text(), flags=re.S)


def _run_shell_line(line: str, cwd, env) -> None:
    """One documented command; `pip install` is what the `site` fixture did already, and a
    command documented with `# error: ...` must fail with that one line and exit code 2."""
    command, _, comment = line.partition("#")
    args = shlex.split(command)
    if not args or args[:2] == ["pip", "install"]:
        return
    assert args[0] == "agentloop", line
    res = subprocess.run([sys.executable, "-m", "agentloop.cli", *args[1:]], cwd=cwd, env=env, capture_output=True, text=True)
    if comment.strip().startswith("error:"):
        expected = comment.strip().removeprefix("error:").split("...")[1].strip(" ,")
        assert res.returncode == 2 and expected in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    else:
        assert res.returncode == 0, (line, res.stderr[-2000:])


def test_every_snippet_of_the_library_guide_runs(site, tmp_path):
    (tmp_path / "examples").symlink_to(EXAMPLES)  # the guide's commands run from the repository root
    env = {**os.environ, "PYTHONPATH": str(site)}
    kinds = []
    for lang, body in _snippets():
        kinds.append(lang)
        if lang == "toml":  # the entry points shown are the example package's own
            assert body.strip() in (EXAMPLES / "pyproject.toml").read_text()
        elif lang == "python" and body.startswith("# mytask.py"):
            (tmp_path / "mytask.py").write_text(body)
        elif lang == "python":
            res = subprocess.run([sys.executable, "-c", body], cwd=tmp_path, env=env, capture_output=True, text=True)
            assert res.returncode == 0, (body[:200], res.stderr[-2000:])
            assert res.stdout.strip(), body[:200]  # each snippet shows its result
        else:
            assert lang == "sh", lang
            for line in body.splitlines():
                _run_shell_line(line, tmp_path, env)
    assert kinds.count("python") >= 7 and kinds.count("sh") == 2


@pytest.mark.usefixtures("plugins")
@pytest.mark.parametrize("name", list(TASKS))
@pytest.mark.parametrize("method", ["parse_trajectory", "format_trajectory"])
def test_a_whole_task_method_it_lacks_is_named_in_one_line(name, method):
    sc = get_scenario(name)
    inst = sc.generate(parse_params(sc, TASKS[name]), 0)
    with pytest.raises(AgentloopError) as e:
        getattr(sc, method)(inst, "" if method == "parse_trajectory" else [])
    assert str(e.value) == (f"scenario {name!r} does not define {method}: the oneshot condition needs "
                            "oneshot_format, parse_trajectory and format_trajectory")
