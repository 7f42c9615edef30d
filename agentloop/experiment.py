"""Experiments: a TOML grid of scenarios × params × conditions × models × seeds, run resumably.

    spec = load_experiment("scenarios/drift-study.toml")
    summary = run_experiment(spec, "runs/x")          # again later: runs only what is missing

Every episode has a deterministic key (a hash of what determines it), and the store keeps one
row per key, so a killed run resumes where it stopped and never repeats a finished episode.
Episodes run in worker threads (the loop is synchronous) or on a Ray cluster (`agentloop.executors`);
either way this module plans them and is the one writer of the store. `ConnectionLimit` bounds the
requests in flight to each model, and the budgets are enforced before every request (see
`agentloop.budget`).
One process at a time works in an output directory (an OS lock on DIR/.lock), and a grid or
an episode too big to run is refused before anything starts (`Sizes`).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentloop._kv import identity_args, redact_args, redact_argv
from agentloop.conditions import Condition
from agentloop.errors import AgentloopError

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib  # type: ignore[no-redef]
from agentloop.types import EpisodeRecord, Limits

__all__ = [
    "EpisodeTask",
    "ExperimentSpec",
    "RunSummary",
    "Sizes",
    "check_episode_size",
    "load_experiment",
    "parse_experiment",
    "plan_episodes",
    "run_experiment",
]

Scalar = Union[bool, int, float, str]

# Seeds are stored as SQLite integers (signed 64-bit).
MAX_SEED = 2**63 - 1


class Sizes(BaseModel):
    """How big a run may be before it is refused: an estimate is made before anything runs,
    since a huge episode (a million steps, a conversation of millions of tokens) or grid would
    otherwise exhaust memory or run for days. The CLI's --max-episodes, --max-steps and
    --max-prompt-tokens raise them."""

    model_config = ConfigDict(frozen=True)

    max_episodes: int = Field(100_000, ge=1, description="episodes in a grid")
    max_steps: int = Field(100_000, ge=1, description="atomic steps in one episode")
    max_prompt_tokens: int = Field(1_000_000, ge=1, description="estimated tokens of an episode's largest request")


class ScenarioSpec(BaseModel):
    """One scenario and its parameter grid: a list value is an axis, a scalar is fixed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    params: dict[str, Union[Scalar, list[Scalar]]] = {}

    @field_validator("params")
    @classmethod
    def _axes(cls, v: dict) -> dict:
        empty = [k for k, x in v.items() if isinstance(x, list) and not x]
        if empty:
            raise ValueError(f"parameter {empty[0]} is an empty list; an axis needs at least one value")
        return v

    def _axes_values(self) -> list[list[Scalar]]:
        return [v if isinstance(v, list) else [v] for v in self.params.values()]

    def size(self) -> int:
        """Cells in this scenario's grid, counted without building them."""
        return math.prod(len(a) for a in self._axes_values())

    def grid(self) -> Iterator[dict[str, Scalar]]:
        keys = list(self.params)
        return (dict(zip(keys, combo)) for combo in itertools.product(*self._axes_values()))


class ConditionSpec(BaseModel):
    """A preset condition by name, with any of its fields changed (`{name = "tape", vote = true,
    planner = "llm"}`) and a label to tell variants apart. A field left out keeps the preset's
    value; the combination is checked when the grid is planned (`agentloop.conditions`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label: str | None = None
    decompose: bool | None = None
    tape: bool | None = None
    vote: bool | None = None
    verify: bool | None = None
    k: Union[int, Literal["auto"], None] = None
    max_samples: int | None = None
    max_retries: int | None = None
    format_retries: int | None = None
    planner: str | None = None
    checker: str | None = None
    critic_model: str | None = None
    cot: bool | None = None
    inject_step: int | None = None
    inject: str | None = None
    pad_chars: int | None = None


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="provider/model, e.g. scripted/noisy or openai/gpt-4o-mini")
    args: dict[str, Scalar] = {}
    max_connections: int = Field(4, ge=1, le=1024, description="requests in flight at once to this model")

    @property
    def label(self) -> str:
        """Which model this is: credentials and retry settings are not part of it."""
        args = " ".join(f"{k}={v}" for k, v in sorted(identity_args(self.args).items()))
        return f"{self.name} {args}".strip()


class ExperimentSpec(BaseModel):
    """An experiment file, validated. `limits` bound each episode, `budget` the whole experiment
    (across re-runs: what earlier runs spent counts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seeds: Union[int, list[int]] = Field(10, description="a count (seeds 0..n-1) or a list of seeds")
    scenarios: list[ScenarioSpec] = Field(min_length=1)
    conditions: list[Union[str, ConditionSpec]] = Field(min_length=1)
    models: list[ModelSpec] = Field(min_length=1)
    limits: Limits = Limits()
    budget: Limits = Limits()
    cache: bool = Field(False, description="keep model replies in DIR/cache.sqlite and reuse them")
    transcripts: bool = Field(True, description="keep every reply's text and every request (off for huge runs)")
    executor: Literal["local", "ray"] = Field(
        "local", description="where episodes run: threads here, or a Ray cluster (the [ray] extra)"
    )

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: int | list[int]) -> int | list[int]:
        if isinstance(v, int) and not 1 <= v <= 100_000:
            raise ValueError("a seed count must be between 1 and 100000")
        if isinstance(v, list) and (not v or len(set(v)) != len(v)):
            raise ValueError("the seed list must be non-empty and without repeats")
        if isinstance(v, list) and not all(0 <= s <= MAX_SEED for s in v):
            raise ValueError(f"seeds must be between 0 and {MAX_SEED} (2^63 - 1)")
        return v

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def grid_size(self) -> int:
        """Episodes in the grid (before cells that validate alike are merged), counted, not built."""
        seeds = self.seeds if isinstance(self.seeds, int) else len(self.seeds)
        return sum(s.size() for s in self.scenarios) * len(self.conditions) * len(self.models) * seeds


class EpisodeTask(BaseModel):
    """One cell of the grid, resolved and validated."""

    model_config = ConfigDict(frozen=True)

    key: str
    scenario: str
    params: dict[str, Any]
    condition: Condition
    model: ModelSpec
    seed: int


def episode_key(scenario: str, params: dict[str, Any], condition: Condition, model: str, args: dict, seed: int) -> str:
    """The deterministic identity of an episode: the same inputs always give the same key.
    Credentials and retry settings are left out: a new key is the same episode."""
    blob = json.dumps(
        {
            "scenario": scenario,
            "params": params,
            "condition": condition.identity(),
            "model": model,
            "model_args": identity_args(args),
            "seed": seed,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


# --- loading and validation ----------------------------------------------------------------------


def load_experiment(path: str | Path, *, sizes: Sizes = Sizes()) -> ExperimentSpec:
    """Read, validate and resolve an experiment file; one-line AgentloopError naming line and field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise AgentloopError(f"cannot read experiment file {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise AgentloopError(f"{p}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})") from None
    return parse_experiment(text, source=str(p), sizes=sizes)


def parse_experiment(text: str, *, source: str = "<experiment>", sizes: Sizes = Sizes()) -> ExperimentSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AgentloopError(f"{source}: malformed TOML: {exc}") from None
    try:
        # strict: TOML has real booleans and numbers, so `cache = "yes"` or `max_calls = "5"` is a mistake
        spec = ExperimentSpec.model_validate(data, strict=True)
    except ValidationError as exc:
        err = _best_error(exc)
        loc = [x for x in err["loc"] if not _is_type_tag(x)]
        missing = err["type"] == "missing"
        raise AgentloopError(_located(text, source, loc, f"{err['msg'].lower()}{_got(err)}", missing=missing)) from None
    plan_episodes(spec, text=text, source=source, sizes=sizes)  # resolves every name now, before anything runs
    return spec


def _is_type_tag(x: Any) -> bool:
    """pydantic names the branch of a union in the error location (`str`, `ConditionSpec`, …)."""
    return isinstance(x, str) and (
        x[:1].isupper() or "[" in x or x in ("str", "int", "float", "bool", "list", "dict")
    )


def _best_error(exc: ValidationError) -> dict:
    """For a union, the branch that got furthest is the one the user meant (a table, not a string)."""
    errors = exc.errors()
    return max(errors, key=lambda e: len([x for x in e["loc"] if not _is_type_tag(x)]))


def _got(err: dict) -> str:
    if err["type"] in ("missing", "extra_forbidden"):
        return ""
    return f" (got {err.get('input')!r})"


def _field(loc: list) -> str:
    out = ""
    for x in loc:
        out += f"[{x}]" if isinstance(x, int) else (f".{x}" if out else str(x))
    return out or "(top level)"


def _located(text: str, source: str, loc: list, problem: str, *, missing: bool = False) -> str:
    """`FILE:LINE: field a.b[0].c: problem`; the line is where the field (or its table) is written."""
    line = _find_line(text, loc[:-1] if missing else loc) if (loc[:-1] or not missing) else None
    where = f"{source}:{line}" if line else source
    return f"{where}: field {_field(loc)}: {problem}"


def _key_pattern(name: str) -> re.Pattern:
    """`name = …` (also inside an inline table) or a `[name]` / `[[name]]` header."""
    n = re.escape(name)
    return re.compile(rf"(^|[\s{{,])\"?{n}\"?\s*=|^\s*\[+\s*{n}\s*\]")


def _find_line(text: str, loc: list) -> int | None:
    """The 1-based line where the field at `loc` is written (or its nearest enclosing table)."""
    lines = [ln.split("#", 1)[0] for ln in text.splitlines()]
    if not loc or not isinstance(loc[0], str):
        return None
    top, rest = loc[0], loc[1:]
    start = stop = None
    if rest and isinstance(rest[0], int):  # the i-th [[top]] block, if written as an array of tables
        headers = [i for i, ln in enumerate(lines) if re.match(rf"^\s*\[\[\s*{re.escape(top)}\s*\]\]", ln)]
        if rest[0] < len(headers):
            start = headers[rest[0]]
            stop = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    if start is None:
        start = next((i for i, ln in enumerate(lines) if _key_pattern(top).search(ln)), None)
        if start is None:
            return None
        stop = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        if not lines[start].lstrip().startswith("["):
            stop = start + 1  # a `key = value` line: nested fields are on it (inline tables)
    for name in [x for x in reversed(rest) if isinstance(x, str)]:
        for i in range(start, stop):
            if _key_pattern(name).search(lines[i]):
                return i + 1
    return start + 1


def plan_episodes(
    spec: ExperimentSpec, *, text: str | None = None, source: str = "<experiment>", sizes: Sizes = Sizes()
) -> list[EpisodeTask]:
    """Every episode of the grid, in a stable order, each with its key. A grid or an episode
    past `sizes` is refused first (the grid is counted before it is built)."""
    from agentloop.conditions import get_condition
    from agentloop.scenarios import get_scenario, parse_params

    def fail(loc: list, exc: AgentloopError) -> AgentloopError:
        return AgentloopError(_located(text or "", source, loc, str(exc)))

    n = spec.grid_size()
    if n > sizes.max_episodes:
        problem = f"the grid has {n:,} episodes, more than --max-episodes {sizes.max_episodes:,}"
        raise AgentloopError(_located(text or "", source, ["scenarios"], problem))

    conditions: list[Condition] = []
    for i, c in enumerate(spec.conditions):
        cs = ConditionSpec(name=c) if isinstance(c, str) else c
        overrides = {k: v for k, v in cs.model_dump(exclude={"name", "label"}).items() if v is not None}
        try:
            cond = get_condition(cs.name, **overrides)
        except AgentloopError as exc:
            raise fail(["conditions", i] if isinstance(c, str) else ["conditions", i, "name"], exc) from None
        if cs.label:
            cond = cond.model_copy(update={"name": cs.label})
        conditions.append(cond)
    names = [c.name for c in conditions]
    if len(set(names)) != len(names):
        problem = "two conditions share a name; give one a label"
        raise AgentloopError(_located(text or "", source, ["conditions"], problem))
    labels = [m.label for m in spec.models]
    if len(set(labels)) != len(labels):
        problem = "two models have the same name and arguments (credentials and retries do not tell models apart)"
        raise AgentloopError(_located(text or "", source, ["models"], problem))
    for i, m in enumerate(spec.models):
        provider, sep, rest = m.name.partition("/")
        if not sep or not provider or not rest:
            raise AgentloopError(
                _located(text or "", source, ["models", i, "name"], f"model names are provider/model, got {m.name!r}")
            )
        if provider == "scripted":
            from agentloop.models import get_model

            try:
                get_model(m.name, **m.args)
            except AgentloopError as exc:
                raise fail(["models", i, "args"], exc) from None
    seeds = spec.seed_list()
    tasks: dict[str, EpisodeTask] = {}  # by key: cells that validate to the same params run once
    for i, s in enumerate(spec.scenarios):
        try:
            sc = get_scenario(s.name)
        except AgentloopError as exc:
            raise fail(["scenarios", i, "name"], exc) from None
        for values in s.grid():
            try:
                p = parse_params(sc, values)
                check_episode_size(sc, p, conditions, seeds[0], sizes)
            except AgentloopError as exc:
                raise fail(["scenarios", i, "params"], exc) from None
            if any(c.checker != "oracle" for c in conditions):
                from agentloop.loop._checking import check_checker

                try:
                    for cond in conditions:
                        for m in spec.models:
                            check_checker(sc, p, cond, simulated=m.name.startswith("scripted/"))
                except AgentloopError as exc:
                    raise fail(["conditions"], exc) from None
            params = p.model_dump()
            for cond in conditions:
                for m in spec.models:
                    for seed in seeds:
                        key = episode_key(s.name, params, cond, m.name, dict(m.args), seed)
                        if key not in tasks:
                            tasks[key] = EpisodeTask(
                                key=key, scenario=s.name, params=params, condition=cond, model=m, seed=seed
                            )
    return list(tasks.values())


def check_episode_size(sc, params, conditions: list[Condition], seed: int, sizes: Sizes = Sizes()) -> None:
    """Refuse, with one line, an episode (of `params` under any of `conditions`) whose steps or
    largest request pass `sizes`.

    The steps are counted on the instance. The largest request is estimated from the first
    step at ≈4 characters a token: with a tape every request is about the same size; without
    one (stepwise) the conversation grows by a question and an answer per step; oneshot asks
    once, with the initial state.
    """
    inst = sc.generate(params, seed)
    steps = sc.steps(inst)
    what = f"{sc.name} {' '.join(f'{k}={v}' for k, v in params.model_dump().items())}"
    if len(steps) > sizes.max_steps:
        raise AgentloopError(
            f"{what}: an episode has {len(steps):,} steps, more than --max-steps {sizes.max_steps:,} "
            "(raise it to run it)"
        )
    if not steps:
        return
    first, state = steps[0], sc.initial_state(inst)
    head = len(sc.rules(inst)) + len(sc.show_initial(inst))
    if any(c.planner == "llm" for c in conditions):
        from agentloop.loop._planner import check_planner

        check_planner(sc, params)
    for condition in conditions:
        if not condition.decompose:
            chars = head + len(sc.oneshot_format(inst))
        elif condition.tape:
            chars = head + len(sc.step_prompt(inst, first, sc.window(inst, state, first)))
        else:  # each step adds two turns (≈4 tokens of overhead each) to the conversation
            turn = len(sc.step_prompt(inst, first, None)) + len(sc.format_answer(sc.solve(inst, state, first))) + 32
            chars = head + turn * len(steps)
        if chars // 4 > sizes.max_prompt_tokens:
            raise AgentloopError(
                f"{what} under {condition.name}: its largest request is about {chars // 4:,} tokens, more than "
                f"--max-prompt-tokens {sizes.max_prompt_tokens:,} (raise it to run it)"
            )


# --- running ---------------------------------------------------------------------------------------


class RunSummary(BaseModel):
    """What one `run_experiment` call did."""

    out_dir: str
    store: str
    planned: int
    already_done: int
    ran: int = 0
    stored: int = 0
    aborted: int = 0
    budget_exhausted: bool = False
    interrupted: bool = False
    wall_s: float = 0.0
    episodes_per_s: float = 0.0
    calls: int = 0
    model_busy_s: float = Field(0.0, description="summed model latency; / wall_s = mean requests in flight")
    peak_in_flight: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    simulated: bool = False
    provider_errors: int = Field(
        0, description="episodes still ended by a provider failure after their re-runs (not stored; retried next run)"
    )
    requeued: int = Field(0, description="re-runs of episodes that ended with a provider failure")
    first_error: str | None = None
    missing: int = Field(0, description="planned episodes not stored when the run ended")
    warnings: list[str] = []


def provenance() -> dict[str, Any]:
    """What produced the results: versions, git commit and dirty flag, Python, start time."""
    import platform
    import subprocess
    from datetime import datetime, timezone
    from importlib import metadata

    from agentloop import __version__

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    packages = {}
    for name in ("pydantic", "langgraph", "litellm", "tenacity", "numpy", "scipy", "statsmodels", "matplotlib"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {
        "agentloop_version": __version__,
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
        "packages": packages,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": redact_argv(sys.argv),
    }


def run_experiment(
    spec: ExperimentSpec | str | Path,
    out_dir: str | Path,
    *,
    progress: bool | None = None,
    stop: threading.Event | None = None,
    append: bool = False,
    sizes: Sizes = Sizes(),
    executor: str | None = None,
) -> RunSummary:
    """Run every episode of `spec` that `out_dir/results.sqlite` does not hold yet.

    `progress`: a rich progress bar on stderr (default: only when stderr is a terminal).
    `stop`: set it (from another thread) to finish early; episodes in flight are dropped.
    KeyboardInterrupt stops the same way and is re-raised once the store is consistent.
    `append`: allow a store that holds another experiment (by name) to take this one too.
    `executor`: "local" (threads) or "ray" (a Ray cluster: `RAY_ADDRESS`, or one started for the
    run); default: the file's `executor`. The same episodes, keys, budgets and records either way.
    Another process working in `out_dir`, or a grid past `sizes`, is an AgentloopError.
    """
    from agentloop.store import ResultsStore

    if not isinstance(spec, ExperimentSpec):
        spec = load_experiment(spec, sizes=sizes)
    if executor is not None:
        from agentloop.executors import check_executor

        check_executor(executor)
        spec = spec.model_copy(update={"executor": executor})
    tasks = plan_episodes(spec, sizes=sizes)
    out = _make_dir(Path(out_dir))
    with _lock_dir(out), ResultsStore(out / "results.sqlite") as store:
        _refuse_other_experiment(store, spec, out, append)
        done = store.episode_keys()
        todo = [t for t in tasks if t.key not in done]
        stored = spec.model_dump(mode="json")
        for m in stored["models"]:
            m["args"] = redact_args(m["args"])
        run_id = store.begin_run(stored, provenance())
        summary = RunSummary(
            out_dir=str(out), store=str(store.path), planned=len(tasks), already_done=len(tasks) - len(todo)
        )
        if progress is None:
            progress = sys.stderr.isatty()
        stop = stop or threading.Event()
        try:
            _run_coroutine(_run_all(spec, todo, store, run_id, summary, out, progress, stop, spec.executor))
        except KeyboardInterrupt:
            summary.interrupted = True
            raise
        finally:  # however the run ends, it is recorded as ended
            summary.missing = len(todo) - summary.stored
            summary.warnings = _warnings(summary)
            store.end_run(run_id, summary.model_dump())
        return summary


def _make_dir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise AgentloopError(f"--out {out} exists and is not a directory") from None
    except OSError as exc:
        raise AgentloopError(f"cannot create --out {out}: {exc.strerror or exc}") from None
    return out


@contextmanager
def _lock_dir(out: Path) -> Iterator[None]:
    """One process at a time in an output directory: an OS lock on DIR/.lock, which the OS
    releases when the process ends, however it ends (so a killed run never blocks the next)."""
    try:
        f = open(out / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 (held until the run ends)
    except OSError as exc:
        raise AgentloopError(f"cannot write in --out {out}: {exc.strerror or exc}") from None
    try:
        if not _try_lock(f):
            f.seek(0)
            holder = f.read().strip()
            by = f" (pid {holder})" if holder.isdigit() else ""
            raise AgentloopError(
                f"--out {out} is in use by another agentloop process{by}; wait for it or use another --out"
            )
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        yield
    finally:
        f.close()


def _try_lock(f) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _refuse_other_experiment(store, spec: ExperimentSpec, out: Path, append: bool) -> None:
    """A store holds one experiment unless asked to take another: two files with different
    names would otherwise merge silently, and the report would show both under the first."""
    names = sorted({r["spec"].get("name") for r in store.runs()} - {None})
    if names and spec.name not in names and not append:
        raise AgentloopError(
            f"--out {out} holds experiment {names[0]!r}, not {spec.name!r}; use another --out, or --append to add it"
        )


def _warnings(s: RunSummary) -> list[str]:
    """Why episodes are missing, one line each."""
    out = []
    if s.budget_exhausted:
        out.append("the experiment budget is spent; episodes not run are missing (raise [budget] and run again)")
    if s.provider_errors:
        out.append(
            f"{s.provider_errors} episodes ended with a provider error even after {_REQUEUE_ROUNDS} re-runs (not "
            f"stored; run again to retry); first: {s.first_error}"
        )
    if s.missing and not out:
        out.append(f"{s.missing} episodes are missing (the run was stopped); run the same command again to finish")
    return out


def _run_coroutine(coro) -> None:
    """asyncio.run, also from a thread that already runs an event loop (a Jupyter notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentloop-runner") as ex:
        ex.submit(asyncio.run, coro).result()


# Provider failures in a row, before any episode succeeded, after which the run stops.
_GIVE_UP_AFTER = 3
# Rounds in which episodes that ended with a provider error run again, within one run.
_REQUEUE_ROUNDS = 2


async def _run_all(spec, todo, store, run_id, summary: RunSummary, out: Path, show: bool, stop: threading.Event,
                   executor: str = "local"):
    """Every episode of `todo`, run by `executor` (`agentloop.executors`) and stored here; those
    that end with a provider error run again at the end of the round, up to `_REQUEUE_ROUNDS`
    times (a fault that outlasted the retries may be gone)."""
    from agentloop.executors import make_executor

    if not todo:
        return
    started = time.perf_counter()
    ledger = store.ledger(spec.budget, run_id)
    sems = {m.label: asyncio.Semaphore(m.max_connections) for m in spec.models}
    try:
        runner = make_executor(executor, spec, out, ledger=ledger, store_path=store.path, run_id=run_id, stop=stop,
                               episodes=len(todo))
    except BaseException:
        ledger.close()
        raise
    bar = _Progress(len(todo), show)
    errored: list[tuple[EpisodeTask, EpisodeRecord]] = []
    failures = 0

    async def one(task: EpisodeTask, last_round: bool) -> None:
        nonlocal failures
        async with sems[task.model.label]:
            exhausted = ledger.exhausted()
            if stop.is_set() or exhausted:
                summary.budget_exhausted = summary.budget_exhausted or exhausted
                return
            rec, refused = await runner.run(task)
        summary.ran += 1
        summary.calls += rec.calls
        # a record whose steps streamed into the store (a local episode) has them there
        summary.model_busy_s += sum(s.latency_s for s in rec.steps) if rec.steps else store.latency_s(task.key)
        summary.simulated = summary.simulated or rec.simulated
        spent = (rec.calls, rec.tokens_in + rec.tokens_out, rec.cost or 0.0)  # for the record; the ledger counts
        if refused is not None and refused.scope != "episode":
            # Cut short by the experiment budget or a stop: not a result.
            store.add_aborted(task.key, run_id, refused.scope, *spent)
            summary.aborted += 1
            summary.budget_exhausted = summary.budget_exhausted or refused.scope == "experiment"
        elif rec.status == "error":
            # A provider failure (after the retry layer gave up) says nothing about the model's
            # skill: not stored; it runs again in the next round, or in the next run.
            store.add_aborted(task.key, run_id, "error", *spent)
            errored.append((task, rec))
            failures += 1
            if failures >= _GIVE_UP_AFTER and summary.stored == 0:
                stop.set()  # nothing works (a missing key, a wrong model name): stop paying for it
            if not last_round:
                return  # the bar advances when it runs again
        elif store.add_episode(task.key, rec, run_id):
            summary.stored += 1
        bar.advance()

    try:
        with bar:
            pending = todo
            for round_ in range(_REQUEUE_ROUNDS + 1):
                errored.clear()
                await asyncio.gather(*(one(t, round_ == _REQUEUE_ROUNDS) for t in pending))
                pending = [t for t, _ in errored]
                if not pending or stop.is_set() or round_ == _REQUEUE_ROUNDS:
                    break
                summary.requeued += len(pending)
    except BaseException:
        stop.set()  # Ctrl-C or a failure: episodes in flight end at their next request
        raise
    finally:
        stats = runner.close(wait=not stop.is_set())
        ledger.close()
        summary.peak_in_flight = stats.peak_in_flight
        summary.cache_hits, summary.cache_misses = stats.cache_hits, stats.cache_misses
        summary.provider_errors = len(errored)
        summary.first_error = errored[0][1].error if errored else None
        summary.wall_s = time.perf_counter() - started
        summary.episodes_per_s = summary.ran / summary.wall_s if summary.wall_s > 0 else 0.0


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, total: int, show: bool) -> None:
        self.total, self.show = total, show and total > 0
        self._p = None

    def __enter__(self):
        if self.show:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._p = Progress(
                TextColumn("episodes"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=Console(stderr=True), transient=False,
            )
            self._p.__enter__()
            self._task = self._p.add_task("episodes", total=self.total)
        return self

    def advance(self) -> None:
        if self._p is not None:
            self._p.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)


def with_models(
    spec: ExperimentSpec,
    names: list[str],
    args: dict[str, Any] | None = None,
    max_connections: int | None = None,
    *,
    sizes: Sizes = Sizes(),
) -> ExperimentSpec:
    """The same experiment on other models (the CLI's `--model`); every model gets `args`."""
    models = [
        ModelSpec(name=n, args=dict(args or {}), **({"max_connections": max_connections} if max_connections else {}))
        for n in names
    ]
    out = spec.model_copy(update={"models": models})
    plan_episodes(out, source="--model", sizes=sizes)
    return out
