"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from usagelens import __version__
from usagelens.api.access import ReadGuardMiddleware
from usagelens.api.docs import DOCS_ASSETS, DocsPolicyMiddleware
from usagelens.api.errors import install_error_handlers
from usagelens.api.limits import BodyLimitMiddleware
from usagelens.api.metrics import RequestMetricsMiddleware
from usagelens.api.openapi import document_problems
from usagelens.api.pushes import PushBatcher
from usagelens.api.routers import (
    analytics,
    changes,
    dashboard,
    focus,
    health,
    maintenance,
    metrics,
    policy,
    prices,
    recommendations,
    report,
    signin,
    sources,
    usage,
    webhooks,
)
from usagelens.api.scheduler import run_digest, run_retention, run_scheduled_refresh, run_settle
from usagelens.api.schemas import PushEventIn
from usagelens.api.shutdown import Drain
from usagelens.app import Handlers
from usagelens.config import Settings, load_settings
from usagelens.domain.errors import NotConfigured
from usagelens.exporter import build_registry
from usagelens.logs import RequestIdMiddleware
from usagelens.storage import create_engine_for
from usagelens.wiring import handlers_for

DESCRIPTION = """
What each team's infrastructure really uses, what it costs, and what should be cut.

Writes (`POST`/`PUT`) need the API token in `X-Auth-Token` or `Authorization: Bearer`
when one is configured; without one, the server takes writes from loopback only.
Errors are RFC 9457 problem details (`application/problem+json`).
"""


log = logging.getLogger("usagelens.api")


def create_app(settings: Settings | None = None, *, handlers: Handlers | None = None) -> FastAPI:
    """Build the API for these settings; the database must already be migrated."""
    settings = settings or load_settings()
    engine = None
    if handlers is None:
        engine = create_engine_for(settings.database_url)
        handlers = handlers_for(settings, engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for warning in settings.token_warnings():
            log.warning("%s", warning)
        drain.install()
        tasks = []
        if settings.refresh_every and settings.sources:
            tasks.append(asyncio.create_task(run_scheduled_refresh(handlers.refresh, settings)))
        if settings.retention is not None:
            tasks.append(asyncio.create_task(run_retention(handlers.maintenance, settings)))
        tasks.append(asyncio.create_task(run_settle(handlers.recommendations)))
        if settings.digest_every and settings.digest_webhook:
            tasks.append(
                asyncio.create_task(
                    run_digest(handlers.recommendations, settings, handlers.queries.currency)
                )
            )
        # Everything loaded at start-up lives as long as the process: move it out of the
        # collector's sight, so that a full collection during a cold read (which creates
        # tens of thousands of objects) does not walk every module and schema again.
        gc.collect()
        gc.freeze()
        yield
        drain.uninstall()
        await pushes.close()
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        if engine is not None:
            engine.dispose()

    # /docs and /redoc load Swagger UI and ReDoc from the package, never from a CDN: an
    # offline host shows its API docs too (see api.docs).
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        # Swagger UI would ask validator.swagger.io for a badge of the document otherwise.
        swagger_ui_parameters={"validatorUrl": None},
        title="usagelens",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    registry, request_metrics = build_registry(
        handlers.queries.metrics_state, handlers.pushes.latency_bounds
    )
    app.state.settings = settings
    app.state.handlers = handlers
    app.state.registry = registry
    app.state.render_caches = {}
    app.state.pushes = pushes = PushBatcher(handlers.pushes.record_pushes)
    app.state.shutdown = drain = Drain(settings.shutdown_drain)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.state.request_metrics = request_metrics
    if settings.protect_reads:
        if not settings.tokens:
            raise NotConfigured("USAGELENS_PROTECT_READS needs USAGELENS_API_TOKEN or _FILE")
        app.add_middleware(
            ReadGuardMiddleware, tokens=settings.tokens, failures=request_metrics.auth_failures
        )
    app.add_middleware(DocsPolicyMiddleware)
    app.add_middleware(RequestMetricsMiddleware, metrics=request_metrics)
    app.add_middleware(RequestIdMiddleware)  # outermost: every line of a request has its id
    routers = (
        usage, prices, analytics, changes, recommendations, policy, report, focus, maintenance,
        webhooks, metrics, health,
    )  # fmt: skip
    for router in (*routers, dashboard, signin):
        app.include_router(router.router)
    app.include_router(sources.router)
    _register_push_schema(app, settings)
    return app


def _register_push_schema(app: FastAPI, settings: Settings) -> None:
    """Publish PushEventIn in the OpenAPI components (the route reads a raw body).

    Also declare every error answer as problem details (see ``api.openapi``).
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            schema.setdefault("components", {}).setdefault("schemas", {})["PushEventIn"] = (
                PushEventIn.model_json_schema()
            )
            document_problems(schema, protect_reads=settings.protect_reads)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """Build the API from ``USAGELENS_*`` variables (the uvicorn factory for ``serve``)."""
    return create_app(load_settings())
