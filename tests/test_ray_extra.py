"""`--executor ray` without the [ray] extra: one line, exit code 2 (no Ray needed to test it)."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from agentloop.cli import app

TINY = """
name = "tiny"
seeds = 1
conditions = ["tape"]

[[scenarios]]
name = "hanoi"
params = { disks = 3 }

[[models]]
name = "scripted/oracle"
"""


def test_the_ray_executor_without_ray_installed_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    f = tmp_path / "tiny.toml"
    f.write_text(TINY)
    res = CliRunner().invoke(app, ["experiment", str(f), "--out", str(tmp_path / "d"), "--executor", "ray"])
    assert res.exit_code == 2, res.output
    assert "[ray] extra" in res.output and "Traceback" not in res.output


def test_agentloop_and_its_experiment_runner_never_import_ray():
    code = ("import sys, agentloop, agentloop.cli, agentloop.experiment, agentloop.executors; "
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_file_may_say_executor_and_a_bad_one_is_refused_with_its_line(tmp_path):
    from agentloop.errors import AgentloopError
    from agentloop.experiment import parse_experiment

    assert parse_experiment(TINY.replace("seeds = 1", 'seeds = 1\nexecutor = "ray"')).executor == "ray"
    assert parse_experiment(TINY).executor == "local"
    try:
        parse_experiment(TINY.replace("seeds = 1", 'seeds = 1\nexecutor = "spark"'), source="x.toml")
    except AgentloopError as exc:
        assert str(exc).startswith("x.toml:4: field executor") and "'spark'" in str(exc)
    else:
        raise AssertionError("executor = 'spark' was accepted")
