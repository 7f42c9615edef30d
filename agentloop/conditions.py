"""Conditions: which supports are on (decompose, tape, vote, verify, planner, checker, cot,
injection), with the bounds of the loops they add.

The six presets are named starting points; any field may be changed (`get_condition(name,
**overrides)`, `-C key=value`, a TOML table), and a combination that cannot run is refused with
one line saying why.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentloop.errors import AgentloopError

# The longest injected instruction and the most padding an episode may carry.
MAX_INJECT_CHARS = 10_000
MAX_PAD_CHARS = 4_000_000


# The largest k a vote may ask for (k = "auto" never plans more).
MAX_K = 20


class Condition(BaseModel):
    """Which supports are on, and the bounds of the loops they add."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    decompose: bool = Field(True, description="one atomic step per call (off: the whole task in one call)")
    tape: bool = Field(True, description="the step prompt is a window of the tape, not a growing conversation")
    vote: bool = Field(False, description="sample until one answer leads by k; red-flag bad answers")
    verify: bool = Field(False, description="check each step; re-ask with the verdict")
    k: Union[Annotated[int, Field(ge=1, le=MAX_K)], Literal["auto"]] = Field(
        3, description="votes the winner must lead by; auto: planned per episode from a pilot (agentloop.planning)"
    )
    max_samples: int = Field(20, ge=1, le=500, description="bound on samples per vote")
    max_retries: int = Field(3, ge=0, le=50, description="re-asks per step under verify")
    format_retries: int = Field(2, ge=0, le=10, description="re-asks of an unreadable reply before the episode stops")
    planner: Literal["fixed", "llm"] = Field(
        "fixed", description="fixed: the scenario's own list of steps; llm: the model decomposes the task"
    )
    checker: Literal["oracle", "rules", "critic", "program"] = Field(
        "oracle", description="who judges a step for verify (anything but oracle turns verify on)"
    )
    critic_model: str | None = Field(None, description="the critic's model (None: the worker's model)")
    cot: bool = Field(False, description="the model may reason before a final `Answer:` line")
    inject_step: int | None = Field(None, ge=0, description="the step from which `inject`/`pad_chars` enter the context")
    inject: str = Field("", max_length=MAX_INJECT_CHARS, description="the instruction injected at inject_step")
    pad_chars: int = Field(0, ge=0, le=MAX_PAD_CHARS, description="irrelevant text padded into the context at inject_step")

    @model_validator(mode="before")
    @classmethod
    def _checker_verifies(cls, data: Any) -> Any:
        # A checker other than the oracle exists to be acted on: it turns verify on.
        if isinstance(data, dict) and data.get("checker", "oracle") != "oracle" and not data.get("verify"):
            data = {**data, "verify": True}
        return data

    @model_validator(mode="after")
    def _combination(self) -> Condition:
        why = combination_problem(self)
        if why is not None:
            raise ValueError(why)
        return self

    def identity(self) -> dict[str, Any]:
        """What identifies the condition in an episode's key: every field, except the fields
        added after stores existed while they keep their defaults — so the presets' keys (and
        every store written before) stay the same."""
        return self.model_dump(exclude=self._unchanged_later())

    def identity_json(self) -> str:
        """`identity` as compact JSON (what the loop derives request seeds from)."""
        return self.model_dump_json(exclude=self._unchanged_later())

    def _unchanged_later(self) -> set[str]:
        return {f for f in _LATER_FIELDS if getattr(self, f) == Condition.model_fields[f].default}


# Fields added after experiments were stored: left out of `identity` while at their defaults.
_LATER_FIELDS = ("planner", "checker", "critic_model", "cot", "inject_step", "inject", "pad_chars")
# Fields that bound a support's loop; changing them keeps the preset's name (as it always has).
_BOUNDS = ("k", "max_samples", "max_retries", "format_retries")
# The fields an override may set (the name is the preset's, or derived from it).
_SETTABLE = tuple(f for f in Condition.model_fields if f != "name")


def combination_problem(c: Condition) -> str | None:
    """Why the supports of `c` cannot run together, or None."""
    if c.planner == "llm" and not c.decompose:
        return "planner=llm plans steps, and decompose=false asks for the whole task in one call"
    if c.checker != "oracle" and not c.decompose:
        return f"checker={c.checker} judges atomic steps, and decompose=false has none"
    if c.critic_model is not None and c.checker != "critic":
        return "critic_model is the critic's model; it needs checker=critic"
    if c.inject_step is None and (c.inject or c.pad_chars):
        return "inject and pad_chars need inject_step (the step from which they enter the context)"
    if c.inject_step is not None and not (c.inject.strip() or c.pad_chars):
        return "inject_step needs inject (an instruction) or pad_chars (padding) to put into the context"
    if c.inject_step is not None and not c.decompose:
        return "inject_step needs decompose=true (with decompose=false the whole task is one call)"
    return None


PRESETS: dict[str, Condition] = {
    c.name: c
    for c in (
        Condition(name="oneshot", decompose=False, tape=False),
        Condition(name="stepwise", tape=False),
        Condition(name="tape"),
        Condition(name="vote", vote=True),
        Condition(name="verify", verify=True),
        Condition(name="full", vote=True, verify=True),
    )
}


def combination_name(base: str, cond: Condition) -> str:
    """`base` plus the supports `cond` changes from that preset (`tape+vote=true+planner=llm`);
    the bounds and the injected text do not rename it (label a condition to tell those apart)."""
    preset = PRESETS.get(base)
    if preset is None:
        return base
    parts = [base]
    for f in Condition.model_fields:
        if f in ("name", "inject", *_BOUNDS):
            continue
        v, p = getattr(cond, f), getattr(preset, f)
        if v != p and not (f == "verify" and cond.checker != "oracle" and not p):
            parts.append(f"{f}={str(v).lower() if isinstance(v, bool) else v}")
    return "+".join(parts)


def get_condition(name: str, /, **overrides: Any) -> Condition:
    """A preset by name, with any fields changed (k=5, vote=True, planner="llm", ...).

    Changing a support renames the condition (`tape+planner=llm`, so records tell it apart from
    the preset); changing only a bound keeps the name. An unknown field, a bad value or a
    combination that cannot run is an AgentloopError of one line.
    """
    try:
        base = PRESETS[name]
    except KeyError:
        raise AgentloopError(f"unknown condition {name!r}; choose one of: {', '.join(PRESETS)}") from None
    if not overrides:
        return base
    unknown = sorted(k for k in overrides if k not in _SETTABLE)
    if unknown:
        raise AgentloopError(f"condition {name}: unknown field {unknown[0]!r}; fields: {', '.join(_SETTABLE)}")
    try:
        cond = Condition.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        raise AgentloopError(f"condition {name}: {_problem(exc)}") from None
    return cond.model_copy(update={"name": combination_name(name, cond)})


def _problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    msg = err["msg"]
    if err["type"] == "value_error":  # a combination: our own sentence
        return msg.removeprefix("Value error, ")
    return f"{err['loc'][0]}={err.get('input')!r}: {msg.lower()}"


def parse_condition_overrides(pairs: dict[str, str]) -> dict[str, Any]:
    """`-C key=value` strings → typed override values (true/false, integers, none, text)."""
    out: dict[str, Any] = {}
    for key, text in pairs.items():
        if key not in _SETTABLE:
            raise AgentloopError(f"-C {key}: unknown condition field; fields: {', '.join(_SETTABLE)}")
        field = Condition.model_fields[key]
        low = text.lower()
        if field.annotation is bool or field.annotation == "bool":
            if low not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise AgentloopError(f"-C {key}={text!r}: expected true or false")
            out[key] = low in ("true", "1", "yes", "on")
        elif key in ("critic_model", "inject_step") and low in ("none", "null"):
            out[key] = None
        else:
            out[key] = text  # pydantic converts numbers and checks literals (lax mode)
    return out
