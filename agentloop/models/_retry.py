"""The one retry layer: transient provider errors are retried with tenacity, bounded.

Below an experiment's budget guard each attempt is a request of its own: it is reserved in the
budget's ledger before it is sent, so the attempts of a request that finally fails are paid
for and counted like any other.
"""

from __future__ import annotations

import dataclasses
import inspect

from agentloop._kv import redact_text, secret_values
from agentloop.errors import ModelError, TransientModelError
from agentloop.models._protocol import Hint, Message, Model, ModelWrapper
from agentloop.types import Completion


# Attempts per request for transient errors: with back-off from 1 s (doubling, jittered, capped
# at 60 s) a real provider gets about two minutes to recover before the request fails.
DEFAULT_ATTEMPTS = 8


class RetryingModel(ModelWrapper):
    """Wraps a provider; retries TransientModelError up to `attempts` times in all.

    `wait` is the first back-off in seconds (doubling, capped at 60 s, with up to `wait` seconds
    of random jitter so that clients failed together do not retry together); simulated
    providers use 0, so tests never sleep. The number of retries is added to the returned
    Completion. Error messages never carry the model's credentials.
    """

    def __init__(self, inner: Model, *, attempts: int = DEFAULT_ATTEMPTS, wait: float = 1.0) -> None:
        super().__init__(inner)
        self.attempts = attempts
        self.wait = wait

    def _policy(self, retrying_cls):
        import tenacity

        from agentloop._log import get_logger

        log = get_logger("agentloop.models")

        def before_sleep(state) -> None:
            error = self._clean(str(state.outcome.exception()))
            log.warning("model.retry", model=self.name, attempt=state.attempt_number, error=error)

        if self.wait > 0:
            wait = tenacity.wait_exponential_jitter(initial=self.wait, max=60, jitter=self.wait)
        else:
            wait = tenacity.wait_none()
        return retrying_cls(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=wait,
            retry=tenacity.retry_if_exception_type(TransientModelError),
            before_sleep=before_sleep,
            reraise=True,
        )

    def _clean(self, text: str) -> str:
        """A provider's message may quote the request (its key, a URL with a password)."""
        return redact_text(text, secret_values(self.args))

    def _failed(self, exc: ModelError) -> ModelError:
        """The error to raise: a transient one that outlasted the attempts becomes final."""
        if isinstance(exc, TransientModelError):
            return ModelError(self._clean(f"{self.name}: gave up after {self.attempts} attempts: {exc}"))
        text = self._clean(str(exc))
        if text != str(exc):
            exc.args = (text,)
        return exc

    def complete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        # Most requests succeed at once: only a failure pays for building the retry policy.
        try:
            return self.inner.complete(messages, hint=hint, sample=sample, seed=seed)
        except TransientModelError as exc:
            first = exc
        except ModelError as exc:
            raise self._failed(exc) from None
        import tenacity

        retrying = self._policy(tenacity.Retrying)
        try:
            out = retrying(_replay_then(first, self.inner.complete), messages, hint=hint, sample=sample, seed=seed)
        except ModelError as exc:
            raise self._failed(exc) from None
        return dataclasses.replace(out, retries=retrying.statistics["attempt_number"] - 1)

    async def acomplete(self, messages: list[Message], *, hint: Hint | None = None, sample: int = 0, seed: int | None = None) -> Completion:
        try:
            return await self.inner.acomplete(messages, hint=hint, sample=sample, seed=seed)
        except TransientModelError as exc:
            first = exc
        except ModelError as exc:
            raise self._failed(exc) from None
        import tenacity

        retrying = self._policy(tenacity.AsyncRetrying)
        try:
            out = await retrying(_replay_then(first, self.inner.acomplete), messages, hint=hint, sample=sample, seed=seed)
        except ModelError as exc:
            raise self._failed(exc) from None
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
