"""Table sources' read positions, kept by the server for ``collect --url``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from usagelens.api.deps import RefreshDep, WriteAuth
from usagelens.api.schemas import SourcePositionIn, SourcePositionOut
from usagelens.domain.times import as_utc

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])

SourceQuery = Annotated[
    str, Query(min_length=1, max_length=500, description="the table source's name")
]


@router.get(
    "/position", response_model=SourcePositionOut, summary="How far a table source has been read"
)
def read_position(refresh: RefreshDep, source: SourceQuery) -> SourcePositionOut:
    """Return the newest collect_date taken from a table source (null: never read)."""
    return SourcePositionOut(source=source, position=refresh.source_position(source))


@router.put(
    "/position",
    response_model=SourcePositionOut,
    dependencies=[WriteAuth],
    summary="Move a table source's read position forward",
)
def move_position(
    refresh: RefreshDep, source: SourceQuery, body: SourcePositionIn
) -> SourcePositionOut:
    """Record how far a table source has been read; a position behind the stored one is kept
    as it is (positions never move back). Answers the position now stored."""
    moment = as_utc(body.position)
    refresh.set_source_position(source, moment)
    return SourcePositionOut(source=source, position=refresh.source_position(source))
