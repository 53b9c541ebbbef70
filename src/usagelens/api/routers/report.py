"""The full report in five formats."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from usagelens.api.deps import ServiceDep, WindowDep
from usagelens.domain import report as render

router = APIRouter(prefix="/api/v1", tags=["report"])

Format = Literal["text", "markdown", "csv", "json", "html"]
_RENDERERS = {
    "text": (render.render_text, "text/plain; charset=utf-8"),
    "markdown": (render.render_markdown, "text/markdown; charset=utf-8"),
    "csv": (render.render_csv, "text/csv; charset=utf-8"),
    "html": (render.render_html, "text/html; charset=utf-8"),
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
        }
    },
)
def full_report(
    service: ServiceDep,
    window: WindowDep,
    format: Annotated[Format, Query(description="output format")] = "text",
) -> Response:
    """Return per team a table and totals, then the overall totals and unpriced resources."""
    report = service.report(window)
    if format == "json":
        return JSONResponse(render.render_json(report))
    renderer, media_type = _RENDERERS[format]
    return Response(renderer(report), media_type=media_type)
