"""Analytics rows and money."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from usagelens.api.deps import TEAM_NOT_FOUND, QueriesDep, TeamsDep, WindowDep
from usagelens.api.schemas import (
    CostsDeletedOut,
    CostsTotalOut,
    ResourceRowOut,
    ResourcesOut,
    WindowOut,
)
from usagelens.app import DataView, Queries
from usagelens.app.queries import Teams
from usagelens.domain.analytics import AnalyticsRow, SortKey, sorted_rows
from usagelens.domain.model import Decision, Dimension, Window
from usagelens.domain.report import row_to_dict

JSON = "application/json"

router = APIRouter(prefix="/api/v1", tags=["analytics"])


@router.get(
    "/resources", response_model=ResourcesOut, summary="Analytics rows", responses=TEAM_NOT_FOUND
)
def list_resources(
    queries: QueriesDep,
    window: WindowDep,
    teams: TeamsDep,
    dimension: Annotated[Dimension | None, Query(description="only this dimension")] = None,
    decision: Annotated[Decision | None, Query(description="only this decision")] = None,
    sort: Annotated[SortKey, Query(description="field to sort by")] = "team",
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ResourcesOut:
    """Return per team, resource and dimension: statistics, decision, reason, cost and
    evidence (observations, the series' first and last observation, enough_data)."""

    def chosen(view: DataView) -> tuple[Window, list[AnalyticsRow]]:
        rows = [
            row
            for row in view.rows
            if (dimension is None or row.dimension is dimension)
            and (decision is None or row.decision is decision)
        ]
        return view.window, sorted_rows(rows, sort, descending=order == "desc")

    # Filtered and sorted once per data version: a page of 50,000 rows is then a slice.
    shown, rows = queries.cached(
        ("resources", dimension, decision, sort, order), chosen, window, teams
    )
    page = rows[offset : offset + limit]
    return ResourcesOut(
        window=WindowOut(since=shown.since, until=shown.until),
        items=[ResourceRowOut.model_validate(row_to_dict(r)) for r in page],
        total=len(rows),
        limit=limit,
        offset=offset,
    )


@router.get(
    "/costs/total", response_model=CostsTotalOut, summary="Total cost", responses=TEAM_NOT_FOUND
)
def costs_total(queries: QueriesDep, window: WindowDep, teams: TeamsDep) -> Response:
    """Return total cost per team resource, per team and overall, and what is unpriced
    (of the teams named, if any)."""
    fields = ("total", "teams", "resources", "unpriced")
    return _money(queries, window, teams, "costs/total", CostsTotalOut, lambda v: v.costs, fields)


@router.get(
    "/costs/deleted",
    response_model=CostsDeletedOut,
    summary="Money on what to delete",
    responses=TEAM_NOT_FOUND,
)
def costs_deleted(queries: QueriesDep, window: WindowDep, teams: TeamsDep) -> Response:
    """Return the money spent on rows whose decision is delete, by dimension and team (of
    the teams named, if any)."""
    fields = ("total", "by_dimension", "teams", "resources")
    return _money(
        queries, window, teams, "costs/deleted", CostsDeletedOut, lambda v: v.deleted, fields
    )


def _money(
    queries: Queries,
    window: Window,
    teams: Teams,
    key: str,
    schema: type[BaseModel],
    part: Callable[[DataView], object],
    fields: tuple[str, ...],
) -> Response:
    """Answer a money document of a view, rendered once per data version and window."""

    def render(view: DataView) -> bytes:
        money = part(view)
        document = {"currency": queries.currency, **{f: getattr(money, f) for f in fields}}
        return schema.model_validate(document, from_attributes=True).model_dump_json().encode()

    return Response(queries.cached(key, render, window, teams), media_type=JSON)
