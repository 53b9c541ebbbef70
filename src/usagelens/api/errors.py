"""Every error the API answers is RFC 9457 problem details (``application/problem+json``).

Domain errors are mapped to HTTP here and nowhere else.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from usagelens.domain.errors import (
    IllegalMove,
    InvalidInput,
    InvalidName,
    LeaseLost,
    NotConfigured,
    NotFound,
    PayloadTooLarge,
    PolicyError,
    PriceListError,
    PushEventError,
    RejectedByStore,
    ShuttingDown,
    SourceError,
    StorageError,
    StorageUnavailable,
    SummaryFormatError,
    UsageLensError,
)
from usagelens.logs import request_id
from usagelens.storage.errors import DATABASE_ERRORS, classify

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("usagelens.api")

# Most specific first: (error class, HTTP status, problem slug).
_MAPPING: tuple[tuple[type[UsageLensError], int, str], ...] = (
    (SummaryFormatError, 422, "invalid-summary"),
    (PriceListError, 422, "invalid-price-list"),
    (PolicyError, 422, "invalid-policy"),
    (PushEventError, 422, "invalid-push-event"),
    (PayloadTooLarge, 413, "payload-too-large"),
    (InvalidName, 422, "invalid-name"),
    (RejectedByStore, 422, "rejected-by-store"),
    (InvalidInput, 400, "invalid-input"),
    (NotFound, 404, "not-found"),
    (NotConfigured, 409, "not-configured"),
    (LeaseLost, 409, "lease-lost"),
    (IllegalMove, 409, "illegal-move"),
    (SourceError, 502, "source-failed"),
    (StorageUnavailable, 503, "storage-unavailable"),
    (StorageError, 500, "storage-failed"),
    (ShuttingDown, 503, "shutting-down"),
)


class ProblemResponse(JSONResponse):
    """A problem details answer that can name any value the caller sent."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        """Encode as JSON; a lone surrogate (UTF-8 cannot hold one) becomes its escape."""
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """Build a problem details response."""
    body: dict[str, Any] = {
        "type": f"urn:usagelens:problem:{slug}" if slug else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if (rid := request_id.get()) is not None:
        body["request_id"] = rid
    body.update({k: v for k, v in extensions.items() if v is not None})
    return ProblemResponse(body, status_code=status, headers=headers)


def problem_for(exc: UsageLensError, instance: str | None = None) -> JSONResponse:
    """Map a domain error to its problem response."""
    status, slug = 500, "internal-error"
    for kind, code, name in _MAPPING:
        if isinstance(exc, kind):
            status, slug = code, name
            break
    extensions: dict[str, Any] = {}
    if isinstance(exc, SummaryFormatError):
        extensions = {
            "team_index": exc.team_index,
            "team": exc.team,
            "record_index": exc.record_index,
            "field": exc.field,
        }
    elif isinstance(exc, RejectedByStore):
        extensions = {"field": exc.field}
    detail = str(exc)
    if status == 500:
        # Not the caller's doing: say where to look, keep the cause in the log.
        log.error("%s (%s)", detail, type(exc).__name__, exc_info=exc)
        detail = "internal error; see the server log for this request id"
    elif status == 503 and isinstance(exc, StorageUnavailable):
        log.warning("database unavailable on %s: %s", instance, detail)
        detail = "the database is unavailable; try again shortly"
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return problem(status, detail, slug=slug, instance=instance, headers=headers, **extensions)


RETRY_AFTER_SECONDS = 5
"""What a 503 tells the caller to wait before trying again (the database is away)."""


_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")


def allowed_methods(request: Request) -> list[str]:
    """Return every method some route answers on the request's path (a 405's Allow)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error, expected or not, as problem details."""

    @app.exception_handler(UsageLensError)
    async def _domain(request: Request, exc: UsageLensError) -> JSONResponse:
        return problem_for(exc, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path only.
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem(exc.status_code, detail, instance=request.url.path, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return problem(
            422,
            detail or "invalid request",
            slug="invalid-request",
            instance=request.url.path,
            errors=errors,
        )

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # A database error that escaped a unit of work: the same classification.
        return problem_for(classify(exc), request.url.path)

    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, _database)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error; see the server log", instance=request.url.path)
