"""No silent skip in CI: a test that needs a missing extra is skipped locally and fails under CI=true.

Each case runs pytest in a subprocess on a small generated test file next to a copy of the
suite's conftest.py, with and without CI=true, and reads the outcome from its exit code and
summary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

MARKED = '''
from conftest import requires_extra

@requires_extra("fakeextra", False, "the fake engine and its weights")
def test_needs_the_missing_extra():
    pass

@requires_extra("fakeextra", True, "the fake engine and its weights")
def test_has_its_extra():
    pass
'''

MODULE_LEVEL = '''
from conftest import import_extra

fake = import_extra("agentloop_no_such_module_for_tests", extra="fakeextra")

def test_uses_the_missing_module():
    assert fake
'''

STRAY_IMPORTORSKIP = '''
import pytest

def test_importorskip_inside_a_test():
    pytest.importorskip("agentloop_no_such_module_for_tests")
'''

STRAY_MODULE_IMPORTORSKIP = '''
import pytest

fake = pytest.importorskip("agentloop_no_such_module_for_tests")

def test_never_runs():
    pass
'''

OTHER_SKIPS = '''
import sys
import pytest

@pytest.mark.skipif(sys.version_info >= (3,), reason="an ordinary condition, not an extra")
def test_ordinary_skipif():
    pass

@pytest.mark.xfail(reason="expected failure", strict=True)
def test_xfail():
    assert False
'''


def _pytest(tmp_path: Path, source: str, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_generated.py").write_text(source)
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # a faster start; the conftest needs only hypothesis
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "test_generated.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize(("value", "ci"), [
    (None, False), ("", False), ("false", False), ("0", False), ("no", False),
    ("true", True), ("TRUE", True), ("1", True), ("yes", True),
])
def test_ci_is_read_from_the_environment(monkeypatch, value, ci):
    from conftest import in_ci

    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert in_ci() is ci


@pytest.mark.parametrize("ci", [None, "false"])
def test_a_missing_extra_is_skipped_outside_ci(tmp_path, ci):
    r = _pytest(tmp_path, MARKED, ci)
    assert r.returncode == 0, r.stdout
    assert "1 passed, 1 skipped" in r.stdout
    assert "needs the [fakeextra] extra (the fake engine and its weights), which is not installed" in r.stdout


def test_a_missing_extra_fails_under_ci_and_says_why(tmp_path):
    r = _pytest(tmp_path, MARKED, "true")
    assert r.returncode == 1, r.stdout
    assert "1 failed, 1 passed" in r.stdout and "skipped" not in r.stdout
    assert "FAILED test_generated.py::test_needs_the_missing_extra" in r.stdout
    assert "needs the [fakeextra] extra (the fake engine and its weights), which is not installed" in r.stdout
    assert "CI=true: a missing extra fails the run instead of skipping" in r.stdout


def test_a_module_that_imports_a_missing_extra_is_skipped_locally_and_an_error_under_ci(tmp_path):
    local = _pytest(tmp_path, MODULE_LEVEL, None)
    assert local.returncode in (0, 5) and "1 skipped" in local.stdout, local.stdout  # 5: nothing else to run
    ci = _pytest(tmp_path, MODULE_LEVEL, "true")
    assert ci.returncode not in (0, 5), ci.stdout  # 5: no tests collected, which would also be silent
    assert "ERROR test_generated.py" in ci.stdout and "skipped" not in ci.stdout
    assert "needs the [fakeextra] extra (import agentloop_no_such_module_for_tests" in ci.stdout
    assert "CI=true" in ci.stdout


@pytest.mark.parametrize("source", [STRAY_IMPORTORSKIP, STRAY_MODULE_IMPORTORSKIP], ids=["in-test", "module-level"])
def test_a_stray_importorskip_cannot_skip_silently_under_ci(tmp_path, source):
    local = _pytest(tmp_path, source, None)
    assert local.returncode in (0, 5) and "1 skipped" in local.stdout, local.stdout
    ci = _pytest(tmp_path, source, "true")
    assert ci.returncode not in (0, 5), ci.stdout
    assert "skipped" not in ci.stdout
    assert "could not import 'agentloop_no_such_module_for_tests'" in ci.stdout and "CI=true" in ci.stdout


def test_ordinary_skips_and_xfails_are_left_alone_under_ci(tmp_path):
    r = _pytest(tmp_path, OTHER_SKIPS, "true")
    assert r.returncode == 0, r.stdout
    assert "1 skipped, 1 xfailed" in r.stdout
