"""agentloop inside inspect_ai (the `[inspect]` extra; docs/interop.md).

    inspect eval agentloop/eca -T rule=110 -T width=16 -T condition=tape --model openai/gpt-4o-mini

Every registered scenario is an inspect task `agentloop/<scenario>` (and `agentloop/scenario
-T scenario=package.module:Class` takes any other): one sample per seed, agentloop's loop as
the solver, the scenario's verdicts as the scorer. The inspect model is reached through a small
agentloop `Model` (`InspectModel`) around inspect's `get_model().generate`, so every request
is an inspect model event; each step's record (its attempts, replies, verdict, vote tally) is
an info event as the episode runs, and the store holds the episode's record. With
`-T agentloop_model=scripted/noisy` the episode runs on an agentloop model instead and needs no
inspect model (`--model none`).

The other direction, `export_inspect` (`agentloop export DIR --format inspect`), writes an
experiment's stored episodes as inspect logs, one per cell, with inspect's own log types.

inspect_ai finds this module through the entry point `inspect_ai: agentloop` (pyproject.toml);
it imports inspect_ai, and nothing in agentloop imports it except on demand.

Offline: inspect's default token estimator (used by `mockllm/model` for replies without usage)
loads tiktoken's o200k_base, which tiktoken downloads on first use. `AGENTLOOP_INSPECT_TOKENS=chars`
in the environment replaces it, when this module is loaded, with ≈4 characters a token
(`chars_per_token`), so `inspect eval agentloop/... --model mockllm/model` runs with no network.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import (
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    ModelOutput,
)
from inspect_ai.model import Model as InspectApiModel
from inspect_ai.model import get_model as inspect_get_model
from inspect_ai.scorer import Metric, SampleScore, Score, Target, mean, metric, scorer, stderr
from inspect_ai.solver import Generate, TaskState, solver
from inspect_ai.util import store

from agentloop.conditions import Condition, get_condition
from agentloop.errors import AgentloopError, ModelError
from agentloop.models import Message, get_model, redact_args
from agentloop.scenarios import Scenario, get_scenario, list_scenarios, parse_params
from agentloop.types import Completion, EpisodeRecord, Limits, StepRecord

__all__ = [
    "InspectModel",
    "agentloop_scorer",
    "agentloop_solver",
    "agentloop_task",
    "chars_per_token",
    "emit_steps",
    "export_inspect",
    "record_score",
    "use_offline_token_estimate",
]

RECORD_KEY = "agentloop:record"  # the store entry with the episode's record (its steps apart)
STEPS_KEY = "agentloop:steps"  # the store entry with one line per step
SCORER = "agentloop_scorer"  # the scorer's name in a live log (its function's name)
# Task parameters that are not the scenario's (everything else given with -T is).
TASK_PARAMS = (
    "condition", "k", "max_samples", "max_retries", "format_retries", "seeds", "first_seed",
    "agentloop_model", "model_args", "max_calls", "max_tokens", "max_cost", "transcripts",
)


TOKENS_ENV = "AGENTLOOP_INSPECT_TOKENS"


def chars_per_token(text: str) -> int:
    """A token estimate that needs no tokenizer file: ≈4 characters a token."""
    return max(1, (len(text) + 3) // 4)


def use_offline_token_estimate() -> None:
    """Replace inspect's default token estimator (tiktoken's o200k_base, downloaded on first use)
    with `chars_per_token`, in this process."""
    import inspect_ai.model._model as model_module

    model_module.count_text_tokens = chars_per_token


if os.environ.get(TOKENS_ENV, "").strip().lower() == "chars":
    use_offline_token_estimate()


# --- the model: inspect's, behind agentloop's Model protocol --------------------------------------
class InspectModel:
    """An agentloop `Model` that sends each request to an inspect model on the eval's event loop.

    agentloop's loop is synchronous and runs in a worker thread (vote samples in threads of
    their own); each request is scheduled on the event loop that runs the sample, in the
    sample's context, so it is an ordinary inspect model call: its model event, usage, limits
    and concurrency are inspect's. inspect retries transient failures itself; what it raises
    ends the episode with status `error`.
    """

    simulated = False

    def __init__(self, model: InspectApiModel, loop: asyncio.AbstractEventLoop, context: contextvars.Context,
                 config: GenerateConfig | None = None) -> None:
        self.model = model
        self.name = f"inspect/{model}"
        self.args: dict[str, Any] = {}
        self._loop = loop
        self._context = context
        self._config = config or GenerateConfig()

    def complete(self, messages: list[Message], *, hint: Any = None, sample: int = 0, seed: int | None = None) -> Completion:
        return on_loop(self._loop, self._context, lambda: self._generate(messages, seed))

    async def acomplete(self, messages: list[Message], *, hint: Any = None, sample: int = 0, seed: int | None = None) -> Completion:
        return await asyncio.to_thread(self.complete, messages, hint=hint, sample=sample, seed=seed)

    async def _generate(self, messages: list[Message], seed: int | None) -> Completion:
        started = time.perf_counter()
        try:
            out = await self.model.generate(to_chat(messages), config=self._config.merge(GenerateConfig(seed=seed)))
        except Exception as exc:
            raise ModelError(f"{self.name}: {type(exc).__name__}: {exc}") from None
        text = out.completion or ""
        usage = out.usage
        return Completion(
            text=text,
            tokens_in=usage.input_tokens if usage else sum(len(m["content"]) // 4 + 4 for m in messages),
            tokens_out=usage.output_tokens if usage else len(text) // 4 + 1,
            latency_s=time.perf_counter() - started,
        )


def to_chat(messages: Sequence[Message]) -> list[Any]:
    """agentloop's messages as inspect chat messages."""
    kinds = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}
    return [kinds[m["role"]](content=m["content"]) for m in messages]


def on_loop(loop: asyncio.AbstractEventLoop, context: contextvars.Context, make: Callable[[], Any]) -> Any:
    """From a worker thread: run `make()` on `loop` in (a copy of) `context` — awaited when it
    returns a coroutine — and wait for its result."""
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def finish(t: asyncio.Future[Any]) -> None:
        if t.cancelled():
            done.cancel()
        elif t.exception() is not None:
            done.set_exception(t.exception())  # type: ignore[arg-type]
        else:
            done.set_result(t.result())

    def start() -> None:
        try:
            result = context.copy().run(make)
            if asyncio.iscoroutine(result):
                context.copy().run(loop.create_task, result).add_done_callback(finish)
            else:
                done.set_result(result)
        except BaseException as exc:  # noqa: BLE001 — handed to the waiting thread
            done.set_exception(exc)

    loop.call_soon_threadsafe(start)
    return done.result()


# --- the record as inspect data -----------------------------------------------------------------
def step_view(step: StepRecord, prompts: dict[str, list[dict[str, str]]] | None = None) -> dict[str, Any]:
    """One step for inspect's viewer: the verdict first, then every attempt's replies."""
    out: dict[str, Any] = {
        "step": step.index, "label": step.label, "answer": step.answer, "verdict": step.code, "ok": step.ok,
        "first_ok": step.first_ok, "on_track": step.on_track, "committed": step.committed,
        "calls": step.calls, "samples": step.samples,
    }
    if step.votes:
        out["votes"] = step.votes
    attempts = []
    for a in step.attempts:
        item: dict[str, Any] = {
            "replies": [
                {"sample": r.sample, "text": r.text, "answer": r.answer, **({"problem": r.problem} if r.problem else {})}
                for r in a.replies
            ],
        }
        if a.verdict is not None:
            item["verdict"] = {"code": a.verdict.code, "reason": a.verdict.reason}
        if a.votes:
            item["votes"] = a.votes
        if prompts and a.prompt in prompts:
            item["request"] = prompts[a.prompt]
        attempts.append(item)
    out["attempts"] = attempts
    return json.loads(json.dumps(out, default=str))


def step_line(step: StepRecord) -> dict[str, Any]:
    return {"step": step.index, "label": step.label, "answer": step.answer, "verdict": step.code, "ok": step.ok}


def record_summary(rec: EpisodeRecord) -> dict[str, Any]:
    """The episode's record without its steps and requests (those are events and STEPS_KEY)."""
    return rec.model_dump(mode="json", exclude={"steps", "prompts"})


def record_score(rec: EpisodeRecord | dict[str, Any], codes: Sequence[str] | None = None) -> Score:
    """The episode as an inspect score: success, step accuracy (locally correct steps among the
    readable ones; `codes`, the steps' verdict codes, say which were unreadable — default: the
    record's steps, or only the last when it has none), the first error step (-1: none) and the
    leading correct steps."""
    if isinstance(rec, EpisodeRecord):
        codes = [s.code for s in rec.steps] if codes is None and rec.steps else codes
        rec = record_summary(rec)
    r = rec
    ok = list(r["step_ok"])
    readable = len(ok) - (list(codes).count("format") if codes is not None else int(r["status"] == "format"))
    accuracy = sum(ok) / readable if readable > 0 else 0.0
    first = r["first_error_step"]
    explanation = (
        f"{r['status']} · {sum(ok)}/{r['steps_total']} steps locally correct · first error at step "
        f"{'none' if first is None else first} · {r['calls']} calls"
        + (f" · {r['error']}" if r.get("error") else "")
    )
    return Score(
        value={
            "success": 1.0 if r["success"] else 0.0,
            "step_accuracy": accuracy,
            "first_error_step": -1 if first is None else int(first),
            "steps_correct": int(r["steps_correct"]),
        },
        answer=json.dumps(r.get("answer")),
        explanation=explanation,
        metadata={k: r.get(k) for k in ("status", "steps_total", "calls", "tokens_in", "tokens_out", "simulated", "error")},
    )


@metric
def first_error_mean() -> Metric:
    """The mean first error step of the samples that had one (-1 when none had)."""

    def compute(scores: list[SampleScore]) -> float:
        errors = [s.score.as_float() for s in scores if s.score.as_float() >= 0]
        return sum(errors) / len(errors) if errors else -1.0

    return compute


METRICS = {
    "success": [mean(), stderr()],
    "step_accuracy": [mean()],
    "first_error_step": [first_error_mean()],
    "steps_correct": [mean()],
}


# --- solver, scorer, task -----------------------------------------------------------------------
def _condition(condition: str | Condition | dict[str, Any], overrides: dict[str, Any]) -> Condition:
    if isinstance(condition, Condition):
        return condition
    if isinstance(condition, dict):
        return Condition.model_validate(condition)
    return get_condition(condition, **{k: v for k, v in overrides.items() if v is not None})


@solver
def agentloop_solver(
    scenario: str,
    params: dict[str, Any] | None = None,
    condition: str | dict[str, Any] = "tape",
    agentloop_model: str | None = None,
    model_args: dict[str, Any] | None = None,
    limits: dict[str, Any] | None = None,
    transcripts: bool = True,
):
    """Run the sample's episode (its seed: `state.metadata["seed"]`) through agentloop's loop.

    The model is the eval's inspect model (`InspectModel`), or with `agentloop_model` an
    agentloop one (`scripted/noisy`, `local/gemma3-270m`, ...). Each step record becomes an info
    event as the episode runs; the store gets the record (RECORD_KEY) and one line per step
    (STEPS_KEY); the output is the final answer as JSON.
    """
    sc = get_scenario(scenario)
    p = parse_params(sc, params or {})
    cond = _condition(condition, {})
    lim = Limits.model_validate(limits or {})

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        seed = int(state.metadata["seed"])
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        if agentloop_model:
            model: Any = get_model(agentloop_model, **(model_args or {}))
        else:
            model = InspectModel(inspect_get_model(), loop, context)
        steps: list[StepRecord] = []
        prompts: dict[str, list[dict[str, str]]] = {}

        def sink(records: list[StepRecord], requests: dict[str, list[dict[str, str]]]) -> None:
            steps.extend(records)
            prompts.update(requests)
            on_loop(loop, context, lambda: emit_steps(records, requests))

        from agentloop.loop import run_episode

        rec = await asyncio.to_thread(
            run_episode, sc, p, condition=cond, model=model, model_args=dict(model_args or {}), seed=seed,
            limits=lim, transcripts=transcripts, sink=sink,
        )
        rec = rec.model_copy(update={"steps": steps, "prompts": prompts})
        store().set(RECORD_KEY, record_summary(rec))
        store().set(STEPS_KEY, [step_line(s) for s in steps])
        answer = json.dumps(rec.answer)
        state.messages.append(ChatMessageAssistant(content=answer))
        state.output = ModelOutput.from_content(model=model.name, content=answer)
        return state

    return solve


def emit_steps(records: Iterable[StepRecord], prompts: dict[str, list[dict[str, str]]] | None = None) -> None:
    """One info event per step record, in the current sample's transcript."""
    from inspect_ai.log import transcript

    for s in records:
        transcript().info(step_view(s, prompts), source=f"agentloop step {s.index}: {s.label} ({s.code})")


@scorer(metrics=METRICS)
def agentloop_scorer():
    """The episode's verdicts as an inspect score (`record_score`), read from the store."""

    async def score(state: TaskState, target: Target) -> Score:
        rec = store().get(RECORD_KEY)
        if rec is None:
            raise AgentloopError("agentloop_scorer: no agentloop record in the store (use agentloop_solver)")
        return record_score(rec, [s["verdict"] for s in store().get(STEPS_KEY, [])])

    return score


def agentloop_task(
    scenario: str | Scenario,
    *,
    condition: str = "tape",
    k: int | None = None,
    max_samples: int | None = None,
    max_retries: int | None = None,
    format_retries: int | None = None,
    seeds: int = 5,
    first_seed: int = 0,
    agentloop_model: str | None = None,
    model_args: dict[str, Any] | None = None,
    max_calls: int | None = None,
    max_tokens: int | None = None,
    max_cost: float | None = None,
    transcripts: bool = True,
    **params: Any,
) -> Task:
    """An inspect Task for one scenario: `seeds` samples (seeds first_seed, first_seed + 1, ...),
    agentloop's loop under `condition` (its bounds overridden by k, max_samples, max_retries,
    format_retries) as the solver, the verdicts as the scorer. `params` are the scenario's."""
    params.pop("model", None)  # inspect passes its model to every task; the episode's is set below
    sc = get_scenario(scenario) if isinstance(scenario, str) else scenario
    name = scenario if isinstance(scenario, str) else sc.name
    p = parse_params(sc, params)
    cond = _condition(condition, {"k": k, "max_samples": max_samples, "max_retries": max_retries,
                                  "format_retries": format_retries})
    if seeds < 1 or first_seed < 0:
        raise AgentloopError(f"seeds={seeds}, first_seed={first_seed}: at least one seed, none negative")
    samples = []
    for seed in range(first_seed, first_seed + seeds):
        inst = sc.generate(p, seed)
        samples.append(
            Sample(
                id=seed,
                input=f"{sc.rules(inst)}\n\nThe task starts from:\n{sc.show_initial(inst)}",
                target=json.dumps(sc.expected_json(inst)),
                metadata={"seed": seed, "scenario": sc.name, "params": p.model_dump(mode="json"), "condition": cond.name},
            )
        )
    limits = {k_: v for k_, v in {"max_calls": max_calls, "max_tokens": max_tokens, "max_cost": max_cost}.items() if v is not None}
    return Task(
        dataset=samples,
        solver=agentloop_solver(name, p.model_dump(), cond.model_dump(), agentloop_model, model_args, limits, transcripts),
        scorer=agentloop_scorer(),
        name=f"agentloop/{sc.name}",
        metadata={"scenario": sc.name, "params": p.model_dump(mode="json"), "condition": cond.model_dump(),
                  "agentloop_model": agentloop_model, "model_args": redact_args(dict(model_args or {}))},
    )


def _task_factory(scenario: str) -> Callable[..., Task]:
    def factory(**kwargs: Any) -> Task:
        return agentloop_task(scenario, **kwargs)

    factory.__doc__ = f"agentloop's {scenario} scenario: one sample per seed, the loop as solver (docs/interop.md)."
    factory.__name__ = factory.__qualname__ = scenario.replace("/", "_")
    return factory


def scenario_task(scenario: str, **kwargs: Any) -> Task:
    """Any scenario, named by registry name or import path (-T scenario=package.module:Class)."""
    return agentloop_task(scenario, **kwargs)


def _prefix() -> str:
    """What to put before a task's name so that inspect registers it as `agentloop/<name>`.

    inspect prefixes the names of tasks defined in an installed package itself. Run from a
    source checkout, the checkout's agentloop.egg-info (a build artefact that setuptools writes
    there) is found before the installed metadata and says nothing of the editable install, so
    inspect sees no package: the prefix is then ours to add.
    """
    try:
        from inspect_ai._util.package import get_installed_package_name

        return "" if get_installed_package_name(_task_factory) == "agentloop" else "agentloop/"
    except Exception:  # a later inspect without this helper: it prefixes installed packages
        return ""


def _register_tasks() -> None:
    """An inspect task `agentloop/<name>` for every registered scenario (plugins included), and
    `agentloop/scenario` for any other."""
    prefix = _prefix()
    task(name=f"{prefix}scenario")(scenario_task)
    for name in list_scenarios():
        task(name=f"{prefix}{name}")(_task_factory(name))


_register_tasks()


# --- the other direction: stored episodes as inspect logs -----------------------------------------
def export_inspect(out_dir: str | Path, dest: str | Path | None = None) -> list[Path]:
    """Write the stored episodes of an experiment directory as inspect logs, one per cell
    (scenario × params × condition × model), under `dest` (default DIR/inspect); returns the
    files written. Each sample is one episode (its id the seed), with the score of
    `record_score`, its record in the store, and one info event per step."""
    from agentloop.results import load_results
    from agentloop.store import ResultsStore

    src = Path(out_dir)
    results = load_results(src)
    if not results:
        raise AgentloopError(f"no episodes stored in {src}")
    db = src if src.suffix == ".sqlite" else src / "results.sqlite"
    with ResultsStore(db, create=False) as st:
        hashes = {a.prompt for r in results for s in r.steps for a in s.attempts if a.prompt}
        prompts = st.prompts(hashes)
    cells: dict[tuple[str, str, str, str], list[EpisodeRecord]] = {}
    for rec in results:
        key = (rec.scenario, json.dumps(rec.params, sort_keys=True), rec.condition, rec.model)
        cells.setdefault(key, []).append(rec)
    target = Path(dest) if dest is not None else (src.parent if src.suffix == ".sqlite" else src) / "inspect"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for key, recs in cells.items():
        path = target / _log_name(*key)
        _write_log(path, recs, prompts)
        written.append(path)
    return written


def _log_name(scenario: str, params: str, condition: str, model: str) -> str:
    digest = hashlib.blake2b(f"{scenario}\0{params}\0{condition}\0{model}".encode(), digest_size=4).hexdigest()
    safe = "".join(c if c.isalnum() or c in "-." else "-" for c in f"{scenario}_{condition}_{model}")
    return f"agentloop_{safe}_{digest}.eval"


def _write_log(path: Path, recs: list[EpisodeRecord], prompts: dict[str, list[dict[str, str]]]) -> None:
    from datetime import datetime, timezone

    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalLog,
        EvalMetric,
        EvalPlan,
        EvalResults,
        EvalSample,
        EvalScore,
        EvalSpec,
        EvalStats,
        write_eval_log,
    )
    from inspect_ai.event import InfoEvent

    first = recs[0]
    now = datetime.now(timezone.utc).isoformat()
    samples = []
    for rec in sorted(recs, key=lambda r: r.seed):
        score = record_score(rec)
        answer = json.dumps(rec.answer)
        samples.append(
            EvalSample(
                id=rec.seed,
                epoch=1,
                input=f"{rec.scenario} {json.dumps(rec.params)} seed {rec.seed}; starts from: {json.dumps(rec.initial)}",
                target=json.dumps(rec.expected),
                messages=[ChatMessageAssistant(content=answer)],
                output=ModelOutput.from_content(model=rec.model, content=answer),
                scores={SCORER: score},
                metadata={"seed": rec.seed, "scenario": rec.scenario, "params": rec.params, "condition": rec.condition},
                store={RECORD_KEY: record_summary(rec), STEPS_KEY: [step_line(s) for s in rec.steps]},
                events=[
                    InfoEvent(source=f"agentloop step {s.index}: {s.label} ({s.code})", data=step_view(s, prompts))
                    for s in rec.steps
                ],
            )
        )
    metrics = _aggregate([s.scores[SCORER] for s in samples])  # type: ignore[index]
    log = EvalLog(
        version=2,
        status="success",
        eval=EvalSpec(
            created=now,
            task=f"agentloop/{first.scenario}",
            task_args={**first.params, "condition": first.condition},
            dataset=EvalDataset(name=first.scenario, samples=len(samples), sample_ids=[s.id for s in samples]),
            model=first.model,
            model_args=dict(first.model_args),
            config=EvalConfig(),
            metadata={"source": "agentloop export", "agentloop_version": first.agentloop_version,
                      "simulated": first.simulated},
        ),
        plan=EvalPlan(),
        results=EvalResults(
            total_samples=len(samples),
            completed_samples=len(samples),
            scores=[
                EvalScore(name=name, scorer=SCORER, scored_samples=len(samples), unscored_samples=0, metrics={m: EvalMetric(name=m, value=v) for m, v in values.items()})
                for name, values in metrics.items()
            ],
        ),
        stats=EvalStats(started_at=now, completed_at=now),
        samples=samples,
    )
    write_eval_log(log, str(path))


def _aggregate(scores: list[Score]) -> dict[str, dict[str, float]]:
    """The task metrics of METRICS, computed as the live scorer's would be."""
    out: dict[str, dict[str, float]] = {}
    for name, metrics in METRICS.items():
        values = [SampleScore(score=Score(value=s.value[name]), sample_id=i) for i, s in enumerate(scores)]  # type: ignore[index]
        out[name] = {}
        for m in metrics:
            info = getattr(m, "__registry_info__", None)  # as the live log names it: mean, agentloop/first_error_mean
            key = info.name.removeprefix("inspect_ai/") if info is not None else type(m).__name__
            out[name][key] = float(m(values))
    return out
