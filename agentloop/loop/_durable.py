"""An episode's durable state: what a checkpoint holds, and the format it is written in.

A checkpoint is taken at the end of a quantum (`_graph.advance`), never in the middle of a step:
the step index, the agent's committed state and the true state, the on-track flag, the usage
counters, the conversation (stepwise), the whole-task reply (oneshot), the wall time so far, and
the planner's and checker's own state. No model state: every request's randomness is keyed by
its seed (episode, step, attempt, sample), not by a position in a stream. The step records and
the committed answers are not in it: they are already in the store, written in the same
transaction, and a resumed episode reads them back from there.

States are written in a restricted JSON form (`encode`/`decode`), never pickled: plain JSON
values, and tags for tuples, sets, bytes, non-string dict keys and the scenario's own
NamedTuples and dataclasses. Decoding builds only those: a class named in a checkpoint must be
a NamedTuple, dataclass or pydantic model defined in the scenario's own module.
"""

from __future__ import annotations

import base64
import dataclasses
import sys
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from agentloop._kv import identity_args
from agentloop.errors import AgentloopError
from agentloop.loop._planner import plan_checkpoint, plan_restore
from agentloop.models import Message, ModelWrapper
from agentloop.types import StepRecord

if TYPE_CHECKING:
    from agentloop.loop._episode import Episode

FORMAT = 1  # the checkpoint layout; a checkpoint of another format is not used (the episode starts over)


class Unserialisable(AgentloopError):
    """A state holds a value the checkpoint format cannot write (or read back)."""


class Journal(Protocol):
    """Where a resumable episode's step records and checkpoints go (`ResultsStore.journal`)."""

    def load(self) -> dict[str, Any] | None:
        """The last checkpoint (its step records up to it are kept, later ones dropped), or None."""

    def save(self, records: list[StepRecord], prompts: dict[str, list[Message]], checkpoint: dict[str, Any] | None) -> None:
        """Write the new step records, and the checkpoint after them when given, at once."""

    def discard(self) -> None:
        """Forget the checkpoint and every step row: the episode starts over."""

    def step_ok(self, upto: int) -> bytes:
        """Steps 0..upto-1: 1 where the step was locally correct, else 0."""

    def committed_answers(self, upto: int) -> list[Any]:
        """The JSON answers of the committed steps before `upto`, in step order."""


# --- the restricted format -------------------------------------------------------------------


def encode(value: Any) -> Any:
    """A JSON value that `decode` turns back into `value` (Unserialisable when it cannot)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        fields = getattr(type(value), "_fields", None)
        if fields is not None:
            return {"$c": _name(value), "f": [encode(v) for v in value]}
        return {"$t": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"$d": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, frozenset):
        return {"$fs": [encode(v) for v in sorted(value, key=repr)]}
    if isinstance(value, set):
        return {"$s": [encode(v) for v in sorted(value, key=repr)]}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$c": _name(value), "a": {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}}
    if isinstance(value, BaseModel):
        return {"$c": _name(value), "a": {k: encode(getattr(value, k)) for k in type(value).model_fields}}
    raise Unserialisable(f"cannot checkpoint a {type(value).__name__}")


def _name(value: Any) -> str:
    return f"{type(value).__module__}:{type(value).__qualname__}"


def decode(obj: Any, module: str) -> Any:
    """The value `encode` wrote; classes only from `module` (the scenario's own)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [decode(v, module) for v in obj]
    if not isinstance(obj, dict) or len(obj) != (2 if "$c" in obj else 1):
        raise Unserialisable("not a checkpointed value")
    if "$t" in obj:
        return tuple(decode(v, module) for v in obj["$t"])
    if "$d" in obj:
        return {_hashable(decode(k, module)): decode(v, module) for k, v in obj["$d"]}
    if "$fs" in obj:
        return frozenset(_hashable(decode(v, module)) for v in obj["$fs"])
    if "$s" in obj:
        return {_hashable(decode(v, module)) for v in obj["$s"]}
    if "$b" in obj:
        return base64.b64decode(obj["$b"])
    if "$c" in obj:
        cls = _class(obj["$c"], module)
        if "f" in obj:
            if not (isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")):
                raise Unserialisable(f"{obj['$c']} is not a NamedTuple")
            return cls(*(decode(v, module) for v in obj["f"]))
        if not isinstance(obj.get("a"), dict):
            raise Unserialisable("not a checkpointed value")
        kwargs = {str(k): decode(v, module) for k, v in obj["a"].items()}
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            return cls(**kwargs)
        if dataclasses.is_dataclass(cls):
            return cls(**kwargs)
        raise Unserialisable(f"{obj['$c']} is not a dataclass")
    raise Unserialisable("not a checkpointed value")


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, dict, set)):
        raise Unserialisable("an unhashable key")
    return value


def _class(name: str, module: str) -> type:
    """A class of the scenario's module, named `module:qualname` (nothing else is ever built)."""
    mod, _, qualname = str(name).partition(":")
    if mod != module or not qualname or "<" in qualname:
        raise Unserialisable(f"a checkpoint may only name classes of {module}, not {name!r}")
    obj: Any = sys.modules.get(mod)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(obj, type):
        raise Unserialisable(f"no class {name!r}")
    return obj


# --- models under their wrappers ------------------------------------------------------------------


def innermost(model: Any) -> Any:
    """The model under all its wrappers (budgets, cache, retries)."""
    while isinstance(model, ModelWrapper):
        model = model.inner
    return model


# --- taking and restoring a checkpoint --------------------------------------------------------------


def identity(ep: Episode) -> dict[str, Any]:
    """What a checkpoint must agree with to be resumed: the same episode, run the same way."""
    return {
        "key": ep.key,
        "scenario": ep.scenario.name,
        "instance": ep.hint_key,
        "steps": len(ep.steps),
        "condition": ep.condition.model_dump(mode="json"),
        "model": ep.model.name,
        "model_args": json_safe(identity_args(dict(ep.model.args))),  # never a credential
        "limits": ep.limits.model_dump(mode="json"),
        "transcripts": ep.transcripts,
    }


def json_safe(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, sort_keys=True, default=str))


def capture(ep: Episode) -> dict[str, Any] | None:
    """The episode's state between two steps, as JSON (None when it cannot be written: the
    episode then runs on without checkpoints, and a re-run starts it over)."""
    if not ep.durable:
        return None
    try:
        state, true_state = encode(ep.tape.state), encode(ep.true_state)
        oneshot = None if ep.oneshot_answers is None else encode(list(ep.oneshot_answers))
        if not ep._checked:  # the first time: the state must also read back as it was
            module = type(ep.scenario).__module__
            if decode(state, module) != ep.tape.state or decode(true_state, module) != ep.true_state:
                raise Unserialisable("the state does not read back equal")
            ep._checked = True
    except (Unserialisable, RecursionError, ValueError, TypeError) as exc:
        ep.durable = False
        _log().warning("checkpoint.off", scenario=ep.scenario.name, reason=str(exc)[:200])
        return None
    import time

    return {
        "format": FORMAT,
        "identity": identity(ep),
        "step": len(ep.step_ok),
        "tape_length": len(ep.tape),
        "state": state,
        "true_state": true_state,
        "on_track": ep.on_track,
        "observation": ep.observation,
        "transcript": ep.transcript,
        "oneshot": oneshot,
        "oneshot_problem": ep.oneshot_problem,
        "oneshot_tokens_in": ep.oneshot_tokens_in,
        "calls": ep.calls,
        "retries": ep.retries,
        "format_retries": ep.format_retries,
        "tokens_in": ep.tokens_in,
        "tokens_out": ep.tokens_out,
        "cost": ep.cost,
        "wall_s": ep.earlier_s + time.perf_counter() - ep.started,
        "plan": plan_checkpoint(ep),
        "checker": ep.checker.checkpoint_state() if ep.checker is not None else None,
    }


def restore(ep: Episode, cp: dict[str, Any], journal: Journal) -> bool:
    """Continue `ep` from checkpoint `cp` (its step rows read back from `journal`); False, and
    `ep` untouched, when the checkpoint is not this episode's or does not read."""
    try:
        if cp.get("format") != FORMAT or cp.get("identity") != identity(ep):
            return False
        module = type(ep.scenario).__module__
        n = int(cp["step"])
        state, true_state = decode(cp["state"], module), decode(cp["true_state"], module)
        oneshot = None if cp["oneshot"] is None else decode(cp["oneshot"], module)
        counters = {k: int(cp[k]) for k in ("calls", "retries", "format_retries", "tokens_in", "tokens_out")}
        cost = None if cp["cost"] is None else float(cp["cost"])
        transcript = [{"role": str(m["role"]), "content": str(m["content"])} for m in cp["transcript"]]
        observation = None if cp["observation"] is None else str(cp["observation"])
        rest = (bool(cp["on_track"]), str(cp["oneshot_problem"]) if cp["oneshot_problem"] is not None else None,
                int(cp["oneshot_tokens_in"]), int(cp["tape_length"]), float(cp["wall_s"]))
        step_ok = bytearray(journal.step_ok(n))
        if len(step_ok) != n:
            return False
        answers = journal.committed_answers(n) if ep.tape.keeps_answers else None
        plan_restore(ep, cp.get("plan"))  # planner=llm: its pending subgoals and counters
    except (Unserialisable, KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        _log().warning("checkpoint.unusable", key=ep.key, reason=str(exc)[:200])
        return False
    ep.on_track, ep.oneshot_problem, ep.oneshot_tokens_in, tape_length, ep.earlier_s = rest
    ep.tape.resume(state, answers, tape_length)
    ep.true_state, ep.step_ok, ep.transcript, ep.observation, ep.oneshot_answers = (
        true_state, step_ok, transcript, observation, oneshot
    )
    for k, v in counters.items():
        setattr(ep, k, v)
    ep.cost = cost
    if ep.checker is not None and cp.get("checker") is not None:
        try:  # a rules, critic or program checker's tally and program
            ep.checker.restore_state(cp["checker"])
        except (TypeError, ValueError, KeyError) as exc:
            _log().warning("checkpoint.checker", key=ep.key, reason=str(exc)[:200])
    ep._checked = True
    return True


def _log():
    from agentloop._log import get_logger

    return get_logger("agentloop.loop")
