"""Recommendations: list, show with history, move between states, exclusions, the digest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from usagelens.api.deps import TEAM_NOT_FOUND, HandlersDep, TeamsDep, WindowDep, WriteAuth
from usagelens.api.schemas import (
    DigestIn,
    ExclusionIn,
    ExclusionOut,
    RecommendationDetailOut,
    RecommendationOut,
    RecommendationsOut,
    RecommendationSummaryOut,
    StateIn,
    WindowOut,
    detail_out,
    exclusion_out,
    recommendation_out,
)
from usagelens.app import Filters, Recommendations
from usagelens.domain.model import Decision, Dimension
from usagelens.domain.recommendations import State
from usagelens.domain.times import as_utc

router = APIRouter(prefix="/api/v1/recommendations", tags=["recommendations"])


async def _handler(handlers: HandlersDep) -> Recommendations:
    return handlers.recommendations


RecommendationsDep = Annotated[Recommendations, Depends(_handler)]


@router.get(
    "",
    response_model=RecommendationsOut,
    summary="Recommendations, filtered",
    responses=TEAM_NOT_FOUND,
)
def list_recommendations(
    recommendations: RecommendationsDep,
    window: WindowDep,
    teams: TeamsDep,
    state: Annotated[State | None, Query(description="only this state")] = None,
    decision: Annotated[Decision | None, Query(description="only delete or extend")] = None,
    dimension: Annotated[Dimension | None, Query(description="only this dimension")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="a part of the team or resource")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RecommendationsOut:
    """Return every delete and extend row with its state and evidence, in report order."""
    filters = Filters(state, decision, teams, dimension, q)
    read = recommendations.queries.resolve(window)
    items = recommendations.items(read, filters)
    page = items[offset : offset + limit]
    return RecommendationsOut(
        window=WindowOut(since=read.since, until=read.until),
        items=[recommendation_out(i) for i in page], total=len(items), limit=limit,
        offset=offset,
    )  # fmt: skip


@router.get(
    "/summary",
    response_model=RecommendationSummaryOut,
    summary="Money by state",
    responses=TEAM_NOT_FOUND,
)
def summary(
    recommendations: RecommendationsDep, window: WindowDep, teams: TeamsDep
) -> RecommendationSummaryOut:
    """Return the money of recommendations by state (actionable, dismissed, excluded,
    claimed, realised) and their count per state and decision, of the teams named if any.
    The course's own money (``/api/v1/costs/*``, the report) does not depend on states."""
    return RecommendationSummaryOut.model_validate(recommendations.summary(window, teams))


@router.get("/exclusions", response_model=list[ExclusionOut], summary="Exclusion rules")
def exclusions(recommendations: RecommendationsDep) -> list[ExclusionOut]:
    """Return every exclusion rule (a matching row is excluded: shown, never alerted)."""
    return [exclusion_out(rule) for rule in recommendations.exclusions()]


@router.post(
    "/exclusions",
    response_model=ExclusionOut,
    status_code=201,
    dependencies=[WriteAuth],
    summary="Add an exclusion rule",
)
def add_exclusion(recommendations: RecommendationsDep, body: ExclusionIn) -> ExclusionOut:
    """Exclude the rows whose team and resource match the globs (and the dimension, if one)."""
    dimension = None if body.dimension is None else Dimension(body.dimension)
    rule = recommendations.exclude(body.team, body.resource, dimension, body.reason)
    return exclusion_out(rule)


@router.delete(
    "/exclusions/{rule_id}",
    status_code=204,
    dependencies=[WriteAuth],
    summary="Remove an exclusion rule",
    responses={404: {"description": "no such rule"}},
)
def drop_exclusion(
    recommendations: RecommendationsDep,
    rule_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="the rule's id")],
) -> Response:
    """Remove an exclusion rule; its rows are what their states say again."""
    recommendations.drop_exclusion(rule_id)
    return Response(status_code=204)


@router.get("/digest", response_model=RecommendationsOut, summary="New candidates for a digest")
def digest_candidates(recommendations: RecommendationsDep) -> RecommendationsOut:
    """Return the active delete candidates with enough data that no digest has posted."""
    read = recommendations.queries.resolve(None)
    items = recommendations.new_candidates(read)
    return RecommendationsOut(
        window=WindowOut(since=read.since, until=read.until),
        items=[recommendation_out(i) for i in items], total=len(items), limit=len(items),
        offset=0,
    )  # fmt: skip


@router.post(
    "/digest", status_code=204, dependencies=[WriteAuth], summary="Mark candidates as posted"
)
def mark_digested(recommendations: RecommendationsDep, body: DigestIn) -> Response:
    """Remember that a digest posted these; the next digest leaves them out."""
    wanted = set(body.ids)
    recommendations.mark_digested([i for i in recommendations.new_candidates() if i.id in wanted])
    return Response(status_code=204)


@router.get(
    "/{rec_id}",
    response_model=RecommendationDetailOut,
    summary="One recommendation and its history",
    responses={404: {"description": "no delete or extend row has this id now"}},
)
def show(recommendations: RecommendationsDep, rec_id: str) -> RecommendationDetailOut:
    """Return a recommendation and every change of its state and its series' decision."""
    item, history = recommendations.get(rec_id)
    return detail_out(item, history)


@router.post(
    "/{rec_id}/state",
    response_model=RecommendationOut,
    dependencies=[WriteAuth],
    summary="Move a recommendation to another state",
    responses={
        404: {"description": "no delete or extend row has this id now"},
        409: {"description": "the lifecycle does not allow that move (the allowed are named)"},
    },
)
async def move(
    recommendations: RecommendationsDep, rec_id: str, body: StateIn
) -> RecommendationOut:
    """Dismiss (with ``until``: snooze), claim, reopen (active), or close (succeeded,
    failed) a recommendation, with a reason; the move is kept in its history."""
    until = None if body.until is None else as_utc(body.until)
    item = await run_in_threadpool(
        recommendations.move, rec_id, State(body.state), reason=body.reason, until=until,
        by=body.by,
    )  # fmt: skip
    return recommendation_out(item)
