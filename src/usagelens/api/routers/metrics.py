"""Prometheus exposition and the push-to-pull bridge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.types import Receive, Scope, Send

from usagelens.api.deps import HandlersDep, PushesDep, SettingsDep, WriteAuth
from usagelens.api.schemas import PushOut
from usagelens.app import DataView
from usagelens.exporter import (
    RECOMMENDATION_FAMILIES,
    RenderCache,
    Scrape,
    chosen_families,
    live_part,
    render_pieces,
    render_recommendations,
)

router = APIRouter(tags=["metrics"])

_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/PushEventIn"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/PushEventIn"}},
                    ]
                },
                "example": {"status": 202, "endpoint": "/process-finances", "time": 1.27},
            }
        },
    }
}


@router.get(
    "/metrics",
    summary="Prometheus exposition",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}, "application/openmetrics-text": {}}},
        400: {"description": "a family= names no metric family (the answer lists them)"},
    },
)
def metrics(
    request: Request,
    handlers: HandlersDep,
    settings: SettingsDep,
    family: Annotated[
        list[str] | None,
        Query(
            max_length=100,
            description="only these metric families (repeatable; a counter with or without"
            " _total); every family when absent",
        ),
    ] = None,
) -> Response:
    """Render the metrics: the data part once per data version (and per family choice),
    re-using the blocks of series the last version's rendering had, the live part fresh.

    OpenMetrics if the scraper asks for it; gzip if it accepts it. ``?family=`` lets a
    scrape leave out what it does not need, above all the per-series usage histograms.
    """
    families = chosen_families(family or ())
    recommendations = handlers.recommendations

    def render(view: DataView) -> Scrape:
        wants_recommendations = families is None or not families.isdisjoint(RECOMMENDATION_FAMILIES)
        extra = b""
        if wants_recommendations:
            summary = recommendations.summary(view.window)
            extra = render_recommendations(summary, settings.budgets, view.costs.teams, families)
        blocks = _render_cache(request, families)
        return Scrape([*render_pieces(view, families, blocks), extra])

    scrape = handlers.queries.cached(("metrics", families), render)
    live, content_type = live_part(
        request.app.state.registry, request.headers.get("accept", ""), families
    )
    gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
    headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"} if gzip else None
    size, parts = scrape.parts(live, gzip)
    return PartsResponse(size, parts, lazy=not gzip, media_type=content_type, headers=headers)


def _render_cache(request: Request, families: frozenset[str] | None) -> RenderCache:
    """This process's blocks of the last rendering of a family choice (a few choices)."""
    caches: dict[frozenset[str] | None, RenderCache] = request.app.state.render_caches
    cache = caches.get(families)
    if cache is None:
        if len(caches) >= 8:  # scrape configs name a handful of choices; a stranger's
            caches.clear()  # many do not pile up
        cache = caches[families] = RenderCache()
    return cache


class PartsResponse(Response):
    """A response of a known length whose body is sent as several byte strings, never
    joined into one; ``lazy``: taking a part makes it (a plain scrape's blocks are inflated
    then), so the parts are taken in the thread pool, off the event loop."""

    def __init__(
        self,
        size: int,
        parts: Iterator[bytes],
        *,
        lazy: bool,
        media_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(b"", media_type=media_type, headers=headers)
        self.parts, self.lazy = parts, lazy
        self.headers["content-length"] = str(size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the head, then each part, then the end of the body."""
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if self.lazy:
            async for part in iterate_in_threadpool(self.parts):
                await send({"type": "http.response.body", "body": part, "more_body": True})
        else:
            for part in self.parts:
                await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


@router.post(
    "/metric-receiver",
    response_model=PushOut,
    dependencies=[WriteAuth],
    openapi_extra=_BODY,
    summary="Push request events",
    responses={422: {"description": "a malformed event; nothing counted"}},
)
async def receive(request: Request, pushes: PushesDep) -> PushOut:
    """Count pushed request events (one object or a list) into the http_service_* series.

    Answered once the events are committed (several requests share one commit).
    """
    payload = await request.body()
    events = await run_in_threadpool(pushes.parse_push, payload)
    await request.app.state.pushes.submit(events)
    return PushOut(accepted=len(events))
