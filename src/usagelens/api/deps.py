"""Dependencies shared by the routers: the service, settings, the write guard, windows.

They do no I/O, so they are ``async def``: FastAPI runs a plain ``def`` dependency in
the thread pool, a hop that costs more than the dependency itself.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from usagelens.api.access import DETAILS, token_problem
from usagelens.config import Settings
from usagelens.domain.model import Window
from usagelens.domain.times import FORMS, parse_moment
from usagelens.services import UsageLens


async def get_service(request: Request) -> UsageLens:
    """Return the application's service object."""
    service: UsageLens = request.app.state.service
    return service


async def get_settings(request: Request) -> Settings:
    """Return the application's settings."""
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[UsageLens, Depends(get_service)]
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
        if not _is_loopback(request.client.host if request.client else None):
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
        return parse_moment(text)
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from None


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host in {"localhost", "testclient"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
