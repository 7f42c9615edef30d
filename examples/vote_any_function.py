"""Vote k=3 around a plain function, no scenario: `python examples/vote_any_function.py`."""

import asyncio
import random

from agentloop import avote, vote


def unreliable_sum(numbers: list[int], sample: int) -> int:
    """Stands in for an LLM call: right 70% of the time, otherwise off by one (seeded by the sample)."""
    slip = random.Random(sample).random() < 0.3
    return sum(numbers) + (1 if slip else 0)


async def unreliable_sum_async(numbers: list[int], sample: int) -> int:
    await asyncio.sleep(0)  # where an async client would await its request
    return unreliable_sum(numbers, sample)


numbers = [17, 25, 8, 41]
result = vote(lambda sample: unreliable_sum(numbers, sample), k=3, max_samples=20)
print("vote:", result.answer, result.votes, f"{len(result.samples)} samples")
result = asyncio.run(avote(lambda sample: unreliable_sum_async(numbers, sample), k=3, max_samples=20))
print("avote:", result.answer, result.votes, f"{len(result.samples)} samples")
