"""Analytics rows and money."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from usagelens.api.deps import QueriesDep, WindowDep
from usagelens.api.schemas import CostsDeletedOut, CostsTotalOut, ResourceRowOut, ResourcesOut
from usagelens.app import DataView
from usagelens.domain.analytics import AnalyticsRow
from usagelens.domain.model import Decision, Dimension
from usagelens.domain.report import row_to_dict

JSON = "application/json"

router = APIRouter(prefix="/api/v1", tags=["analytics"])

SortKey = Literal[
    "team", "resource", "dimension", "count", "mean", "median",
    "usage_type", "intensity", "decision", "cost",
]  # fmt: skip


@router.get("/resources", response_model=ResourcesOut, summary="Analytics rows")
def list_resources(
    queries: QueriesDep,
    window: WindowDep,
    team: Annotated[str | None, Query(description="only this team")] = None,
    dimension: Annotated[Dimension | None, Query(description="only this dimension")] = None,
    decision: Annotated[Decision | None, Query(description="only this decision")] = None,
    sort: Annotated[SortKey, Query(description="field to sort by")] = "team",
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ResourcesOut:
    """Return per team, resource and dimension: statistics, decision, reason and cost."""
    rows = [
        row
        for row in queries.rows(window)
        if (team is None or row.team == team)
        and (dimension is None or row.dimension is dimension)
        and (decision is None or row.decision is decision)
    ]
    rows.sort(key=lambda r: (r.team, r.resource, r.dimension))
    rows.sort(key=_sort_key(sort), reverse=order == "desc")
    page = rows[offset : offset + limit]
    return ResourcesOut(
        items=[ResourceRowOut.model_validate(row_to_dict(r)) for r in page],
        total=len(rows),
        limit=limit,
        offset=offset,
    )


def _sort_key(field: SortKey) -> Callable[[AnalyticsRow], Any]:
    if field == "cost":
        # Unpriced rows sort as the cheapest.
        return lambda r: -1.0 if r.cost is None else r.cost
    return operator.attrgetter(field)


@router.get("/costs/total", response_model=CostsTotalOut, summary="Total cost")
def costs_total(queries: QueriesDep, window: WindowDep) -> Response:
    """Return total cost per team resource, per team and overall, and what is unpriced."""

    def render(view: DataView) -> bytes:
        costs = view.costs
        return (
            CostsTotalOut.model_validate(
                {
                    "currency": queries.currency,
                    "total": costs.total,
                    "teams": costs.teams,
                    "resources": costs.resources,
                    "unpriced": costs.unpriced,
                },
                from_attributes=True,
            )
            .model_dump_json()
            .encode()
        )

    return Response(queries.cached("costs/total", render, window), media_type=JSON)


@router.get("/costs/deleted", response_model=CostsDeletedOut, summary="Money on what to delete")
def costs_deleted(queries: QueriesDep, window: WindowDep) -> Response:
    """Return the money spent on rows whose decision is delete, by dimension and team."""

    def render(view: DataView) -> bytes:
        deleted = view.deleted
        return (
            CostsDeletedOut.model_validate(
                {
                    "currency": queries.currency,
                    "total": deleted.total,
                    "by_dimension": deleted.by_dimension,
                    "teams": deleted.teams,
                    "resources": deleted.resources,
                },
                from_attributes=True,
            )
            .model_dump_json()
            .encode()
        )

    return Response(queries.cached("costs/deleted", render, window), media_type=JSON)
