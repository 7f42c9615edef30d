"""Open registries: names → "module:attribute" targets, plus installed packages' entry points.

The scenario registry (`agentloop.scenarios`) and the model-provider registry
(`agentloop.models`) are both a `Registry`: the built-in entries, what `register_*` adds, and
the entry points a pip-installed package declares in the registry's group. Entry points are
read (metadata only, nothing imported) on the first lookup of an unknown name or on listing,
never at `import agentloop`: scanning the installed packages costs about 0.1 s.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module, invalidate_caches
from typing import Any

from agentloop.errors import AgentloopError

__all__ = ["Registry", "resolve"]


class Registry:
    """A name → target map with its entry-point group merged in on first need.

    A target is whatever the owning module knows how to build from: an import path
    "module:attribute" (imported only when used) or the object itself. Built-in names cannot be
    replaced; a name registered again replaces the earlier one (re-running a notebook cell);
    an entry point never replaces a name that already exists.
    """

    def __init__(self, kind: str, group: str, builtins: dict[str, Any]) -> None:
        self.kind = kind  # "scenario", "model provider": for messages
        self.group = group
        self.builtins = frozenset(builtins)
        self._entries: dict[str, Any] = dict(builtins)
        self._discovered = False

    def add(self, name: str, target: Any) -> None:
        if name in self.builtins:
            raise AgentloopError(f"{self.kind} {name!r} is built in and cannot be replaced; register it under another name")
        self._entries[name] = target

    def get(self, name: str) -> Any | None:
        """The target registered as `name`, looking at the entry points when it is unknown."""
        if name not in self._entries:
            self._discover()
        return self._entries.get(name)

    def names(self) -> list[str]:
        """Every name: built-ins first, then registered and installed ones."""
        self._discover()
        return list(self._entries)

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for name, value in entry_point_targets(self.group).items():
            if name in self._entries:
                _log().warning("plugin.shadowed", group=self.group, name=name, target=value)
            else:
                self._entries[name] = value


def entry_point_targets(group: str) -> dict[str, str]:
    """name → "module:attribute" for the installed packages' entry points in `group`."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=group)}


def resolve(target: str, what: str) -> Any:
    """The object an import path "package.module:attribute" names; AgentloopError with one line
    when it cannot be imported.

    A module not found on the search path is looked for in the current directory too, as
    `python -m` would (the `agentloop` command's search path does not hold it), so
    `agentloop run mytask:MyTask` works from the directory that holds mytask.py.
    """
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise AgentloopError(f"{what} {target!r} is not an import path of the form package.module:Name")
    try:
        obj: Any = _import(module)
    except Exception as exc:  # missing, or an error inside the user's module: one line, no traceback
        raise AgentloopError(f"cannot import {what} {target!r}: {_one_line(exc)}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AgentloopError(f"cannot import {what} {target!r}: {module} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _import(module: str) -> Any:
    try:
        return import_module(module)
    except ModuleNotFoundError as exc:
        # Only the module itself (or a package above it) missing is worth a second look; a
        # dependency that the module imports is the user's install problem, reported as it is.
        itself = exc.name is not None and (module == exc.name or module.startswith(exc.name + "."))
        if not itself or os.getcwd() in sys.path or "" in sys.path:
            raise
    sys.path.append(os.getcwd())  # last: a local file never shadows an installed package
    invalidate_caches()
    return import_module(module)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _log():
    from agentloop._log import get_logger

    return get_logger("agentloop.plugins")
