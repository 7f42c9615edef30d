"""Shared test settings: property tests are reproducible and never fail on wall time."""

from hypothesis import settings

settings.register_profile("agentloop", deadline=None, derandomize=True)
settings.load_profile("agentloop")
