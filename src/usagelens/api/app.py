"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from usagelens import __version__
from usagelens.api.errors import install_error_handlers
from usagelens.api.limits import BodyLimitMiddleware
from usagelens.api.routers import analytics, health, prices, report, usage, webhooks
from usagelens.config import Settings, load_settings
from usagelens.services import UsageLens
from usagelens.storage import SqlRepository, create_engine_for

DESCRIPTION = """
What each team's infrastructure really uses, what it costs, and what should be cut.

Writes (`POST`/`PUT`) need the API token in `X-Auth-Token` or `Authorization: Bearer`
when one is configured; without one, the server takes writes from loopback only.
Errors are RFC 9457 problem details (`application/problem+json`).
"""


def create_app(settings: Settings | None = None, *, service: UsageLens | None = None) -> FastAPI:
    """Build the API for these settings; the database must already be migrated."""
    settings = settings or load_settings()
    engine = None
    if service is None:
        engine = create_engine_for(settings.database_url)
        service = UsageLens(
            SqlRepository(engine), policy=settings.load_policy(), currency=settings.currency
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if engine is not None:
            engine.dispose()

    app = FastAPI(
        title="usagelens",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = service
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    for router in (usage, prices, analytics, report, webhooks, health):
        app.include_router(router.router)
    return app


def app_from_env() -> FastAPI:
    """Build the API from ``USAGELENS_*`` variables (the uvicorn factory for ``serve``)."""
    return create_app(load_settings())
