"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from usagelens.api.deps import ServiceDep
from usagelens.api.schemas import StatusOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=StatusOut, summary="Liveness")
def healthz() -> StatusOut:
    """Answer while the process serves requests."""
    return StatusOut(status="ok")


@router.get(
    "/readyz",
    response_model=StatusOut,
    summary="Readiness",
    responses={503: {"description": "database unreachable"}},
)
async def readyz(service: ServiceDep) -> StatusOut:
    """Answer 200 when the database is reachable, else 503."""
    await run_in_threadpool(service.ready)
    return StatusOut(status="ready")
