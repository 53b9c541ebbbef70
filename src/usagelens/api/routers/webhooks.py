"""The update webhook and the refresh state."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from usagelens.api.deps import RefreshDep, SettingsDep, WriteAuth
from usagelens.api.errors import problem
from usagelens.api.schemas import IngestOut, PullOut, RefreshOut, RefreshStatusOut
from usagelens.domain.errors import NotConfigured
from usagelens.pulls import PullOutcome
from usagelens.wiring import holder_name, refresh_configured

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


@router.post(
    "/webhooks/refresh",
    response_model=RefreshOut,
    dependencies=[WriteAuth],
    summary="Pull usage and prices from the monitoring sources",
    responses={
        409: {"description": "no sources configured, or a refresh is already running"},
        502: {"description": "every pull failed"},
    },
)
async def refresh(handler: RefreshDep, settings: SettingsDep) -> RefreshOut | JSONResponse:
    """Pull every configured branch of every source and their price lists, concurrently.

    Each pull's outcome is answered; a dead source or a missing branch does not stop the
    others from landing. Answers 502 only when every pull failed, 409 while another
    refresh (scheduled or not, on any worker) is running.
    """
    if not settings.sources:
        raise NotConfigured("no monitoring sources configured (set USAGELENS_SOURCES)")
    outcomes = await refresh_configured(handler, settings, holder=holder_name("webhook"))
    if outcomes is None:
        raise NotConfigured("a refresh is already running; try again when it has finished")
    pulls = [_pull_out(o) for o in outcomes]
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


@router.get("/refresh", response_model=RefreshStatusOut, summary="The last refresh")
def refresh_status(handler: RefreshDep, settings: SettingsDep) -> RefreshStatusOut:
    """Return when the last refresh ran, what it did, and whether one is running now."""
    return RefreshStatusOut(schedule_seconds=settings.refresh_every, **handler.status())


def _pull_out(o: PullOutcome) -> PullOut:
    return PullOut(
        source=o.source,
        kind="usage" if o.kind == "usage" else "prices",
        branch=o.branch,
        ok=o.ok,
        detail=o.detail,
        batch=IngestOut.model_validate(o.result, from_attributes=True) if o.result else None,
    )
