"""Scenarios: the puzzles, one file each, and the registry that names them.

The eleven built-in scenarios are the readable dict `_BUILTIN`. A user's own scenario joins them
with `register_scenario(MyTask)`, or, from a pip-installed package, through an entry point in
the group `agentloop.scenarios` (name = "package.module:Class"); `get_scenario` also takes an
import path "package.module:Class" directly. The contract tests in
`tests/test_scenarios_contract.py` check every registered scenario.
"""

from __future__ import annotations

from typing import Any, TypeVar

from agentloop._plugins import Registry, resolve
from agentloop.errors import AgentloopError
from agentloop.scenarios._base import Instance, Params, Scenario

__all__ = [
    "Instance",
    "Params",
    "Scenario",
    "allowed_values",
    "describe_params",
    "get_scenario",
    "list_scenarios",
    "parse_params",
    "register_scenario",
]

# name -> "module:Class"; modules are imported only when the scenario is used.
_BUILTIN: dict[str, str] = {
    "eca": "agentloop.scenarios.eca:Eca",
    "life": "agentloop.scenarios.life:Life",
    "hanoi": "agentloop.scenarios.hanoi:Hanoi",
    "ab": "agentloop.scenarios.ab:Ab",
    "multiply": "agentloop.scenarios.multiply:Multiply",
    "ledger": "agentloop.scenarios.ledger:Ledger",
    "reversal": "agentloop.scenarios.reversal:Reversal",
    "wordsquare": "agentloop.scenarios.wordsquare:Wordsquare",
    "sudoku": "agentloop.scenarios.sudoku:Sudoku",
    "wordle": "agentloop.scenarios.wordle:Wordle",
    "crossword": "agentloop.scenarios.crossword:Crossword",
}
_SCENARIOS = Registry("scenario", "agentloop.scenarios", _BUILTIN)

T = TypeVar("T", bound="type[Scenario] | Scenario | str")


def register_scenario(scenario: T, name: str | None = None) -> T:
    """Make a scenario available by name to `get_scenario`, `run_episode`, experiment files and
    the CLI; returns its argument, so it also works as a class decorator.

    `scenario` is a Scenario subclass, an instance, or an import path "package.module:Class"
    (imported when first used). `name` defaults to the scenario's `name`. Built-in names cannot
    be replaced; registering a name again replaces the earlier scenario.
    """
    if isinstance(scenario, str):
        if name is None:
            raise AgentloopError(f"register_scenario({scenario!r}): give the name to register an import path under")
        key = name
    else:
        _check_scenario(scenario)
        key = scenario.name if name is None else name
    if not key or "/" in key or ":" in key:
        raise AgentloopError(f"scenario names are plain words, got {key!r}")
    _SCENARIOS.add(key, scenario)
    return scenario


def list_scenarios() -> list[str]:
    """The registered names: the built-ins, then registered and installed (entry-point) ones."""
    return _SCENARIOS.names()


def get_scenario(name: str) -> Scenario:
    """The scenario registered as `name`, or named by an import path "package.module:Class";
    AgentloopError naming the choices otherwise."""
    target = name if ":" in name else _SCENARIOS.get(name)  # registered names never hold ':'
    if target is None:
        raise AgentloopError(
            f"unknown scenario {name!r}; choose one of: {', '.join(_SCENARIOS.names())} "
            "(or an import path package.module:Class)"
        )
    return _build(target, name)


def _build(target: Any, name: str) -> Scenario:
    """A scenario object from a registry target: an instance as it is, a class instantiated."""
    if isinstance(target, str):
        target = resolve(target, "scenario")
    _check_scenario(target, name)
    if isinstance(target, Scenario):
        return target
    sc = target()
    if ":" not in name and sc.name != name:
        sc.name = name  # records say the name it was run by, so it can be run again by it
    return sc


def _check_scenario(obj: Any, name: str | None = None) -> None:
    cls = obj if isinstance(obj, type) else type(obj)
    label = name or getattr(cls, "__name__", repr(obj))
    if not issubclass(cls, Scenario):
        raise AgentloopError(f"scenario {label!r} is {obj!r}, not a subclass of agentloop.Scenario")
    missing = cls.missing_methods()
    if missing:
        raise AgentloopError(f"scenario {label!r} cannot run: it does not define {', '.join(missing)}")


def describe_params(scenario: Scenario) -> list[dict[str, Any]]:
    """Each parameter's name, type, default, bounds and description (from its pydantic schema)."""
    schema = scenario.Params.model_json_schema()
    out = []
    for name, prop in schema["properties"].items():
        item = {"name": name, "type": prop.get("type"), "default": prop.get("default")}
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "allowed"):
            if key in prop:
                item[key] = prop[key]
        item["description"] = prop.get("description", "")
        out.append(item)
    return out


def allowed_values(item: dict[str, Any]) -> str:
    """A described parameter's allowed values, e.g. `0..255`, `>=3`, `4|9`."""
    lo = item.get("minimum", item.get("exclusiveMinimum"))
    hi = item.get("maximum", item.get("exclusiveMaximum"))
    if "enum" in item:
        return "|".join(map(str, item["enum"]))
    if "allowed" in item:  # a field's own wording of its values (json_schema_extra), e.g. `cell|row|rows:K`
        return str(item["allowed"])
    if lo is not None and hi is not None:
        return f"{lo}..{hi}"
    if lo is not None:
        return f">={lo}"
    return item["type"] or "any"


def parse_params(scenario: Scenario, values: dict[str, Any]) -> Params:
    """Validate user-given values (strings are coerced) into the scenario's Params.

    Raises AgentloopError with one line naming the parameter and the allowed values.
    """
    from pydantic import ValidationError

    try:
        return scenario.Params.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        allowed = ", ".join(f"{i['name']} ({allowed_values(i)})" for i in describe_params(scenario))
        if err["type"] == "extra_forbidden":
            problem = f"unknown parameter {field!r}"
        else:
            problem = f"parameter {field}={err.get('input')!r}: {err['msg'].lower()}"
        raise AgentloopError(f"{scenario.name}: {problem}; parameters: {allowed}") from None
