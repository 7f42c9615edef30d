"""Shared test settings.

- Property tests are reproducible and never fail on wall time (one hypothesis profile).
- A test that needs an optional extra (the local model's llama-cpp-python and weights, torch for
  `agentloop learn`) is skipped on a developer's machine without it, but under CI (`CI=true`) a
  missing extra FAILS the test: a broken install must not turn into a green run of skipped tests.
  Use `requires_extra(...)` on tests and `import_extra(...)` for a module-level import; a stray
  `pytest.importorskip` fails under CI too.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import settings

settings.register_profile("agentloop", deadline=None, derandomize=True)
settings.load_profile("agentloop")

_CI_NOTE = "CI=true: a missing extra fails the run instead of skipping"


def in_ci() -> bool:
    """True when the environment says this is a CI run (`CI=true`, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _missing(extra: str, what: str) -> str:
    return f"needs the [{extra}] extra ({what}), which is not installed"


def _skip_or_fail(reason: str, *, module_level: bool = False) -> None:
    if in_ci():
        pytest.fail(f"{reason}; {_CI_NOTE}", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


def requires_extra(extra: str, available: bool, what: str) -> pytest.MarkDecorator:
    """Mark a test that needs an optional extra: skipped when `available` is false, failed under CI."""
    return pytest.mark.requires_extra(extra=extra, available=bool(available), what=what)


def import_extra(module: str, extra: str) -> ModuleType:
    """`pytest.importorskip` for an extra's module at module level: a test file that cannot even be
    imported without it is skipped, or under CI reported as a collection error."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        _skip_or_fail(_missing(extra, f"import {module}: {exc}"), module_level=True)
        raise  # unreachable: skip and fail both raise


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires_extra(extra, available, what): needs an optional extra; skipped without it, failed under CI=true",
    )


def _missing_extras(item: pytest.Item) -> list[str]:
    return [_missing(m.kwargs["extra"], m.kwargs["what"]) for m in item.iter_markers("requires_extra") if not m.kwargs["available"]]


def pytest_runtest_setup(item: pytest.Item) -> None:
    missing = _missing_extras(item)
    if missing and not in_ci():
        pytest.skip(missing[0])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    # Under CI the test itself fails (not its setup): reported as FAILED, with the reason.
    missing = _missing_extras(item)
    if missing:
        _skip_or_fail(missing[0])


# --- the safety net: a plain `pytest.importorskip` cannot skip silently under CI either --------


def _import_skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str | None:
    if not report.skipped or hasattr(report, "wasxfail") or not isinstance(report.longrepr, tuple):
        return None
    reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    return reason if reason.startswith("could not import") else None


def _fail_import_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    reason = _import_skip_reason(report) if in_ci() else None
    if reason is not None:
        report.outcome = "failed"
        report.longrepr = f"{reason}; {_CI_NOTE}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    report = yield
    _fail_import_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport:
    report = yield
    _fail_import_skip(report)
    return report


# --- mutation testing: under mutmut the fastest tests run first, and a hang ends soon ---------

MUTANT_HANG_S = 60  # no test of the suite takes a tenth of this; only a mutant's endless loop does


def _mutant() -> str | None:
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    return name if "__mutmut_" in name else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Under a mutant (never in a normal run), a test still running after MUTANT_HANG_S seconds
    fails: the mutant made it hang. Without this an endless loop holds mutmut's only worker until
    mutmut's own limit for the whole set of tests, minutes later."""
    mutant = _mutant()
    if mutant is None or not hasattr(signal, "SIGALRM"):
        return (yield)

    def hang(signum, frame):
        raise TimeoutError(f"under {mutant} the test ran past {MUTANT_HANG_S} s (the mutant hangs it)")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(MUTANT_HANG_S)
    try:
        return (yield)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _fastest_first(items: list[pytest.Item]) -> None:
    """When mutmut tests a mutant (tools/mutation.py), order its tests fastest first by the
    durations mutmut measured, so a mutant that a quick test kills is not run through slow ones
    first (mutmut stops at the first failure). Normal runs keep the file order."""
    if _mutant() is None:
        return
    try:
        durations = json.loads(Path("mutmut-stats.json").read_text())["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))


# --- scenarios from an extra: registry-wide tests need the extra for those ----------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _fastest_first(items)
    _mark_extra_scenarios(items)


def _mark_extra_scenarios(items: list[pytest.Item]) -> None:
    """A test parametrized over the registry (`name` = a scenario) that lands on a scenario from an
    optional extra (reasoning-gym's `rg/*`) needs that extra: skipped without it, failed under CI."""
    from agentloop.scenarios import get_scenario, list_scenarios

    needs = {}
    for name in list_scenarios():
        sc = get_scenario(name)
        if getattr(sc, "extra", None) and not getattr(sc, "extra_available", True):
            needs[name] = sc.extra
    if not needs:
        return
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        hit = next((v for v in params.values() if isinstance(v, str) and v in needs), None)
        if hit is not None:
            item.add_marker(requires_extra(needs[hit], False, f"scenario {hit}"))
