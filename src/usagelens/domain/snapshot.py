"""The metrics snapshot: everything a scrape shows, computed when the data changes.

A scrape only reads it; ingest and price changes rebuild it inside their transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from usagelens.domain.analytics import AnalyticsRow, analyse
from usagelens.domain.histogram import UsageHistogram
from usagelens.domain.model import SeriesKey
from usagelens.domain.money import deleted_costs, total_costs
from usagelens.domain.policy import Policy
from usagelens.domain.prices import PriceList
from usagelens.domain.report import row_to_dict


@dataclass(frozen=True, slots=True)
class SeriesHistogram:
    """One series' usage histogram."""

    team: str
    resource: str
    dimension: str
    histogram: UsageHistogram


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The usage histograms and money of all stored data."""

    histograms: list[SeriesHistogram]
    rows: list[dict[str, object]]
    total_by_team: dict[str, float]
    deleted_by_team: dict[str, dict[str, float]]
    unpriced: list[str]


def build_snapshot(
    series: Sequence[tuple[SeriesKey, Sequence[float]]], policy: Policy, prices: PriceList
) -> Snapshot:
    """Compute histograms, analytics rows and money from every stored series."""
    rows: list[AnalyticsRow] = analyse(series, policy, prices)
    totals = total_costs(rows)
    return Snapshot(
        histograms=[
            SeriesHistogram(team, resource, dimension.value, UsageHistogram.of(usages))
            for (team, resource, dimension), usages in series
        ],
        rows=[row_to_dict(row) for row in rows],
        total_by_team=totals.teams,
        deleted_by_team=deleted_costs(rows).teams,
        unpriced=totals.unpriced,
    )


def snapshot_to_json(snapshot: Snapshot) -> str:
    """Serialise a snapshot for storage."""
    return json.dumps(
        {
            "histograms": [
                [h.team, h.resource, h.dimension, list(h.histogram.frequencies),
                 h.histogram.total, h.histogram.count]
                for h in snapshot.histograms
            ],
            "rows": snapshot.rows,
            "total_by_team": snapshot.total_by_team,
            "deleted_by_team": snapshot.deleted_by_team,
            "unpriced": snapshot.unpriced,
        },
        ensure_ascii=False,
    )  # fmt: skip


def snapshot_from_json(text: str) -> Snapshot:
    """Read a stored snapshot back."""
    data = json.loads(text)
    return Snapshot(
        histograms=[
            SeriesHistogram(team, resource, dim, UsageHistogram(tuple(freq), total, count))
            for team, resource, dim, freq, total, count in data["histograms"]
        ],
        rows=data["rows"],
        total_by_team=data["total_by_team"],
        deleted_by_team=data["deleted_by_team"],
        unpriced=data["unpriced"],
    )


EMPTY_SNAPSHOT = Snapshot([], [], {}, {}, [])
