"""The one retry layer: transient provider errors are retried with tenacity, bounded."""

from __future__ import annotations

import dataclasses
import inspect

from agentloop.errors import ModelError, TransientModelError
from agentloop.models._protocol import Hint, Message, Model, ModelWrapper
from agentloop.types import Completion


class RetryingModel(ModelWrapper):
    """Wraps a provider; retries TransientModelError up to `attempts` times in all.

    `wait` is the first back-off in seconds (exponential, capped at 30 s); simulated providers
    use 0, so tests never sleep. The number of retries is added to the returned Completion.
    """

    def __init__(self, inner: Model, *, attempts: int = 6, wait: float = 1.0) -> None:
        super().__init__(inner)
        self.attempts = attempts
        self.wait = wait

    def _policy(self, retrying_cls):
        import tenacity

        from agentloop._log import get_logger

        log = get_logger("agentloop.models")

        def before_sleep(state) -> None:
            log.warning("model.retry", model=self.name, attempt=state.attempt_number, error=str(state.outcome.exception()))

        wait = tenacity.wait_exponential(multiplier=self.wait, max=30) if self.wait > 0 else tenacity.wait_none()
        return retrying_cls(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=wait,
            retry=tenacity.retry_if_exception_type(TransientModelError),
            before_sleep=before_sleep,
            reraise=True,
        )

    def _failed(self, exc: TransientModelError) -> ModelError:
        return ModelError(f"{self.name}: gave up after {self.attempts} attempts: {exc}")

    def complete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        # Most requests succeed at once: only a failure pays for building the retry policy.
        try:
            return self.inner.complete(messages, hint=hint, sample=sample, seed=seed)
        except TransientModelError as exc:
            first = exc
        import tenacity

        retrying = self._policy(tenacity.Retrying)
        try:
            out = retrying(_replay_then(first, self.inner.complete), messages, hint=hint, sample=sample, seed=seed)
        except TransientModelError as exc:
            raise self._failed(exc) from exc
        return dataclasses.replace(out, retries=retrying.statistics["attempt_number"] - 1)

    async def acomplete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        try:
            return await self.inner.acomplete(messages, hint=hint, sample=sample, seed=seed)
        except TransientModelError as exc:
            first = exc
        import tenacity

        retrying = self._policy(tenacity.AsyncRetrying)
        try:
            out = await retrying(_replay_then(first, self.inner.acomplete), messages, hint=hint, sample=sample, seed=seed)
        except TransientModelError as exc:
            raise self._failed(exc) from exc
        return dataclasses.replace(out, retries=retrying.statistics["attempt_number"] - 1)


def _replay_then(first: TransientModelError, call):
    """`call`, except that its first invocation raises `first` again: the failure already seen
    counts as tenacity's first attempt, so the wait and the attempt count stay right."""
    pending = [first]
    if inspect.iscoroutinefunction(call):

        async def attempt_async(*args, **kwargs):
            if pending:
                raise pending.pop()
            return await call(*args, **kwargs)

        return attempt_async

    def attempt(*args, **kwargs):
        if pending:
            raise pending.pop()
        return call(*args, **kwargs)

    return attempt
