"""The costs as a FOCUS 1.2 dataset, for FinOps tools."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from usagelens.api.deps import TEAM_NOT_FOUND, QueriesDep, TeamsDep, WindowDep

router = APIRouter(prefix="/api/v1", tags=["export"])

UNPRICED_HEADER = "X-Usagelens-Unpriced-Resources"
"""How many resource ids have a dimension without a price (left out: they have no cost)."""


@router.get(
    "/export/focus",
    summary="The costs as a FOCUS 1.2 CSV",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "one row per team, resource, dimension and charge period",
            "content": {"text/csv": {}},
            "headers": {UNPRICED_HEADER: {"description": "unpriced resources left out"}},
        },
        **TEAM_NOT_FOUND,
    },
)
def focus_export(queries: QueriesDep, window: WindowDep, teams: TeamsDep) -> StreamingResponse:
    """Return every priced team resource dimension of the window as FOCUS 1.2
    (CostAndUsage) rows: its cost share, charge and billing period, team as sub-account,
    and usagelens's verdict in ``x_`` columns and ``Tags``; of the teams named, if any.
    Streamed as it is rendered."""
    export = queries.focus_export(
        window, teams
    )  # read before the answer starts: errors stay 4xx/503
    return StreamingResponse(
        export.chunks(),
        media_type="text/csv; charset=utf-8",
        headers={
            UNPRICED_HEADER: str(export.unpriced),
            "Content-Disposition": 'attachment; filename="usagelens-focus.csv"',
        },
    )
