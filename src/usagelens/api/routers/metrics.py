"""Prometheus exposition and the push-to-pull bridge."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import choose_encoder
from starlette.concurrency import run_in_threadpool

from usagelens.api.deps import ServiceDep, WriteAuth
from usagelens.api.schemas import PushOut

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
    responses={200: {"content": {"text/plain": {}, "application/openmetrics-text": {}}}},
)
def metrics(request: Request) -> Response:
    """Render every metric from the stored snapshot (OpenMetrics if the scraper asks)."""
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(request.app.state.registry), media_type=content_type)


@router.post(
    "/metric-receiver",
    response_model=PushOut,
    dependencies=[WriteAuth],
    openapi_extra=_BODY,
    summary="Push request events",
    responses={422: {"description": "a malformed event; nothing counted"}},
)
async def receive(request: Request, service: ServiceDep) -> PushOut:
    """Count pushed request events (one object or a list) into the http_service_* series."""
    payload = await request.body()
    accepted = await run_in_threadpool(service.push, payload)
    return PushOut(accepted=accepted)
