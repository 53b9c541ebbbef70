"""Sorting rows keeps report order for ties: team, resource, then CPU, RAM, NetFlow."""

from __future__ import annotations

from usagelens.domain.analytics import analyse, sorted_rows
from usagelens.domain.model import Dimension
from usagelens.domain.policy import Policy
from usagelens.domain.prices import PriceList


def test_ties_keep_the_dimension_order_of_reports() -> None:
    series = [
        ((team, resource, dimension), [float(10 * n) for n in range(1, 8)])
        for team in ("b-team", "a-team")
        for resource in ("web", "db")
        for dimension in (Dimension.NETFLOW, Dimension.RAM, Dimension.CPU)
    ]
    rows = analyse(series, Policy(), PriceList({}))
    report = [(r.team, r.resource, r.dimension) for r in rows]
    assert report[:3] == [
        ("a-team", "db", Dimension.CPU),
        ("a-team", "db", Dimension.RAM),
        ("a-team", "db", Dimension.NETFLOW),
    ]
    for field in ("team", "resource", "decision"):
        ordered = sorted_rows(reversed(rows), field, descending=False)  # type: ignore[arg-type]
        ties = [(r.team, r.resource, r.dimension) for r in ordered]
        assert ties == sorted(ties, key=lambda k: (getattr_of(k, field), report.index(k)))


def getattr_of(key: tuple[str, str, Dimension], field: str) -> str:
    return {"team": key[0], "resource": key[1], "decision": ""}[field]
