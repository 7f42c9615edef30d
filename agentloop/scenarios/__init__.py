"""Scenarios: the puzzles, one file each, registered in one readable dict.

To add one, write `agentloop/scenarios/<name>.py` with a `Scenario` subclass (see `eca.py`)
and add a line to `_REGISTRY`; the contract tests in `tests/test_scenarios_contract.py` then
check it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from agentloop.errors import AgentloopError
from agentloop.scenarios._base import Params, Scenario

__all__ = ["Params", "Scenario", "allowed_values", "describe_params", "get_scenario", "list_scenarios", "parse_params"]

# name -> "module:Class"; modules are imported only when the scenario is used.
_REGISTRY: dict[str, str] = {
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
}


def list_scenarios() -> list[str]:
    return list(_REGISTRY)


def get_scenario(name: str) -> Scenario:
    """The scenario registered as `name`; AgentloopError naming the choices otherwise."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise AgentloopError(f"unknown scenario {name!r}; choose one of: {', '.join(_REGISTRY)}") from None
    module, _, cls = target.partition(":")
    return getattr(import_module(module), cls)()


def describe_params(scenario: Scenario) -> list[dict[str, Any]]:
    """Each parameter's name, type, default, bounds and description (from its pydantic schema)."""
    schema = scenario.Params.model_json_schema()
    out = []
    for name, prop in schema["properties"].items():
        item = {"name": name, "type": prop.get("type"), "default": prop.get("default")}
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum"):
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
