"""Analytics rows: each series classified by the policy and priced (SPEC 2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from usagelens.domain.model import Decision, Dimension, Intensity, SeriesKey, UsageType
from usagelens.domain.policy import Classification, Policy
from usagelens.domain.prices import PriceList


@dataclass(slots=True)  # read-only by convention: frozen construction costs 2.5× per row
class AnalyticsRow:
    """One team's resource dimension: its statistics, verdict and cost."""

    team: str
    resource: str
    dimension: Dimension
    count: int
    mean: float
    median: float
    usage_type: UsageType
    intensity: Intensity
    decision: Decision
    reason: str
    cost: float | None
    """This team's share of the price; None when the resource dimension is unpriced."""


def analyse(
    series: Iterable[tuple[SeriesKey, Sequence[float]]], policy: Policy, prices: PriceList
) -> list[AnalyticsRow]:
    """Classify and price every non-empty series of raw usages."""
    return price_rows(((key, policy.classify(usages)) for key, usages in series if usages), prices)


def price_rows(
    verdicts: Iterable[tuple[SeriesKey, Classification]], prices: PriceList
) -> list[AnalyticsRow]:
    """Price classified series, splitting a shared resource's price evenly; sort for reports.

    A resource dimension used by several teams costs each of them price / number of teams,
    so that the teams together pay the price exactly once.
    """
    classified = list(verdicts)
    users = Counter((resource, dimension) for (_, resource, dimension), _ in classified)
    rows = []
    for (team, resource, dimension), verdict in classified:
        price = prices.price(resource, dimension)
        rows.append(
            AnalyticsRow(
                team=team,
                resource=resource,
                dimension=dimension,
                count=verdict.count,
                mean=verdict.mean,
                median=verdict.median,
                usage_type=verdict.usage_type,
                intensity=verdict.intensity,
                decision=verdict.decision,
                reason=verdict.reason,
                cost=None if price is None else price / users[(resource, dimension)],
            )
        )
    rows.sort(key=lambda r: (r.team, r.resource, _DIMENSION_ORDER[r.dimension]))
    return rows


_DIMENSION_ORDER = {d: i for i, d in enumerate(Dimension)}
