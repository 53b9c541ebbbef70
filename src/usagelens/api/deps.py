"""Dependencies shared by the routers: the handlers, settings, the write guard, windows.

They do no I/O, so they are ``async def``: FastAPI runs a plain ``def`` dependency in
the thread pool, a hop that costs more than the dependency itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from usagelens.api.access import DETAILS, is_loopback, token_problem
from usagelens.app import Handlers, Ingest, Maintenance, Prices, Pushes, Queries, Refresh
from usagelens.config import Settings
from usagelens.domain.ids import NAME_MAX
from usagelens.domain.model import Window
from usagelens.domain.times import FORMS, parse_bound


async def get_handlers(request: Request) -> Handlers:
    """Return the application's use-case handlers."""
    handlers: Handlers = request.app.state.handlers
    return handlers


HandlersDep = Annotated[Handlers, Depends(get_handlers)]


async def get_queries(handlers: HandlersDep) -> Queries:
    """Return the read model."""
    return handlers.queries


async def get_ingest(handlers: HandlersDep) -> Ingest:
    """Return the ingest handler."""
    return handlers.ingest


async def get_prices(handlers: HandlersDep) -> Prices:
    """Return the price lists' handler."""
    return handlers.prices


async def get_pushes(handlers: HandlersDep) -> Pushes:
    """Return the push bridge's handler."""
    return handlers.pushes


async def get_refresh(handlers: HandlersDep) -> Refresh:
    """Return the refresh handler."""
    return handlers.refresh


async def get_maintenance(handlers: HandlersDep) -> Maintenance:
    """Return the maintenance handler."""
    return handlers.maintenance


QueriesDep = Annotated[Queries, Depends(get_queries)]
IngestDep = Annotated[Ingest, Depends(get_ingest)]
PricesDep = Annotated[Prices, Depends(get_prices)]
PushesDep = Annotated[Pushes, Depends(get_pushes)]
RefreshDep = Annotated[Refresh, Depends(get_refresh)]
MaintenanceDep = Annotated[Maintenance, Depends(get_maintenance)]


async def get_settings(request: Request) -> Settings:
    """Return the application's settings."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


# Where the token goes, for the OpenAPI document (and so for clients generated from it);
# require_writer reads the headers itself, the same way ReadGuardMiddleware does.
_TOKEN_HEADER = APIKeyHeader(
    name="X-Auth-Token", scheme_name="token", description="the API token", auto_error=False
)
_BEARER = HTTPBearer(
    scheme_name="bearer", description="the API token as a bearer token", auto_error=False
)


async def require_writer(
    request: Request,
    settings: SettingsDep,
    _header: Annotated[str | None, Security(_TOKEN_HEADER)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
) -> None:
    """Let a write through only with a configured token (or from loopback if none is set)."""
    if not settings.tokens:
        if not is_loopback(request.client.host if request.client else None):
            raise HTTPException(401, "writes are loopback-only while no API token is configured")
        return
    reason = token_problem(request.headers, settings.tokens)
    if reason is not None:
        request.app.state.request_metrics.auth_failures.labels(reason).inc()
        raise HTTPException(401, DETAILS[reason], headers={"WWW-Authenticate": "Bearer"})


WriteAuth = Depends(require_writer)


_MOMENT = f"({FORMS}; UTC unless a zone is given)"


async def window(
    since: Annotated[
        str | None, Query(description=f"only observations collected at or after {_MOMENT}")
    ] = None,
    until: Annotated[
        str | None, Query(description=f"only observations collected before {_MOMENT}")
    ] = None,
) -> Window:
    """Build the time window of a read from its query parameters (422 if one is no time)."""
    start, end = _moment(since, "since"), _moment(until, "until")
    if start and end and start >= end:
        raise HTTPException(422, "since must be earlier than until")
    return Window(start, end)


WindowDep = Annotated[Window, Depends(window)]


def _moment(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_bound(text)
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from None


async def teams(
    team: Annotated[
        list[str] | None,
        Query(description="only this team (repeat for several; 404 for a team not stored)"),
    ] = None,
) -> tuple[str, ...] | None:
    """Return the teams a read is about, sorted and without repeats (None: every team)."""
    if not team:
        return None
    for name in team:
        if not name or len(name) > NAME_MAX:
            raise HTTPException(422, f"team: a team name is 1 to {NAME_MAX} characters")
    return tuple(sorted(set(team)))


TeamsDep = Annotated[tuple[str, ...] | None, Depends(teams)]
TEAM_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"description": "a team named has no stored series (the problem names it)"}
}
"""The answer a read with ``team`` documents besides its own."""
