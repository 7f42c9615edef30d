"""Experiments: a TOML grid of scenarios × params × conditions × models × seeds, run resumably.

    spec = load_experiment("scenarios/drift-study.toml")
    summary = run_experiment(spec, "runs/x")          # again later: runs only what is missing

Every episode has a deterministic key (a hash of what determines it), and the store keeps one
row per key, so a killed run resumes where it stopped and never repeats a finished episode.
Episodes run in worker threads (the loop is synchronous); `ConnectionLimit` bounds the requests
in flight to each model, and the budgets are enforced before every request (see `agentloop.budget`).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentloop.conditions import Condition
from agentloop.errors import AgentloopError
from agentloop.models import ModelWrapper, redact_args

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib  # type: ignore[no-redef]
from agentloop.types import EpisodeRecord, Limits

__all__ = [
    "EpisodeTask",
    "ExperimentSpec",
    "RunSummary",
    "load_experiment",
    "parse_experiment",
    "plan_episodes",
    "run_experiment",
]

Scalar = Union[bool, int, float, str]


class ScenarioSpec(BaseModel):
    """One scenario and its parameter grid: a list value is an axis, a scalar is fixed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    params: dict[str, Union[Scalar, list[Scalar]]] = {}

    def grid(self) -> list[dict[str, Scalar]]:
        keys = list(self.params)
        axes = [v if isinstance(v, list) else [v] for v in self.params.values()]
        return [dict(zip(keys, combo)) for combo in itertools.product(*axes)]


class ConditionSpec(BaseModel):
    """A preset condition, optionally with its bounds changed and a label to tell variants apart."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label: str | None = None
    k: int | None = None
    max_samples: int | None = None
    max_retries: int | None = None


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="provider/model, e.g. scripted/noisy or openai/gpt-4o-mini")
    args: dict[str, Scalar] = {}
    max_connections: int = Field(4, ge=1, le=1024, description="requests in flight at once to this model")

    @property
    def label(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in sorted(self.args.items()))
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

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: int | list[int]) -> int | list[int]:
        if isinstance(v, int) and not 1 <= v <= 100_000:
            raise ValueError("a seed count must be between 1 and 100000")
        if isinstance(v, list) and (not v or len(set(v)) != len(v)):
            raise ValueError("the seed list must be non-empty and without repeats")
        return v

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


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
    """The deterministic identity of an episode: the same inputs always give the same key."""
    blob = json.dumps(
        {
            "scenario": scenario,
            "params": params,
            "condition": condition.model_dump(),
            "model": model,
            "model_args": args,
            "seed": seed,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


# --- loading and validation ----------------------------------------------------------------------


def load_experiment(path: str | Path) -> ExperimentSpec:
    """Read, validate and resolve an experiment file; one-line AgentloopError naming line and field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise AgentloopError(f"cannot read experiment file {p}: {exc.strerror or exc}") from None
    return parse_experiment(text, source=str(p))


def parse_experiment(text: str, *, source: str = "<experiment>") -> ExperimentSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AgentloopError(f"{source}: malformed TOML: {exc}") from None
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        err = _best_error(exc)
        loc = [x for x in err["loc"] if not _is_type_tag(x)]
        missing = err["type"] == "missing"
        raise AgentloopError(_located(text, source, loc, f"{err['msg'].lower()}{_got(err)}", missing=missing)) from None
    plan_episodes(spec, text=text, source=source)  # resolves every name now, before anything runs
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


def plan_episodes(spec: ExperimentSpec, *, text: str | None = None, source: str = "<experiment>") -> list[EpisodeTask]:
    """Every episode of the grid, in a stable order, each with its key."""
    from agentloop.conditions import get_condition
    from agentloop.scenarios import get_scenario, parse_params

    def fail(loc: list, exc: AgentloopError) -> AgentloopError:
        return AgentloopError(_located(text or "", source, loc, str(exc)))

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
                params = parse_params(sc, values).model_dump()
            except AgentloopError as exc:
                raise fail(["scenarios", i, "params"], exc) from None
            for cond in conditions:
                for m in spec.models:
                    for seed in seeds:
                        key = episode_key(s.name, params, cond, m.name, dict(m.args), seed)
                        if key not in tasks:
                            tasks[key] = EpisodeTask(
                                key=key, scenario=s.name, params=params, condition=cond, model=m, seed=seed
                            )
    return list(tasks.values())


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
    provider_errors: int = Field(0, description="episodes ended by a provider failure (not stored; retried next run)")
    first_error: str | None = None


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
        "argv": sys.argv,
    }


def run_experiment(
    spec: ExperimentSpec | str | Path,
    out_dir: str | Path,
    *,
    progress: bool | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Run every episode of `spec` that `out_dir/results.sqlite` does not hold yet.

    `progress`: a rich progress bar on stderr (default: only when stderr is a terminal).
    `stop`: set it (from another thread) to finish early; episodes in flight are dropped.
    KeyboardInterrupt stops the same way and is re-raised once the store is consistent.
    """
    from agentloop.store import ResultsStore

    if not isinstance(spec, ExperimentSpec):
        spec = load_experiment(spec)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AgentloopError(f"--out {out} exists and is not a directory")
    tasks = plan_episodes(spec)
    store = ResultsStore(out / "results.sqlite")
    try:
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
            _run_coroutine(_run_all(spec, todo, store, run_id, summary, out, progress, stop))
        except KeyboardInterrupt:
            summary.interrupted = True
            store.end_run(run_id, summary.model_dump())
            raise
        store.end_run(run_id, summary.model_dump())
        return summary
    finally:
        store.close()


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


def _build_models(spec: ExperimentSpec, out: Path) -> tuple[dict[str, Any], Any]:
    from agentloop.models import get_model
    from agentloop.store import CachingModel, ResponseCache

    cache = ResponseCache(out / "cache.sqlite") if spec.cache else None
    models = {}
    for m in spec.models:
        model = get_model(m.name, **m.args)
        model = CachingModel(model, cache) if cache is not None else model
        # Episodes may send several requests at once (the samples of a vote): the connection
        # limit holds per request, not per episode.
        models[m.label] = ConnectionLimit(model, m.max_connections)
    return models, cache


class ConnectionLimit(ModelWrapper):
    """At most `n` requests in flight to the wrapped model, across all threads; `peak` is the
    most that ever were (the achieved concurrency)."""

    def __init__(self, inner, n: int) -> None:
        super().__init__(inner)
        self._slots = threading.BoundedSemaphore(n)
        self._lock = threading.Lock()
        self._in_flight = 0
        self.peak = 0

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def complete(self, messages, *, hint=None, sample: int = 0, seed: int | None = None):
        with self._slots:
            self._enter()
            try:
                return self.inner.complete(messages, hint=hint, sample=sample, seed=seed)
            finally:
                self._leave()

    async def acomplete(self, messages, *, hint=None, sample: int = 0, seed: int | None = None):
        await asyncio.to_thread(self._slots.acquire)
        self._enter()
        try:
            return await self.inner.acomplete(messages, hint=hint, sample=sample, seed=seed)
        finally:
            self._leave()
            self._slots.release()


async def _run_all(spec, todo, store, run_id, summary: RunSummary, out: Path, show: bool, stop: threading.Event):
    from agentloop.budget import Budget

    started = time.perf_counter()
    models, cache = _build_models(spec, out) if todo else ({}, None)
    calls, tokens, cost = store.spent()
    experiment_budget = Budget(spec.budget, "experiment", calls=calls, tokens=tokens, cost=cost)
    sems = {m.label: asyncio.Semaphore(m.max_connections) for m in spec.models}
    workers = max(1, sum(min(m.max_connections, len(todo)) for m in spec.models))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agentloop-episode")
    loop = asyncio.get_running_loop()
    bar = _Progress(len(todo), show)

    async def one(task: EpisodeTask) -> None:
        async with sems[task.model.label]:
            exhausted = experiment_budget.exhausted()
            if stop.is_set() or exhausted:
                summary.budget_exhausted = summary.budget_exhausted or exhausted
                return
            rec, refused = await loop.run_in_executor(
                pool, _run_one, task, models[task.model.label], spec.limits, experiment_budget, stop, spec.transcripts
            )
        summary.ran += 1
        summary.calls += rec.calls
        summary.model_busy_s += sum(s.latency_s for s in rec.steps)
        summary.simulated = summary.simulated or rec.simulated
        spent = (rec.calls, rec.tokens_in + rec.tokens_out, rec.cost or 0.0)
        if refused is not None and refused.scope != "episode":
            # Cut short by the experiment budget or a stop: not a result. Its spend still counts.
            store.add_aborted(task.key, run_id, refused.scope, *spent)
            summary.aborted += 1
            summary.budget_exhausted = summary.budget_exhausted or refused.scope == "experiment"
        elif rec.status == "error":
            # A provider failure (after the retry layer gave up) says nothing about the model's
            # skill: not stored, so the next run retries it; its spend still counts.
            store.add_aborted(task.key, run_id, "error", *spent)
            summary.provider_errors += 1
            summary.first_error = summary.first_error or rec.error
            if summary.provider_errors >= _GIVE_UP_AFTER and summary.stored == 0:
                stop.set()  # nothing works (a missing key, a wrong model name): stop paying for it
        elif store.add_episode(task.key, rec, run_id):
            summary.stored += 1
        bar.advance()

    try:
        with bar:
            await asyncio.gather(*(one(t) for t in todo))
    except BaseException:
        stop.set()  # Ctrl-C or a failure: episodes in flight end at their next request
        raise
    finally:
        pool.shutdown(wait=not stop.is_set(), cancel_futures=True)
        summary.wall_s = time.perf_counter() - started
        summary.episodes_per_s = summary.ran / summary.wall_s if summary.wall_s > 0 else 0.0
        summary.peak_in_flight = max((m.peak for m in models.values()), default=0)
        if cache is not None:
            summary.cache_hits, summary.cache_misses = cache.hits, cache.misses
            cache.close()


def _run_one(
    task: EpisodeTask, model, limits: Limits, experiment_budget, stop: threading.Event, transcripts: bool = True
):
    """One episode in a worker thread, behind its budgets. Returns (record, refusal or None)."""
    from agentloop.budget import Budget, GuardedModel
    from agentloop.loop import run_episode

    guarded = GuardedModel(model, [Budget(limits, "episode"), experiment_budget], stop)
    rec: EpisodeRecord = run_episode(
        task.scenario,
        task.params,
        condition=task.condition,
        model=guarded,
        model_args=dict(task.model.args),
        seed=task.seed,
        limits=limits,
        key=task.key,  # every request's seed derives from it: a re-run replays the same requests
        transcripts=transcripts,
    )
    refused = guarded.refused
    if refused is not None and refused.scope == "episode" and rec.status == "error":
        rec = rec.model_copy(update={"status": "budget", "success": False})
    return rec, refused


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
    spec: ExperimentSpec, names: list[str], args: dict[str, Any] | None = None, max_connections: int | None = None
) -> ExperimentSpec:
    """The same experiment on other models (the CLI's `--model`); every model gets `args`."""
    models = [
        ModelSpec(name=n, args=dict(args or {}), **({"max_connections": max_connections} if max_connections else {}))
        for n in names
    ]
    out = spec.model_copy(update={"models": models})
    plan_episodes(out, source="--model")
    return out
