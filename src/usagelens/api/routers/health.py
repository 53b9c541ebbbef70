"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from usagelens.api.deps import QueriesDep
from usagelens.api.schemas import StatusOut
from usagelens.domain.errors import ShuttingDown

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=StatusOut, summary="Liveness")
def healthz() -> StatusOut:
    """Answer while the process serves requests."""
    return StatusOut(status="ok")


@router.get(
    "/readyz",
    response_model=StatusOut,
    summary="Readiness",
    responses={503: {"description": "database unreachable, or the process is shutting down"}},
)
async def readyz(request: Request, queries: QueriesDep) -> StatusOut:
    """Answer 200 when the database is reachable and the process is not shutting down."""
    if request.app.state.shutdown.draining:
        raise ShuttingDown("shutting down: finishing the requests in flight")
    await run_in_threadpool(queries.ready)
    return StatusOut(status="ready")
