"""What each dashboard page shows, computed from the read model's cached view.

No HTML here: the templates lay these values out, the charts module draws them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from markupsafe import Markup

from usagelens.api.ui import charts
from usagelens.app import DataView, Filters, Queries, Recommendations
from usagelens.documents import load_document
from usagelens.domain.analytics import AnalyticsRow, SortKey, sorted_rows
from usagelens.domain.errors import InvalidInput
from usagelens.domain.model import DIMENSIONS, Decision, SeriesKey, Window
from usagelens.domain.money import format_money
from usagelens.domain.policy import policy_from_document
from usagelens.domain.recommendations import Recommendation, State

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def money(amount: float | None, currency: str) -> str:
    """Format an amount with its currency as everything shows money (``format_money``)."""
    return format_money(amount, currency)


@dataclass(frozen=True, slots=True)
class Overview:
    """The overview page: money, decisions, money per team, unpriced resources."""

    total: float
    deleted_total: float
    deleted: dict[str, float]
    decisions: dict[str, int]
    rows: int
    teams: list[tuple[str, float, float]]
    """(team, total, to delete), most expensive first."""
    unpriced: list[str]
    chart: Markup


def overview(queries: Queries, window: Window) -> Overview:
    """Gather the overview from the cached view (cached itself per data version)."""

    def build(view: DataView) -> Overview:
        costs, deleted = view.costs, view.deleted
        counts = Counter(row.decision.value for row in view.rows)
        teams = sorted(
            ((team, amount, deleted.teams.get(team, {}).get("total", 0.0))
             for team, amount in costs.teams.items()),
            key=lambda t: (-t[1], t[0]),
        )  # fmt: skip
        return Overview(
            total=costs.total,
            deleted_total=deleted.total,
            deleted={d.value: deleted.by_dimension.get(d.value, 0.0) for d in DIMENSIONS},
            decisions={d.value: counts.get(d.value, 0) for d in Decision},
            rows=len(view.rows),
            teams=teams,
            unpriced=costs.unpriced,
            chart=charts.team_bars(
                teams,
                lambda amount: format_money(amount, queries.currency),
                "Total cost per team; the darker part is to delete",
            ),
        )

    return queries.cached("ui/overview", build, window)


@dataclass(frozen=True, slots=True)
class RowQuery:
    """The decisions table's filters, order and page, as the query string names them."""

    team: str = ""
    dimension: str = ""
    decision: str = ""
    q: str = ""
    sort: SortKey = "team"
    order: Literal["asc", "desc"] = "asc"
    offset: int = 0
    limit: int = PAGE_SIZE
    state: str = ""
    """A recommendation's state: only delete and extend rows have one."""

    def matches(self, row: AnalyticsRow, states: dict[SeriesKey, Recommendation]) -> bool:
        """Tell whether a row passes every filter (free text: team, resource or reason)."""
        if self.team and row.team != self.team:
            return False
        if self.dimension and row.dimension.value != self.dimension:
            return False
        if self.decision and row.decision.value != self.decision:
            return False
        if self.state:
            item = states.get((row.team, row.resource, row.dimension))
            if item is None or item.state.value != self.state:
                return False
        if self.q:
            needle = self.q.casefold()
            return any(
                needle in text.casefold()
                for text in (row.team, row.resource, row.reason, row.dimension.value)
            )
        return True


@dataclass(frozen=True, slots=True)
class RowPage:
    """One page of the decisions table."""

    rows: list[AnalyticsRow]
    total: int
    """Rows that pass the filters, over all pages."""
    teams: list[str]
    """Every team, for the filter's choices."""
    offset: int
    limit: int
    states: dict[SeriesKey, Recommendation]
    """The recommendations among the page's rows, by series."""

    def recommendation(self, row: AnalyticsRow) -> Recommendation | None:
        """Return a row's recommendation, or None for a row to keep."""
        return self.states.get((row.team, row.resource, row.dimension))


def row_page(
    queries: Queries, recommendations: Recommendations, window: Window, query: RowQuery
) -> RowPage:
    """Filter, sort and cut one page; the sorted rows are cached per data version.

    States are read on every request, not cached: a snooze ends and a claim succeeds with
    time alone.
    """
    ordered = queries.cached(
        ("ui/sorted", query.sort, query.order),
        lambda view: sorted_rows(view.rows, query.sort, query.order == "desc"),
        window,
    )
    teams = queries.cached("ui/teams", lambda view: sorted({r.team for r in view.rows}), window)
    states = _by_series(recommendations.items(window))
    if query.team or query.dimension or query.decision or query.q or query.state:
        matching = [row for row in ordered if query.matches(row, states)]
    else:
        matching = ordered
    page = matching[query.offset : query.offset + query.limit]
    shown = {
        key: states[key]
        for key in ((r.team, r.resource, r.dimension) for r in page)
        if key in states
    }
    return RowPage(page, len(matching), teams, query.offset, query.limit, shown)


def state_counts(recommendations: Recommendations, window: Window) -> dict[str, int]:
    """Count the recommendations in each state (every state present, zero if none)."""
    counts = Counter(item.state.value for item in recommendations.items(window))
    return {state.value: counts.get(state.value, 0) for state in State}


def _by_series(items: list[Recommendation]) -> dict[SeriesKey, Recommendation]:
    return {(i.row.team, i.row.resource, i.row.dimension): i for i in items}


@dataclass(frozen=True, slots=True)
class DimensionPanel:
    """One dimension of a resource: its row, its histogram and its usage over time."""

    row: AnalyticsRow
    histogram: Markup
    line: Markup
    observations: int
    recommendation: Recommendation | None
    """None for a row to keep."""


@dataclass(frozen=True, slots=True)
class ResourcePage:
    """A team's resource: each dimension's charts, its cost and who shares it."""

    team: str
    resource: str
    panels: list[DimensionPanel]
    cost: float | None
    sharing: list[tuple[str, float | None]]
    """Every team using this resource id with its share of the cost."""

    @property
    def recommendations(self) -> list[Recommendation]:
        """Return the resource's recommendations (its delete and extend dimensions)."""
        return [p.recommendation for p in self.panels if p.recommendation is not None]


def resource_page(
    queries: Queries, recommendations: Recommendations, window: Window, team: str, resource: str
) -> ResourcePage | None:
    """Gather a resource's page, or None when the team has no such resource."""
    view = queries.view(window)
    rows = [r for r in view.rows if r.team == team and r.resource == resource]
    if not rows:
        return None
    states = _by_series(
        [
            i
            for i in recommendations.items(window, Filters(teams=(team,)))
            if i.row.resource == resource
        ]
    )
    stats = dict(view.stats)
    panels = []
    for row in rows:
        key = (row.team, row.resource, row.dimension)
        frequencies = stats[key].frequencies if key in stats else ()
        readings = queries.series_readings(key, view.window)
        name = f"{row.dimension.value} of {resource} ({team})"
        panels.append(
            DimensionPanel(
                row=row,
                histogram=charts.histogram(frequencies, f"{name}: observations per rounded usage"),
                line=charts.usage_line(
                    readings, row.mean, row.median, f"{name}: usage over time, mean and median"
                ),
                observations=len(readings),
                recommendation=states.get(key),
            )
        )
    priced = [r.cost for r in rows if r.cost is not None]
    shares: dict[str, float | None] = {}
    for r in view.rows:
        if r.resource == resource:
            if r.cost is None:
                shares.setdefault(r.team, None)
            else:
                shares[r.team] = (shares.get(r.team) or 0.0) + r.cost
    return ResourcePage(
        team=team,
        resource=resource,
        panels=panels,
        cost=sum(priced) if priced else None,
        sharing=sorted(shares.items()),
    )


@dataclass(frozen=True, slots=True)
class PolicyPreview:
    """What a candidate policy typed into the dashboard would change, or why it can't be read."""

    error: str | None = None
    diff: dict[str, Any] | None = None
    """``PolicyDiff.to_document``: rows, changed, decisions, deleted_cost, changes."""


def policy_preview(queries: Queries, window: Window, text: str) -> PolicyPreview:
    """Judge the window's rows under a policy document (YAML or JSON); store nothing."""
    try:
        candidate = policy_from_document(load_document(text, what="the candidate policy"))
    except InvalidInput as exc:
        return PolicyPreview(error=str(exc))
    return PolicyPreview(diff=queries.policy_diff(candidate, window).to_document(queries.currency))
