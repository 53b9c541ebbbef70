"""Who may do what: the token check shared by writes and (optionally) reads.

Writes always need a token (or come from loopback while none is configured). With
``USAGELENS_PROTECT_READS`` every request, whatever its method, needs one too: reads,
``/metrics``, the policy preview (a POST that answers rows and money), the dashboard and
the API's documents; only the health probes and the sign-in page stay open. A browser
signs in once (``api.session``): its cookie stands for the token on reads, and a page
load without either is sent to the sign-in page instead of a JSON 401. Several tokens
may be valid at once, so that one can be rotated without downtime. A token is never
logged or echoed; failures are counted in ``usagelens_auth_failures_total``.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from prometheus_client import Counter
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from usagelens.api.errors import problem
from usagelens.api.session import COOKIE, SIGN_IN, SIGN_OUT, session_valid

OPEN_PATHS = frozenset({"/healthz", "/readyz", SIGN_IN, SIGN_OUT})
"""Paths that answer without a token even when reads are protected (probes, sign-in)."""


def is_loopback(host: str | None) -> bool:
    """Tell whether a host (a client's address, or one to listen on) is this machine only.

    ``testclient`` is the address Starlette's test client reports.
    """
    if host is None:
        return False
    if host in {"localhost", "testclient"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_problem(headers: Mapping[str, str], tokens: Sequence[str]) -> str | None:
    """Return why these request headers carry no valid token, or None if one is valid."""
    supplied = headers.get("x-auth-token")
    authorization = headers.get("authorization", "")
    if supplied is None and authorization[:7].lower() == "bearer ":
        supplied = authorization[7:].strip()
    if supplied is None:
        return "missing"
    given = supplied.encode()
    valid = False
    for token in tokens:  # compare with every token: the time does not tell which matched
        valid |= hmac.compare_digest(given, token.encode())
    return None if valid else "wrong"


DETAILS = {
    "missing": "this needs the API token (X-Auth-Token header or Authorization: Bearer)",
    "wrong": "the API token is wrong",
}


class ReadGuardMiddleware:
    """Refuse every request but the probes without a valid token (installed when reads are
    protected): an operation that answers stored data may use any method."""

    def __init__(self, app: ASGIApp, tokens: Sequence[str], failures: Counter) -> None:
        self.app = app
        self.tokens = tuple(tokens)
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the token of a request, then pass it on."""
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        reason = token_problem(headers, self.tokens)
        if reason is None or (reason == "missing" and self._signed_in(headers)):
            await self.app(scope, receive, send)
            return
        if reason == "missing" and _page_load(scope, headers):
            target = scope["path"] + (
                "?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""
            )
            where = f"{SIGN_IN}?next={quote(target, safe='')}"
            await RedirectResponse(where, status_code=303)(scope, receive, send)
            return
        self.failures.labels(reason).inc()
        response = problem(
            401,
            DETAILS[reason],
            slug="unauthorized",
            instance=scope["path"],
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    def _signed_in(self, headers: Headers) -> bool:
        cookie = headers.get("cookie")
        if not cookie:
            return False
        return session_valid(cookie_parser(cookie).get(COOKIE), self.tokens, time.time())


def _page_load(scope: Scope, headers: Headers) -> bool:
    """Tell whether a request is a browser loading a page (GET, HTML accepted first)."""
    return scope["method"] in ("GET", "HEAD") and "text/html" in headers.get("accept", "")
