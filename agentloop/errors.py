"""Errors that cross module boundaries.

`AgentloopError` is the user's mistake (an unknown name, a parameter out of range, a malformed
file): the CLI prints its message on one line and exits with code 2. Everything a *model* gets
wrong is data (a `Verdict`), never an exception.
"""


class AgentloopError(Exception):
    """A problem with what the user asked for; its message is one line meant for them."""


class ParseError(ValueError):
    """Model text that does not have the shape a scenario's parser requires."""


class ModelError(Exception):
    """A provider failed for good (after bounded retries, or a request that cannot succeed)."""


class TransientModelError(ModelError):
    """A provider failure worth retrying: rate limit, timeout, 5xx, dropped connection."""
