"""The sandbox that runs model-written programs: hostile programs become results, never crashes,
and none of them reaches past its limits (CPU, memory, processes, files, network, output)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from agentloop.sandbox import MAX_SOURCE_CHARS, SandboxLimits, SandboxResult, run_function

PROJECT = Path(__file__).resolve().parents[1]
FAST = SandboxLimits(cpu_s=1, wall_s=60)


def run(source: str, arg=None, limits: SandboxLimits = FAST) -> SandboxResult:
    return run_function(source, "step", arg, limits)


def test_a_function_runs_and_returns_json():
    r = run("import math\ndef step(x):\n    return {'twice': x * 2, 'root': math.isqrt(x)}", 49)
    assert r.ok and r.value == {"twice": 98, "root": 7}
    assert {"rlimits", "audit hook"} <= set(r.isolation)


def test_it_runs_in_an_empty_private_directory_with_no_environment():
    r = run("import os, sys\ndef step(x):\n    return [os.listdir('.'), dict(os.environ), sys.flags.isolated, sys.flags.no_site]")
    assert r.ok, r.error
    listing, env, isolated, no_site = r.value
    assert listing == []
    assert set(env) <= {"PATH", "LC_ALL"}
    assert isolated == 1 and no_site == 1


def test_files_inside_its_directory_are_allowed_and_removed_afterwards():
    r = run("def step(x):\n    open('note.txt', 'w').write('hi')\n    import os\n    return [open('note.txt').read(), os.getcwd()]")
    assert r.ok and r.value[0] == "hi"
    assert not os.path.exists(r.value[1])  # the directory went with the run


def test_infinite_loop_is_stopped_by_the_cpu_limit():
    # A generous wall clock, so the kernel's CPU limit acts first however loaded the machine is.
    r = run("def step(x):\n    while True:\n        pass", limits=SandboxLimits(cpu_s=1, wall_s=300))
    assert r.outcome == "timeout" and "CPU" in r.error


def test_a_sleeping_program_is_killed_at_the_wall_clock_limit():
    r = run("import time\ndef step(x):\n    time.sleep(60)", limits=SandboxLimits(cpu_s=1, wall_s=1))
    assert r.outcome == "timeout" and "wall clock" in r.error


@pytest.mark.parametrize(
    "source",
    [
        "import os\ndef step(x):\n    while True:\n        os.fork()",
        "def step(x):\n    import posix\n    return posix.fork()",
        "def step(x):\n    import subprocess\n    return subprocess.run(['true']).returncode",
        "def step(x):\n    import _posixsubprocess\n    return 1",
        "import os\ndef step(x):\n    return os.system('true')",
        "import os\ndef step(x):\n    os.execv('/bin/true', ['true'])",
    ],
    ids=["fork-bomb", "posix-fork", "subprocess", "posixsubprocess", "system", "exec"],
)
def test_no_process_can_be_started(source):
    r = run(source)
    assert r.outcome == "error", r
    assert "not allowed" in r.error or "not available" in r.error


def test_threads_cannot_multiply_either():
    r = run("import _thread\ndef step(x):\n    for _ in range(100):\n        _thread.start_new_thread(lambda: None, ())\n    return 'started'")
    assert r.outcome == "error"


@pytest.mark.parametrize(
    "source",
    ["def step(x):\n    a = bytearray(10**10)\n    return 1", "def step(x):\n    a = [0] * (10**9)\n    return 1"],
    ids=["bytes", "list"],
)
def test_huge_allocations_fail_inside_the_sandbox(source):
    r = run(source)
    assert r.outcome == "memory" and r.error == "ran out of memory"


def test_writing_outside_its_directory_is_refused(tmp_path):
    target = tmp_path / f"pwned-{uuid.uuid4().hex}"
    r = run(f"def step(x):\n    open({str(target)!r}, 'w').write('x')\n    return 1")
    assert r.outcome == "error" and "no access" in r.error
    assert not target.exists()
    r = run("import os\ndef step(x):\n    os.mkdir('/tmp/agentloop-escape')\n    return 1")
    assert r.outcome == "error" and not Path("/tmp/agentloop-escape").exists()


@pytest.mark.parametrize(
    "source",
    [
        f"def step(x):\n    return open({str(PROJECT / 'pyproject.toml')!r}).read()",
        "def step(x):\n    return open('../../../../../../etc/passwd').read()",
        f"import os\ndef step(x):\n    return os.listdir({str(PROJECT)!r})",
        f"import os\ndef step(x):\n    return [e.name for e in os.scandir({str(PROJECT)!r})]",
    ],
    ids=["project-file", "dot-dot", "listdir", "scandir"],
)
def test_the_project_and_the_rest_of_the_disk_cannot_be_read(source):
    r = run(source)
    assert r.outcome == "error" and "sandbox" in r.error, r


def test_agentloop_itself_cannot_be_imported():
    r = run("def step(x):\n    import agentloop\n    return agentloop.__file__")
    assert r.outcome == "error" and r.error.startswith("ModuleNotFoundError")


@pytest.mark.parametrize(
    "source",
    [
        "def step(x):\n    import socket\n    s = socket.socket()\n    s.connect(('127.0.0.1', 22))",
        "def step(x):\n    import _socket\n    return 1",
        "def step(x):\n    import urllib.request\n    return urllib.request.urlopen('http://example.com').read()",
        "def step(x):\n    import ctypes\n    return ctypes.CDLL(None).getpid()",
    ],
    ids=["socket", "_socket", "urllib", "ctypes"],
)
def test_no_network_and_no_native_calls(source):
    r = run(source)
    assert r.outcome == "error" and "sandbox" in r.error, r


def test_the_child_has_its_own_network_namespace_where_the_kernel_allows_it():
    r = run("def step(x):\n    return 1")
    if "network namespace" not in r.isolation:
        pytest.skip("this kernel gives unprivileged processes no network namespace")
    assert r.ok


def test_run_as_root_the_child_drops_to_an_unprivileged_user():
    if os.geteuid() != 0:
        pytest.skip("only a root parent changes the child's user")
    r = run("import os\ndef step(x):\n    return os.getuid()")
    assert r.ok and r.value != 0 and "unprivileged user" in r.isolation


@pytest.mark.parametrize(
    "source",
    [
        "def step(x):\n    while True:\n        print('x' * 1000)",
        "import os\ndef step(x):\n    while True:\n        os.write(1, b'x' * 10000)",
        "def step(x):\n    return 'x' * 10**7",
    ],
    ids=["print", "fd-1", "huge-result"],
)
def test_flooding_output_hits_the_output_limit(source):
    r = run(source)
    assert r.outcome == "output" and "output limit" in r.error
    assert len(r.output) <= 4000


@pytest.mark.parametrize(
    ("source", "outcome", "text"),
    [
        ("def step(x) return", "error", "SyntaxError"),
        ("x = 1", "error", "defines no function step()"),
        ("def step(x):\n    return {1, 2}", "error", "not JSON"),
        ("def step(x):\n    return step(x)", "error", "RecursionError"),
        ("import sys\ndef step(x):\n    sys.exit(3)", "error", "SystemExit"),
        ("import os\ndef step(x):\n    os._exit(0)", "invalid", "wrote no result"),
        ("def step(x):\n    raise ValueError('no')", "error", "ValueError: no"),
    ],
)
def test_a_broken_program_is_a_result_not_a_crash(source, outcome, text):
    r = run(source)
    assert r.outcome == outcome and text in r.error


def test_prints_are_kept_apart_from_the_result():
    r = run("def step(x):\n    print('thinking')\n    return 5")
    assert r.ok and r.value == 5 and "thinking" in r.output


def test_an_oversized_source_is_refused_unrun():
    r = run_function("#" * (MAX_SOURCE_CHARS + 1), "step", None)
    assert r.outcome == "invalid" and r.wall_s == 0.0
