"""The update webhook: pull from the configured monitoring sources and store."""

from __future__ import annotations

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from usagelens.api.deps import ServiceDep, SettingsDep, WriteAuth
from usagelens.api.errors import problem
from usagelens.api.schemas import IngestOut, PullOut, RefreshOut
from usagelens.domain.errors import NotConfigured
from usagelens.sources import HttpMonitoringSource

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


@router.post(
    "/refresh",
    response_model=RefreshOut,
    dependencies=[WriteAuth],
    summary="Pull usage and prices from the monitoring sources",
    responses={409: {"description": "no sources configured"}, 502: {"description": "all failed"}},
)
async def refresh(service: ServiceDep, settings: SettingsDep) -> RefreshOut | JSONResponse:
    """Pull every configured branch of every source and their price lists, concurrently.

    Each pull's outcome is answered; a dead source or a missing branch does not stop the
    others from landing. Answers 502 only when every pull failed.
    """
    if not settings.sources:
        raise NotConfigured("no monitoring sources configured (set USAGELENS_SOURCES)")
    async with httpx.AsyncClient(timeout=settings.source_timeout) as client:
        sources = [HttpMonitoringSource(url, client) for url in settings.sources]
        outcomes = await service.refresh(sources, settings.branches)
    pulls = [
        PullOut(
            source=o.source,
            kind="usage" if o.kind == "usage" else "prices",
            branch=o.branch,
            ok=o.ok,
            detail=o.detail,
            batch=IngestOut.model_validate(o.result, from_attributes=True) if o.result else None,
        )
        for o in outcomes
    ]
    answer = RefreshOut(
        ok=sum(p.ok for p in pulls), failed=sum(not p.ok for p in pulls), pulls=pulls
    )
    if answer.ok == 0:
        return problem(
            502,
            "every pull failed: " + "; ".join(p.detail for p in pulls),
            slug="source-failed",
            pulls=[p.model_dump() for p in pulls],
        )
    return answer
