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


@dataclass(frozen=True, slots=True)
class TeamMoney:
    """One team's part of the money. Money adds up by team, so a read model that keeps
    these recomputes only the teams a write touched."""

    team: str
    total: float
    resources: list[ResourceCost]
    """Priced resources, by resource."""
    deleted: dict[str, float]
    """CPU, RAM, NetFlow and total of the rows to delete."""
    deleted_resources: list[ResourceCost]
    unpriced: frozenset[str]


def team_money(team: str, rows: Sequence[AnalyticsRow]) -> TeamMoney:
    """Sum one team's rows (in report order)."""
    resources = _per_resource(rows)
    deleted = {**_zero_by_dimension(), "total": 0.0}
    to_delete = [row for row in rows if row.decision is Decision.DELETE]
    for row in to_delete:
        if row.cost is not None:
            deleted[row.dimension.value] += row.cost
            deleted["total"] += row.cost
    return TeamMoney(
        team=team,
        total=sum(item.total for item in resources),
        resources=resources,
        deleted=deleted,
        deleted_resources=_per_resource(to_delete),
        unpriced=frozenset(row.resource for row in rows if row.cost is None),
    )


def combine(parts: Sequence[TeamMoney]) -> tuple[CostSummary, DeletedCosts]:
    """Add the teams' parts (in team order) into the total cost and the money to delete."""
    teams = {part.team: part.total for part in parts}
    by_dimension = _zero_by_dimension()
    for part in parts:
        for dimension in by_dimension:
            by_dimension[dimension] += part.deleted[dimension]
    costs = CostSummary(
        total=sum(teams.values()),
        teams=teams,
        resources=[item for part in parts for item in part.resources],
        unpriced=sorted(set().union(*(part.unpriced for part in parts))),
    )
    deleted = DeletedCosts(
        total=sum(by_dimension.values()),
        by_dimension=by_dimension,
        teams={part.team: dict(part.deleted) for part in parts},
        resources=[item for part in parts for item in part.deleted_resources],
    )
    return costs, deleted


def format_money(amount: float | None, currency: str = "", *, signed: bool = False) -> str:
    """Write an amount as every page, report and command shows money: a comma between
    thousands, two decimals, the currency after it if given (``9,279.00 RUB``; ``signed``:
    ``+1,234.50``); ``unpriced`` for no amount. CSV, JSON and metrics carry plain numbers."""
    if amount is None:
        return "unpriced"
    text = f"{amount:+,.2f}" if signed else f"{amount:,.2f}"
    return f"{text} {currency}" if currency else text


def money_of(rows: Sequence[AnalyticsRow]) -> tuple[CostSummary, DeletedCosts]:
    """Return the total cost and the money to delete of these rows."""
    by_team: dict[str, list[AnalyticsRow]] = {}
    for row in rows:
        by_team.setdefault(row.team, []).append(row)
    return combine([team_money(team, by_team[team]) for team in sorted(by_team)])


def total_costs(rows: Sequence[AnalyticsRow]) -> CostSummary:
    """Sum the cost of every priced row per resource, per team and overall."""
    return money_of(rows)[0]


def deleted_costs(rows: Sequence[AnalyticsRow]) -> DeletedCosts:
    """Sum the cost of the rows to delete, split by dimension, per team and overall."""
    return money_of(rows)[1]


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
