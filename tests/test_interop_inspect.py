"""agentloop inside inspect_ai (agentloop.interop.inspect, the [inspect] extra), offline.

Two model paths: inspect's own `mockllm/model` through the `InspectModel` adapter (its token
estimator would load tiktoken's o200k_base, a download, so the `offline_tokens` fixture replaces
it in this process — see docs/interop.md), and agentloop's scripted models (`agentloop_model`),
which need no inspect model (`--model none`). The other direction: `agentloop export DIR
--format inspect` writes logs that inspect's `read_eval_log` reads back.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import requires_extra
from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.errors import AgentloopError
from agentloop.loop import run_episode

# inspect's retry set-up passes tenacity a deprecated argument on every model call
pytestmark = pytest.mark.filterwarnings("ignore:The 'initial' parameter is deprecated:DeprecationWarning")

HAVE_INSPECT = importlib.util.find_spec("inspect_ai") is not None
needs_inspect = requires_extra("inspect", HAVE_INSPECT, "inspect-ai")
ECA = {"rule": 110, "width": 8, "steps": 2}


@pytest.fixture
def offline_tokens(monkeypatch):
    """inspect's default token estimator without tiktoken's downloaded file (this test only)."""
    import inspect_ai.model._model as model_module

    from agentloop.interop.inspect import chars_per_token

    monkeypatch.setattr(model_module, "count_text_tokens", chars_per_token)


def run_eval(task, model, tmp_path):
    from inspect_ai import eval as inspect_eval

    logs = inspect_eval(task, model=model, log_dir=str(tmp_path / "logs"), display="none")
    assert len(logs) == 1 and logs[0].status == "success", logs[0].error
    return logs[0]


def events(sample, kind):
    return [e for e in sample.events if e.event == kind]


def metric(log, score, name):
    """A task metric; agentloop's own are `agentloop/<name>` when inspect sees the installed
    package, `<name>` from a source checkout (see agentloop.interop.inspect._prefix)."""
    metrics = next(s for s in log.results.scores if s.name == score).metrics
    return next(m.value for key, m in metrics.items() if key.rpartition("/")[2] == name)


# --- agentloop's models: no inspect model ---------------------------------------------------------
@needs_inspect
def test_scripted_model_episodes_are_the_ones_run_episode_gives(tmp_path):
    from agentloop.interop.inspect import RECORD_KEY, STEPS_KEY, agentloop_task, record_score

    noisy = {"agentloop_model": "scripted/noisy", "model_args": {"error": 0.2, "seed": 3}}
    log = run_eval(agentloop_task("eca", condition="verify", seeds=3, first_seed=4, **noisy, **ECA), "none", tmp_path)
    assert log.eval.task == "agentloop/eca" and [s.id for s in log.samples] == [4, 5, 6]
    wins = []
    for sample in log.samples:
        direct = run_episode("eca", ECA, condition="verify", model="scripted/noisy", model_args=noisy["model_args"],
                             seed=sample.id)
        rec = sample.store[RECORD_KEY]
        assert {k: rec[k] for k in ("success", "step_ok", "answer", "calls", "status")} == {
            "success": direct.success, "step_ok": direct.step_ok, "answer": direct.answer, "calls": direct.calls,
            "status": direct.status,
        }
        assert sample.scores["agentloop_scorer"].value == record_score(direct).value
        assert [s["verdict"] for s in sample.store[STEPS_KEY]] == [s.code for s in direct.steps]
        assert len(events(sample, "info")) == direct.steps_total and not events(sample, "model")
        wins.append(direct.success)
    assert metric(log, "success", "mean") == pytest.approx(sum(wins) / 3)
    assert sum(r for s in log.samples for r in [s.store[RECORD_KEY]["calls"]]) > 3 * 16  # verify re-asked


# --- inspect's mockllm through the adapter --------------------------------------------------------
@needs_inspect
def test_mockllm_with_the_right_replies_solves_and_every_step_is_an_event(tmp_path):
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    from agentloop.interop.inspect import RECORD_KEY, agentloop_task

    oracle = run_episode("eca", ECA, condition="tape", model="scripted/oracle", seed=0)
    replies = [str(s.answer) for s in oracle.steps]
    outputs = [ModelOutput.from_content(model="mockllm/model", content=r) for r in replies]
    for out in outputs:  # replies that carry their usage need no token estimate (no tiktoken)
        out.usage = ModelUsage(input_tokens=50, output_tokens=1, total_tokens=51)
    model = get_model("mockllm/model", custom_outputs=outputs)
    log = run_eval(agentloop_task("eca", condition="tape", seeds=1, **ECA), model, tmp_path)
    sample = log.samples[0]
    rec = sample.store[RECORD_KEY]
    assert rec["success"] and rec["model"] == "inspect/mockllm/model" and not rec["simulated"], (rec["status"], rec["error"], rec["step_ok"])
    assert rec["answer"] == oracle.answer and rec["calls"] == len(replies) == 16
    model_events = events(sample, "model")
    assert [e.output.completion for e in model_events] == replies
    assert model_events[0].input[-1].text.startswith("generation 1, cell 0")  # the tape's window, asked
    infos = events(sample, "info")
    assert len(infos) == 16 and infos[3].source.startswith("agentloop step 3: generation 1")
    step = infos[3].data
    assert step["verdict"] == "ok" and step["attempts"][0]["replies"][0]["text"] == replies[3]
    assert step["attempts"][0]["request"][-1]["content"] == model_events[3].input[-1].text
    assert metric(log, "success", "mean") == 1.0 and metric(log, "first_error_step", "first_error_mean") == -1


@needs_inspect
@pytest.mark.parametrize("condition", ["tape", "vote"])
def test_mockllm_default_reply_is_unreadable_and_stops_as_format(tmp_path, offline_tokens, condition):
    from agentloop.interop.inspect import RECORD_KEY, agentloop_task

    log = run_eval(agentloop_task("eca", condition=condition, seeds=2, **ECA), "mockllm/model", tmp_path)
    for sample in log.samples:
        rec = sample.store[RECORD_KEY]
        assert rec["status"] == "format" and rec["first_error_step"] == 0
        # one reply and its 2 format re-asks; a vote draws until max_samples, all red-flagged
        assert rec["calls"] == len(events(sample, "model")) == (3 if condition == "tape" else 20)
        [info] = events(sample, "info")
        assert info.data["verdict"] == "format"
        assert all(r["problem"] for r in info.data["attempts"][0]["replies"])
        assert sample.scores["agentloop_scorer"].value == {
            "success": 0.0, "step_accuracy": 0.0, "first_error_step": 0, "steps_correct": 0,
        }


@needs_inspect
def test_an_inspect_model_failure_ends_the_episode_with_status_error(tmp_path):
    from inspect_ai.model import get_model

    from agentloop.interop.inspect import RECORD_KEY, agentloop_task

    model = get_model("mockllm/model", custom_outputs=["not a ModelOutput"])  # mockllm raises on it
    log = run_eval(agentloop_task("eca", seeds=1, **ECA), model, tmp_path)
    rec = log.samples[0].store[RECORD_KEY]
    assert rec["status"] == "error" and "inspect/mockllm/model" in rec["error"]
    assert "error" in log.samples[0].scores["agentloop_scorer"].explanation


@needs_inspect
def test_registered_tasks_take_scenario_and_condition_parameters_by_name(tmp_path):
    from inspect_ai import eval as inspect_eval


    from agentloop.interop.inspect import RECORD_KEY

    args = {"condition": "full", "k": 2, "seeds": 2, "agentloop_model": "scripted/noisy", "model_args": {"error": 0.1}}
    for name, params in (("agentloop/hanoi", {"disks": 3}), ("agentloop/rg/ab", {"length": 6})):
        if name.endswith("rg/ab") and importlib.util.find_spec("reasoning_gym") is None:
            continue
        [log] = inspect_eval(name, task_args={**args, **params}, model="none", log_dir=str(tmp_path), display="none")
        assert log.status == "success", log.error
        rec = log.samples[0].store[RECORD_KEY]
        assert rec["scenario"] == name.removeprefix("agentloop/") and rec["condition"] == "full"
        assert rec["params"] == {**get_params(rec["scenario"]), **params}
        assert log.eval.metadata["condition"]["k"] == 2


def get_params(name):
    from agentloop.scenarios import get_scenario

    return get_scenario(name).Params().model_dump(mode="json")


@needs_inspect
def test_bad_task_parameters_are_one_line_errors():
    from agentloop.interop.inspect import agentloop_task

    with pytest.raises(AgentloopError, match=r"^eca: parameter rule=300") as exc:
        agentloop_task("eca", rule=300)
    assert "\n" not in str(exc.value)
    with pytest.raises(AgentloopError, match="unknown condition"):
        agentloop_task("eca", condition="loud")


@needs_inspect
def test_inspect_eval_command_runs_agentloop_eca_on_mockllm_offline(tmp_path):
    """The real `inspect eval agentloop/eca ... --model mockllm/model`, found through the entry
    point, with AGENTLOOP_INSPECT_TOKENS=chars instead of tiktoken's downloaded encoding."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    env = {**os.environ, "AGENTLOOP_INSPECT_TOKENS": "chars"}
    cmd = [sys.executable, "-m", "inspect_ai", "eval", "agentloop/eca", "-T", "rule=110", "-T", "width=16",
           "-T", "condition=tape", "-T", "seeds=2", "--model", "mockllm/model", "--log-dir", str(tmp_path),
           "--display", "none"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    [path] = list_eval_logs(str(tmp_path))
    log = read_eval_log(path)
    assert log.status == "success" and log.eval.task == "agentloop/eca" and len(log.samples) == 2
    sample = log.samples[0]
    assert sample.store["agentloop:record"]["status"] == "format"  # mockllm's default reply is no bit
    assert len(events(sample, "model")) == 3 and events(sample, "info")[0].source.startswith("agentloop step 0")


# --- export: stored episodes as an inspect log ------------------------------------------------------
EXPERIMENT = """
name = "interop"
seeds = 3
conditions = ["tape", "verify"]

[[scenarios]]
name = "eca"
params = { rule = 110, width = 8, steps = 2 }

[[models]]
name = "scripted/noisy"
args = { error = 0.1, seed = 2 }
"""


@needs_inspect
def test_export_writes_one_inspect_log_per_cell_that_inspect_reads_back(tmp_path):
    from inspect_ai.log import read_eval_log

    from agentloop import load_results
    from agentloop.interop.inspect import RECORD_KEY, record_score

    (tmp_path / "exp.toml").write_text(EXPERIMENT)
    out = tmp_path / "runs"
    assert CliRunner().invoke(app, ["experiment", str(tmp_path / "exp.toml"), "--out", str(out), "-q"]).exit_code == 0
    res = CliRunner().invoke(app, ["export", str(out), "--format", "inspect"])
    assert res.exit_code == 0, res.stderr
    paths = res.stdout.split()
    assert len(paths) == 2 and all(Path(p).parent == out / "inspect" and p.endswith(".eval") for p in paths)
    stored = {(r.condition, r.seed): r for r in load_results(out)}
    for path in paths:
        log = read_eval_log(path)
        assert log.status == "success" and log.eval.task == "agentloop/eca" and log.eval.model == "scripted/noisy"
        cond = log.eval.task_args["condition"]
        assert [s.id for s in log.samples] == [0, 1, 2]
        for sample in log.samples:
            rec = stored[(cond, sample.id)]
            assert sample.scores["agentloop_scorer"].value == record_score(rec).value
            assert sample.store[RECORD_KEY]["step_ok"] == rec.step_ok
            infos = [e for e in sample.events if e.event == "info"]
            assert len(infos) == len(rec.steps)
            first = infos[0].data["attempts"][0]
            assert first["replies"][0]["text"] == rec.steps[0].attempts[0].replies[0].text
            assert first["request"][-1]["role"] == "user"  # the stored request, for the viewer
        wins = [stored[(cond, s)].success for s in range(3)]
        assert metric(log, "success", "mean") == pytest.approx(sum(wins) / 3)
    dest = tmp_path / "elsewhere"
    res = CliRunner().invoke(app, ["export", str(out), "--dest", str(dest)])
    assert res.exit_code == 0 and sorted(p.name for p in dest.iterdir()) == sorted(Path(p).name for p in paths)


@needs_inspect
def test_export_of_a_directory_without_results_is_one_line():
    res = CliRunner().invoke(app, ["export", "no/such/dir"])
    assert res.exit_code == 2 and res.stderr.startswith("error: no results store at") and res.stderr.count("\n") == 1


def test_export_says_how_to_install_inspect_and_refuses_unknown_formats(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "inspect_ai" else real(name, *a))
    res = CliRunner().invoke(app, ["export", "runs/x"])
    assert res.exit_code == 2 and res.stderr == "error: --format inspect needs the [inspect] extra: pip install 'agentloop[inspect]'\n"
    res = CliRunner().invoke(app, ["export", "runs/x", "--format", "csv"])
    assert res.exit_code == 2 and res.stderr == "error: unknown --format 'csv'; formats: inspect\n"


def test_import_agentloop_and_the_export_command_import_no_inspect():
    code = "import sys, agentloop, agentloop.cli, agentloop.interop._export; print('inspect_ai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@needs_inspect
def test_record_summary_is_plain_json_without_steps():
    from agentloop.interop.inspect import record_summary

    rec = run_episode("eca", ECA, seed=1)
    summary = json.loads(json.dumps(record_summary(rec)))
    assert summary["steps_total"] == 16 and "steps" not in summary and "prompts" not in summary
