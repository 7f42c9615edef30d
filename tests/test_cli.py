"""The CLI end to end, through typer's runner, and the cost of importing the package."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from agentloop.cli import app

runner = CliRunner()


def test_run_json_prints_the_contract_record():
    res = runner.invoke(
        app,
        ["run", "eca", "-p", "rule=110", "-p", "width=16", "-p", "steps=4", "--condition", "tape",
         "--model", "scripted/oracle", "--seed", "1", "--json"],
    )
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    for key in ("scenario", "params", "condition", "model", "model_args", "seed", "success", "steps_total",
                "steps_correct", "first_error_step", "step_ok", "calls", "tokens_in", "tokens_out", "wall_s",
                "simulated", "initial", "expected", "answer"):
        assert key in r
    assert r["success"] is True and r["steps_total"] == 64 and r["steps_correct"] == 64
    assert r["simulated"] is True and len(r["answer"]) == 16


def test_noise_shows_the_difference_between_tape_and_verify():
    base = ["run", "eca", "-p", "rule=110", "-p", "width=16", "-p", "steps=4", "--model", "scripted/noisy",
            "-M", "error=0.1", "--seed", "1", "--json"]
    tape = json.loads(runner.invoke(app, [*base, "--condition", "tape"]).stdout)
    verify = json.loads(runner.invoke(app, [*base, "--condition", "verify"]).stdout)
    assert not tape["success"] and verify["success"]
    assert tape["model_args"] == {"error": 0.1}
    assert verify["calls"] > tape["calls"]


def test_human_output_says_simulated():
    res = runner.invoke(app, ["run", "hanoi", "-p", "disks=3", "--model", "scripted/oracle"])
    assert res.exit_code == 0
    assert "simulated" in res.stdout and "solved" in res.stdout


def test_scenarios_json_lists_params_with_ranges():
    res = runner.invoke(app, ["scenarios", "--json"])
    items = {s["name"]: s for s in json.loads(res.stdout)}
    assert {"eca", "life", "hanoi"} <= set(items)
    rule = next(p for p in items["eca"]["params"] if p["name"] == "rule")
    assert rule["minimum"] == 0 and rule["maximum"] == 255


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["run", "nosuch"], "unknown scenario"),
        (["run", "eca", "-p", "rule=300"], "rule"),
        (["run", "eca", "-p", "width=wide"], "width"),
        (["run", "eca", "-p", "rule"], "malformed -p"),
        (["run", "eca", "--condition", "magic"], "unknown condition"),
        (["run", "eca", "--model", "oracle"], "provider/model"),
        (["run", "eca", "--model", "scripted/noisy", "-M", "error=2"], "error"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragment):
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert fragment in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.output


def test_import_agentloop_loads_no_heavy_library():
    code = (
        "import sys, agentloop; agentloop.__version__; "
        "print([m for m in ('litellm', 'langgraph', 'matplotlib', 'torch', 'llama_cpp', 'numpy', 'scipy') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_help_loads_no_heavy_library():
    code = (
        "import sys; from agentloop.cli import app; from typer.testing import CliRunner; "
        "CliRunner().invoke(app, ['--help']); "
        "print([m for m in ('litellm', 'langgraph', 'matplotlib', 'torch', 'llama_cpp') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_plain_agentloop_prints_its_help_and_exits_0():
    res = runner.invoke(app, [])
    assert res.exit_code == 0 and "Commands" in res.stdout and not res.stderr


def test_interrupting_a_run_exits_130(monkeypatch):
    import agentloop.loop

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(agentloop.loop, "run_episode", interrupted)
    res = runner.invoke(app, ["run", "eca"])
    assert res.exit_code == 130 and "Traceback" not in res.output
