"""Analytics rows: each series classified by the policy and priced (SPEC 2)."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from usagelens.domain.batch import from_micros
from usagelens.domain.model import Decision, Dimension, Intensity, SeriesKey, UsageType
from usagelens.domain.policy import Classification, Policy
from usagelens.domain.prices import PriceList


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a row's verdict rests on: how much data, from when to when."""

    observations: int
    """Observations in the window read (the verdict's count)."""
    first: int | None
    last: int | None
    """The series' earliest and latest stored observation (µs, the data's clock)."""
    enough_data: bool
    """At least the policy's ``min_observations``: actionable and alerted only then."""

    @property
    def first_seen(self) -> datetime | None:
        """Return the series' earliest stored observation time."""
        return None if self.first is None else from_micros(self.first)

    @property
    def last_seen(self) -> datetime | None:
        """Return the series' latest stored observation time."""
        return None if self.last is None else from_micros(self.last)


Spans = Mapping[SeriesKey, tuple[int | None, int | None]]
"""The stored first and last observation time (µs) of each series."""


@dataclass(slots=True)  # read-only by convention: frozen construction costs 2.5× per row
class AnalyticsRow:
    """One team's resource dimension: its statistics and verdict, and its cost."""

    team: str
    resource: str
    dimension: Dimension
    verdict: Classification
    """Count, mean, median, usage type, intensity, decision and reason (``Policy.judge``)."""
    cost: float | None
    """This team's share of the price; None when the resource dimension is unpriced."""
    evidence: Evidence | None = None
    """What the verdict rests on; None where a row is made without the store (a what-if)."""

    @property
    def count(self) -> int:
        """Return how many observations the verdict is made of."""
        return self.verdict.count

    @property
    def mean(self) -> float:
        """Return the mean usage."""
        return self.verdict.mean

    @property
    def median(self) -> float:
        """Return the median usage."""
        return self.verdict.median

    @property
    def usage_type(self) -> UsageType:
        """Return falling, spiky or stable."""
        return self.verdict.usage_type

    @property
    def intensity(self) -> Intensity:
        """Return low, medium, high or extreme."""
        return self.verdict.intensity

    @property
    def decision(self) -> Decision:
        """Return delete, keep or extend."""
        return self.verdict.decision

    @property
    def reason(self) -> str:
        """Return why the rules decided so."""
        return self.verdict.reason


def analyse(
    series: Iterable[tuple[SeriesKey, Sequence[float]]], policy: Policy, prices: PriceList
) -> list[AnalyticsRow]:
    """Classify and price every non-empty series of raw usages."""
    return price_rows(((key, policy.classify(usages)) for key, usages in series if usages), prices)


def price_rows(
    verdicts: Iterable[tuple[SeriesKey, Classification]],
    prices: PriceList,
    spans: Spans | None = None,
    min_observations: int = 0,
) -> list[AnalyticsRow]:
    """Price classified series, splitting a shared resource's price evenly; sort for reports.

    A resource dimension used by several teams costs each of them price / number of teams,
    so that the teams together pay the price exactly once. With ``spans`` every row gets
    its evidence, ``enough_data`` from ``min_observations``.
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
                verdict=verdict,
                cost=None if price is None else price / users[(resource, dimension)],
                evidence=None
                if spans is None
                else Evidence(
                    verdict.count,
                    *spans.get((team, resource, dimension), (None, None)),
                    verdict.count >= min_observations,
                ),
            )
        )
    rows.sort(key=lambda r: (r.team, r.resource, _DIMENSION_ORDER[r.dimension]))
    return rows


_DIMENSION_ORDER = {d: i for i, d in enumerate(Dimension)}


def report_order(key: SeriesKey) -> tuple[str, str, int]:
    """Return where a series' row stands in reports: by team, resource, then dimension."""
    team, resource, dimension = key
    return (team, resource, _DIMENSION_ORDER[dimension])


SortKey = Literal[
    "team", "resource", "dimension", "count", "mean", "median",
    "usage_type", "intensity", "decision", "cost",
]  # fmt: skip
"""A field rows can be sorted by (the API's ``sort``, the dashboard's columns)."""
SORT_KEYS: tuple[SortKey, ...] = get_args(SortKey)


def sorted_rows(
    rows: Iterable[AnalyticsRow], field: SortKey, descending: bool
) -> list[AnalyticsRow]:
    """Sort rows by a field, ties in report order; unpriced rows sort as the cheapest."""
    ordered = sorted(rows, key=lambda r: (r.team, r.resource, _DIMENSION_ORDER[r.dimension]))
    ordered.sort(key=_sort_key(field), reverse=descending)
    return ordered


def _sort_key(field: SortKey) -> Callable[[AnalyticsRow], Any]:
    if field == "cost":
        return lambda r: -1.0 if r.cost is None else r.cost
    return operator.attrgetter(field)
