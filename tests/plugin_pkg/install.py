"""Install plugin projects for the tests, offline, and keep the registries clean around them.

`install(project, target)` does what `pip install --no-deps --target TARGET PROJECT` does for a
pure-Python project — its packages copied, plus a `.dist-info` holding METADATA and
entry_points.txt, which is all `importlib.metadata.entry_points()` reads — without a build
backend or the network, so a fresh CI machine needs nothing more than the test dependencies.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"  # the scenario plugin: edits, units
TEST_PLUGIN = Path(__file__).resolve().parent  # the provider plugin: canned/<text>


def install(project: Path, target: Path) -> None:
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    proj = meta["project"]
    for package in meta["tool"]["setuptools"]["packages"]:
        shutil.copytree(project / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    dist = target / f"{proj['name'].replace('-', '_')}-{proj['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {proj['name']}\nVersion: {proj['version']}\n")
    groups = proj.get("entry-points", {})
    (dist / "entry_points.txt").write_text(
        "".join(f"[{g}]\n" + "".join(f"{n} = {v}\n" for n, v in eps.items()) + "\n" for g, eps in groups.items())
    )


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where both plugin projects are installed (not yet on sys.path)."""
    target = tmp_path_factory.mktemp("site-packages")
    install(EXAMPLES, target)
    install(TEST_PLUGIN, target)
    return target


@pytest.fixture
def fresh_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scenario and provider registries as they are now, restored after the test; entry
    points are read again at the next lookup of an unknown name."""
    from agentloop import models, scenarios

    for registry in (scenarios._SCENARIOS, models._PROVIDERS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
        monkeypatch.setattr(registry, "_discovered", False)


@pytest.fixture
def plugins(site: Path, fresh_registries: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The plugins installed on sys.path for this test (and the registries restored after it)."""
    monkeypatch.syspath_prepend(str(site))
    return site
