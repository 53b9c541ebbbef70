"""Whole-store work over HTTP: export, import, prune and rebuild (what the CLI's ``--url`` uses)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from usagelens.api.deps import MaintenanceDep, SettingsDep, WriteAuth
from usagelens.api.schemas import ImportPlanOut, IngestOut, PruneIn, PruneOut, RebuildOut
from usagelens.config import MIN_RETENTION
from usagelens.documents import load_document
from usagelens.domain.errors import InvalidInput
from usagelens.domain.policy import Policy
from usagelens.domain.times import as_utc, parse_duration

router = APIRouter(prefix="/api/v1", tags=["maintenance"])

_EXPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "A document written by `GET /api/v1/export` (`usagelens export`).",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.get("/export", summary="Everything stored, as one JSON document")
def export(maintenance: MaintenanceDep) -> JSONResponse:
    """Answer every observation (in the summary text format), the price lists, the pushed
    counts and the policy, read in one snapshot; ``POST /api/v1/import`` restores it."""
    return JSONResponse(maintenance.export())


@router.post(
    "/import",
    dependencies=[WriteAuth],
    openapi_extra=_EXPORT_BODY,
    response_model=IngestOut | ImportPlanOut,
    summary="Restore an export into this server's empty store",
    responses={400: {"description": "not an export, or the store is not empty; nothing stored"}},
)
async def import_(
    request: Request,
    maintenance: MaintenanceDep,
    dry_run: Annotated[bool, Query(description="say what it holds; store nothing")] = False,
) -> IngestOut | ImportPlanOut:
    """Restore an export whole (only into an empty store), or with ``dry_run`` say what it
    holds and whether the store would take it."""
    document: Any = load_document(await request.body(), what="export")
    if dry_run:
        plan = await run_in_threadpool(maintenance.import_plan, document)
        return ImportPlanOut.model_validate(plan, from_attributes=True)
    result = await run_in_threadpool(maintenance.import_, document)
    return IngestOut.model_validate(result, from_attributes=True)


@router.post(
    "/prune",
    dependencies=[WriteAuth],
    response_model=PruneOut,
    summary="Delete old observations (retention); the aggregates stay exact",
)
def prune(maintenance: MaintenanceDep, settings: SettingsDep, body: PruneIn) -> PruneOut:
    """Delete the observations older than ``older_than`` (or the server's
    USAGELENS_RETENTION), or collected before ``before``; ``dry_run`` only says what would go.

    An age under an hour is refused unless ``force``: ``3m`` is three minutes.
    """
    now = maintenance.clock()
    if body.before is not None:
        cutoff = as_utc(body.before)
        span = now - cutoff
    else:
        age = _age(body.older_than) if body.older_than is not None else settings.retention
        if age is None:
            raise InvalidInput("nothing to prune by: send older_than (90d) or before")
        span, cutoff = age, now - age
    if span < MIN_RETENTION and not (body.force or body.dry_run):
        raise InvalidInput(
            "that deletes everything younger than an hour too: send force=true if that is "
            "what you mean"
        )
    if body.dry_run:
        plan = maintenance.prune_plan(now - cutoff)
        return PruneOut(**_fields(plan), dry_run=True)
    result = maintenance.prune_before(cutoff)
    return PruneOut(**_fields(result), dry_run=False)


@router.post(
    "/rebuild",
    dependencies=[WriteAuth],
    response_model=RebuildOut,
    summary="Recompute every aggregate under this server's configured policy",
)
def rebuild(maintenance: MaintenanceDep, settings: SettingsDep) -> RebuildOut:
    """Recompute everything from the stored observations under the policy this server is
    configured with (USAGELENS_POLICY_FILE, else the built-in default)."""
    result = maintenance.rebuild(settings.load_policy() or Policy())
    return RebuildOut.model_validate(result, from_attributes=True)


def _age(text: str) -> timedelta:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(f"older_than: {exc}") from None
    if not seconds:
        raise InvalidInput("older_than: give an age such as 90d or 200h")
    return timedelta(seconds=seconds)


def _fields(result: Any) -> dict[str, Any]:
    names = ("observations", "series", "transactions", "cutoff", "oldest", "newest")
    return {name: getattr(result, name) for name in names}
