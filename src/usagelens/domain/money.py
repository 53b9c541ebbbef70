"""Money (SPEC 3): total cost and the money spent on what is to be deleted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from usagelens.domain.analytics import AnalyticsRow
from usagelens.domain.model import DIMENSIONS, Decision


def _zero_by_dimension() -> dict[str, float]:
    return {d.value: 0.0 for d in DIMENSIONS}


@dataclass(slots=True)
class ResourceCost:
    """What one team's resource costs: in all and by dimension (priced ones only)."""

    team: str
    resource: str
    total: float = 0.0
    by_dimension: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CostSummary:
    """Total cost overall, per team and per team resource, and what could not be priced."""

    total: float
    teams: dict[str, float]
    resources: list[ResourceCost]
    unpriced: list[str]


@dataclass(frozen=True, slots=True)
class DeletedCosts:
    """Money spent on rows whose decision is delete, by dimension, per team and overall."""

    total: float
    by_dimension: dict[str, float]
    teams: dict[str, dict[str, float]]
    """Per team: CPU, RAM, NetFlow and total."""
    resources: list[ResourceCost]


def total_costs(rows: Sequence[AnalyticsRow]) -> CostSummary:
    """Sum the cost of every priced row per resource, per team and overall."""
    teams = dict.fromkeys(_teams(rows), 0.0)
    resources = _per_resource(rows)
    for item in resources:
        teams[item.team] += item.total
    return CostSummary(
        total=sum(teams.values()),
        teams=teams,
        resources=resources,
        unpriced=unpriced_resources(rows),
    )


def deleted_costs(rows: Sequence[AnalyticsRow]) -> DeletedCosts:
    """Sum the cost of the rows to delete, split by dimension, per team and overall."""
    teams = {team: {**_zero_by_dimension(), "total": 0.0} for team in _teams(rows)}
    by_dimension = _zero_by_dimension()
    deleted = [row for row in rows if row.decision is Decision.DELETE]
    for row in deleted:
        if row.cost is None:
            continue
        teams[row.team][row.dimension.value] += row.cost
        teams[row.team]["total"] += row.cost
        by_dimension[row.dimension.value] += row.cost
    return DeletedCosts(
        total=sum(by_dimension.values()),
        by_dimension=by_dimension,
        teams=teams,
        resources=_per_resource(deleted),
    )


def _teams(rows: Iterable[AnalyticsRow]) -> dict[str, None]:
    """The teams of these rows, in order of first appearance."""
    return dict.fromkeys(row.team for row in rows)


def unpriced_resources(rows: Iterable[AnalyticsRow]) -> list[str]:
    """List the resource ids that have usage in some dimension without a price."""
    return sorted({row.resource for row in rows if row.cost is None})


def _per_resource(rows: Iterable[AnalyticsRow]) -> list[ResourceCost]:
    items: dict[tuple[str, str], ResourceCost] = {}
    for row in rows:
        if row.cost is None:
            continue
        item = items.setdefault((row.team, row.resource), ResourceCost(row.team, row.resource))
        item.total += row.cost
        item.by_dimension[row.dimension.value] = row.cost
    return sorted(items.values(), key=lambda r: (r.team, r.resource))
