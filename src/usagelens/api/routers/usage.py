"""Ingest usage summaries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from usagelens.api.deps import IngestDep, WriteAuth
from usagelens.api.schemas import IngestOut
from usagelens.app import PayloadReader
from usagelens.domain.errors import SummaryFormatError
from usagelens.domain.ids import LABEL_MAX

router = APIRouter(prefix="/api/v1", tags=["usage"])

_SUMMARY_EXAMPLE = (
    "envisioneer rich mindshare|(SZY1417,CPU,2026-11-19 13:59:47,7);"
    "(SZY1417,RAM,2026-11-19 13:59:47,41)$seize holistic users|(0080,NetFlow,2026-11-19 13:59:47,3)"
)
_BODY = {
    "requestBody": {
        "required": True,
        "description": "A usage summary in the monitoring module's text format, or its JSON form.",
        "content": {
            "text/plain": {"schema": {"type": "string"}, "example": _SUMMARY_EXAMPLE},
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["team", "resource", "dimension", "collected_at", "usage"],
                        "properties": {
                            "team": {"type": "string"},
                            "resource": {"type": "string"},
                            "dimension": {"enum": ["CPU", "RAM", "NetFlow"]},
                            "collected_at": {"type": "string", "example": "2026-11-19 13:59:47"},
                            "usage": {"type": "number", "minimum": 0, "maximum": 100},
                        },
                    },
                }
            },
        },
    }
}


@router.post(
    "/usage",
    response_model=IngestOut,
    dependencies=[WriteAuth],
    openapi_extra=_BODY,
    summary="Ingest a usage summary",
    responses={422: {"description": "malformed summary; nothing stored"}, 413: {}, 401: {}},
)
async def ingest_usage(
    request: Request,
    ingest: IngestDep,
    source: Annotated[
        str, Query(min_length=1, max_length=LABEL_MAX, description="names the batch")
    ] = "api",
    clamped: Annotated[
        int,
        Query(ge=0, le=10**9, description="readings a pull brought into 0..100 (counted)"),
    ] = 0,
) -> IngestOut:
    """Store a whole summary in one transaction, or nothing of it if any part is malformed.

    ``application/json`` bodies are the JSON form; anything else is read as the text
    format unless it starts with ``[``.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    reader = PayloadReader(True if content_type == "application/json" else None)
    pending: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            pending.append(chunk)
            size += len(chunk)
            if size >= _PARSE_EVERY:  # parse as the body arrives, off the event loop
                await run_in_threadpool(_feed, reader, pending)
                pending, size = [], 0
        await run_in_threadpool(_feed, reader, pending)
    except SummaryFormatError:
        await run_in_threadpool(ingest.count_rejected, "batches_rejected")
        raise
    result = await run_in_threadpool(ingest.ingest_read, reader, source=source, clamped=clamped)
    return IngestOut.model_validate(result, from_attributes=True)


_PARSE_EVERY = 1 << 20
"""Bytes of body to gather before handing them to the parser."""


def _feed(reader: PayloadReader, chunks: list[bytes]) -> None:
    for chunk in chunks:
        reader.feed(chunk)
