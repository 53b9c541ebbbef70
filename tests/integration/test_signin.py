"""Sign-in for protected reads: the token once, then a signed session cookie (HttpOnly,
SameSite=Strict, Secure over HTTPS, expiring) that opens reads and nothing else. The API
in-process on a real SQLite file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import InProcessClient
from usagelens.api.session import COOKIE, session_value

TOKEN = "s1gn-in-token"
OTHER = "another-token"
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def api(app_client):  # type: ignore[no-untyped-def]
    return app_client(api_token=TOKEN, protect_reads=True, session_ttl="2h")


def _sign_in(api: InProcessClient, token: str, next: str = "/") -> httpx.Response:
    return api.post(
        "/signin",
        content=f"token={token}&next={next}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def _cookie_of(response: httpx.Response) -> tuple[str, str]:
    header = response.headers["set-cookie"]
    value = header.split(";", 1)[0].split("=", 1)[1]
    return value, header.lower()


def test_a_page_load_goes_to_the_sign_in_page_and_an_api_call_gets_401(
    api: InProcessClient,
) -> None:
    page = api.get("/ui/rows?decision=delete", headers=HTML)
    assert page.status_code == 303
    target = urlsplit(page.headers["location"])
    assert target.path == "/signin"
    assert parse_qs(target.query)["next"] == ["/ui/rows?decision=delete"]
    form = api.get(page.headers["location"], headers=HTML)
    assert form.status_code == 200 and 'name="token"' in form.text
    assert 'value="/ui/rows?decision=delete"' in form.text
    assert form.headers["cache-control"] == "no-store"

    call = api.get("/api/v1/costs/total")
    assert call.status_code == 401
    assert call.headers["content-type"].startswith("application/problem+json")


def test_signing_in_sets_a_signed_strict_http_only_expiring_cookie(api: InProcessClient) -> None:
    signed = _sign_in(api, TOKEN, "/ui/rows")
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/rows"
    value, header = _cookie_of(signed)
    assert TOKEN not in header and value.count(".") == 1
    assert "httponly" in header and "samesite=strict" in header and "path=/" in header
    assert "max-age=7200" in header and "secure" not in header  # plain HTTP here

    # The client keeps the cookie, as a browser would: reads now answer.
    assert api.get("/ui/rows", headers=HTML).status_code == 200
    assert api.get("/api/v1/report", params={"format": "html"}).status_code == 200
    assert api.get("/api/v1/costs/total").status_code == 200
    assert "Sign out" in api.get("/", headers=HTML).text
    # ...but not writes: those still need the token in a header.
    put = api.put("/api/v1/prices", content=b"values: {}\n")
    assert put.status_code == 401
    # Signing out forgets it.
    out = api.post("/signout")
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert api.get("/api/v1/costs/total").status_code == 401


def test_a_wrong_token_is_refused_and_counted(api: InProcessClient) -> None:
    wrong = _sign_in(api, "not-it")
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert "not the API token" in wrong.text
    empty = _sign_in(api, "")
    assert empty.status_code == 400 and "set-cookie" not in empty.headers
    metrics = api.get("/metrics", headers={"X-Auth-Token": TOKEN}).text
    assert 'usagelens_auth_failures_total{reason="wrong"} 1.0' in metrics


@pytest.mark.parametrize(
    "value",
    [
        session_value(TOKEN, int(time.time()) - 1),  # expired
        session_value(OTHER, int(time.time()) + 3600),  # signed with a token not configured
        session_value(TOKEN, int(time.time()) + 3600)[:-1] + "0",  # tampered
        "9999999999.",  # no signature
        "garbage",
    ],
)
def test_a_cookie_that_is_not_a_live_session_opens_nothing(
    api: InProcessClient, value: str
) -> None:
    assert (
        api.get("/api/v1/costs/total", headers={"Cookie": f"{COOKIE}={value}"}).status_code == 401
    )


def test_only_a_path_on_this_server_is_where_sign_in_goes_on(api: InProcessClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:1"):
        assert _sign_in(api, TOKEN, target).headers["location"] == "/"


def test_rotating_the_token_ends_its_sessions(app_client) -> None:  # type: ignore[no-untyped-def]
    before = app_client(api_token=TOKEN, protect_reads=True)
    value, _ = _cookie_of(_sign_in(before, TOKEN))
    after = app_client(api_token=OTHER, protect_reads=True)
    cookie = {"Cookie": f"{COOKIE}={value}"}
    assert after.get("/api/v1/costs/total", headers=cookie).status_code == 401
    both = app_client(api_token=f"{OTHER},{TOKEN}", protect_reads=True)
    assert both.get("/api/v1/costs/total", headers=cookie).status_code == 200


@pytest.fixture
def https_api(tmp_path: Path) -> Iterator[InProcessClient]:
    from usagelens.api import create_app
    from usagelens.config import load_settings
    from usagelens.storage import create_engine_for, migrate

    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'https.db'}", api_token=TOKEN, protect_reads=True
    )
    engine = create_engine_for(settings.database_url)
    migrate(engine)
    engine.dispose()
    client = InProcessClient(create_app(settings), base_url="https://testserver")
    yield client
    client.close()


def test_over_https_the_cookie_is_secure(https_api: InProcessClient) -> None:
    _, header = _cookie_of(_sign_in(https_api, TOKEN))
    assert "secure" in [part.strip() for part in header.split(";")[1:]]


def test_with_open_reads_the_page_says_there_is_nothing_to_sign_in_to(app_client) -> None:  # type: ignore[no-untyped-def]
    api = app_client(api_token=TOKEN)
    assert "nothing to sign in to" in api.get("/signin").text
    signed = _sign_in(api, TOKEN)
    assert signed.status_code == 303 and "set-cookie" not in signed.headers


def test_a_bad_session_setting_is_refused() -> None:
    from usagelens.config import load_settings
    from usagelens.domain.errors import NotConfigured

    with pytest.raises(NotConfigured, match="USAGELENS_SESSION_TTL: 'soon' is not a duration"):
        load_settings(session_ttl="soon")
