"""The sign-in page for protected reads: take the token once, set a session cookie.

Kept out of the OpenAPI document: it is a page for people; scripts send the token header.
"""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from usagelens.api.access import token_problem
from usagelens.api.deps import SettingsDep
from usagelens.api.session import COOKIE, SIGN_IN, SIGN_OUT, safe_next, session_valid, session_value
from usagelens.api.ui import render
from usagelens.config import Settings, describe_duration

router = APIRouter(include_in_schema=False)

TOKEN_MAX = 4096
"""The longest token the form takes (a form body is read whole, this bounds it)."""


@router.get(SIGN_IN, response_class=HTMLResponse)
def sign_in_page(
    request: Request,
    settings: SettingsDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> HTMLResponse:
    """Show the sign-in form (or say that this browser is signed in, or needs none)."""
    signed_in = session_valid(request.cookies.get(COOKIE), settings.tokens, time.time())
    return _page(settings, safe_next(next), signed_in=signed_in)


@router.post(SIGN_IN, response_class=HTMLResponse)
async def sign_in(request: Request, settings: SettingsDep) -> Response:
    """Check the token given in the form; set the session cookie and go on, or say why not."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=4)
    target = safe_next((fields.get("next") or ["/"])[0])
    token = (fields.get("token") or [""])[0]
    if not settings.protect_reads or not settings.tokens:
        return RedirectResponse(target, status_code=303)
    if not token or len(token) > TOKEN_MAX:
        return _page(settings, target, error="Give the API token.", status=400)
    reason = token_problem({"x-auth-token": token}, settings.tokens)
    if reason is not None:
        request.app.state.request_metrics.auth_failures.labels(reason).inc()
        return _page(settings, target, error="That is not the API token.", status=401)
    lasts = int(settings.session_ttl.total_seconds())
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        session_value(token, int(time.time()) + lasts),
        max_age=lasts,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post(SIGN_OUT)
def sign_out(request: Request) -> Response:
    """Forget this browser's session and show the sign-in form."""
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(
        COOKIE, path="/", secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )
    return response


def _page(
    settings: Settings, target: str, *, signed_in: bool = False, error: str = "", status: int = 200
) -> HTMLResponse:
    html = render(
        "signin.html",
        next=target,
        signed_in=signed_in,
        needed=settings.protect_reads and bool(settings.tokens),
        lasts=describe_duration(settings.session_ttl),
        error=error,
    )
    headers = {"Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=status, headers=headers)
