"""The full report in five formats."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from usagelens.api.deps import TEAM_NOT_FOUND, HandlersDep, TeamsDep, WindowDep
from usagelens.api.ui.report import render_report
from usagelens.app import DataView, Filters
from usagelens.domain import report as render

router = APIRouter(prefix="/api/v1", tags=["report"])

Format = Literal["text", "markdown", "csv", "json", "html"]
_RENDERERS = {
    "text": (render.render_text, "text/plain; charset=utf-8"),
    "markdown": (render.render_markdown, "text/markdown; charset=utf-8"),
    "csv": (render.render_csv, "text/csv; charset=utf-8"),
    "html": (render_report, "text/html; charset=utf-8"),
}


@router.get(
    "/report",
    summary="The full report",
    response_class=Response,
    responses={
        200: {
            "description": "the report in the requested format",
            "content": {
                "text/plain": {},
                "text/markdown": {},
                "text/csv": {},
                "application/json": {},
                "text/html": {},
            },
        },
        **TEAM_NOT_FOUND,
    },
)
def full_report(
    handlers: HandlersDep,
    window: WindowDep,
    teams: TeamsDep,
    format: Annotated[Format, Query(description="output format")] = "text",
) -> Response:
    """Return per team a table and totals, then the overall totals and unpriced resources
    (the HTML one with each recommendation's state too); of the teams named, if any."""
    queries = handlers.queries

    def make(view: DataView) -> bytes:
        report = queries.report_of(view)
        if format == "json":
            return json.dumps(render.render_json(report), ensure_ascii=False).encode()
        if format == "html":
            # Cached per data version: a person's move advances it, and so do time's moves
            # (a snooze ending, a claim settling) once the server writes them down.
            items = handlers.recommendations.items(view.window, Filters(teams=teams))
            return render_report(report, items).encode()
        return _RENDERERS[format][0](report).encode()

    media_type = "application/json" if format == "json" else _RENDERERS[format][1]
    return Response(queries.cached(("report", format), make, window, teams), media_type=media_type)
