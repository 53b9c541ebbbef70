"""What changed since a moment: decisions, new and vanished series, the money to delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from usagelens.api.deps import TEAM_NOT_FOUND, QueriesDep, TeamsDep
from usagelens.api.schemas import ChangesOut, changes_out
from usagelens.domain.times import FORMS, parse_moment

router = APIRouter(prefix="/api/v1", tags=["analytics"])


@router.get(
    "/changes", response_model=ChangesOut, summary="What changed since", responses=TEAM_NOT_FOUND
)
def changes(
    queries: QueriesDep,
    teams: TeamsDep,
    since: Annotated[
        str, Query(max_length=64, description=f"the moment to compare now with ({FORMS})")
    ] = "7d",
) -> ChangesOut:
    """Return the decisions that changed since then (from, to, when, why), the series that
    are new or vanished, and the money on what is to be deleted then and now, per team and
    overall (of the teams named, if any). Now is the default window; then is the same window
    ending at ``since``."""
    try:
        moment = parse_moment(since)
    except ValueError as exc:
        raise HTTPException(422, f"since: {exc}") from None
    return changes_out(queries.changes(moment, teams), queries.currency)
