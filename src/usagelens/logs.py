"""Logging: configured once with ``logging.config.dictConfig``, plain or JSON lines, every
line of a request carrying its request id.

The request id comes from the caller's ``X-Request-ID`` header (when it is a sane token)
or is made here; it is kept in a context variable, so that it follows the request into
the thread pool, and a filter puts it on every record.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: ContextVar[str | None] = ContextVar("usagelens_request_id", default=None)
"""The id of the request being answered (None outside a request)."""

_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("usagelens.access")


class RequestIdFilter(logging.Filter):
    """Put the current request id (or ``-``) on every record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drop it."""
        record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, extras."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
        "message",
        "asctime",
        "request_id",
    }

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        document: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        document.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


JsonFormatter.converter = time.gmtime


def logging_config(format: str = "plain", level: str = "info") -> dict[str, Any]:
    """The dictConfig for the service and uvicorn: one handler on stderr."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if format == "json"
        else {"format": "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"}
    )
    handler = {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "usagelens": handler,
            "uvicorn": handler,
            "uvicorn.error": {**handler, "propagate": False},
        },
    }


class RequestIdMiddleware:
    """Give each request an id (the caller's X-Request-ID, or a new one), answer it in the
    X-Request-ID header, and write one access log line when the answer is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request under its id."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        rid = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            access_log.info(
                '%s "%s %s" %d %.1f ms',
                client[0] if client else "-",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )
            request_id.reset(token)
