"""Usage histograms (SPEC 4): usages rounded to the nearest ten, halves up, then counted."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

USAGE_BOUNDS: tuple[int, ...] = tuple(range(0, 101, 10))
"""The finite bucket bounds of the usage histogram: 0, 10, …, 100."""


def round_to_ten(usage: float) -> int:
    """Round a usage to the nearest multiple of ten, halves up (25 → 30, 24 → 20, 5 → 10)."""
    return math.floor(usage / 10 + 0.5) * 10


@dataclass(frozen=True, slots=True)
class UsageHistogram:
    """How often each rounded usage occurs, and the sum and count of the raw usages."""

    frequencies: tuple[int, ...]
    """One count per bound of USAGE_BOUNDS (not cumulative)."""
    total: float
    count: int

    @classmethod
    def of(cls, usages: Iterable[float]) -> UsageHistogram:
        """Count usages into the eleven rounded values."""
        frequencies = [0] * len(USAGE_BOUNDS)
        total = 0.0
        count = 0
        for usage in usages:
            frequencies[round_to_ten(usage) // 10] += 1
            total += usage
            count += 1
        return cls(tuple(frequencies), total, count)

    def cumulative(self) -> list[tuple[str, int]]:
        """Return Prometheus buckets: (le, observations ≤ le), ending with +Inf."""
        return cumulative_buckets([str(b) for b in USAGE_BOUNDS], self.frequencies, self.count)


def cumulative_buckets(
    labels: Sequence[str], frequencies: Sequence[int], count: int
) -> list[tuple[str, int]]:
    """Turn per-bucket frequencies into cumulative ``le`` buckets, ending with +Inf."""
    running = 0
    buckets = []
    for label, frequency in zip(labels, frequencies, strict=True):
        running += frequency
        buckets.append((label, running))
    buckets.append(("+Inf", count))
    return buckets
