"""Every page the server serves works offline: no script, style, image, link or form in
it names another host, and the API docs (Swagger UI, ReDoc) load their files from the
server itself. The API in-process on a real SQLite file with the sample data."""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

import pytest

from tests.conftest import InProcessClient, load_sample

TOKEN = "offline-token"

_XMLNS = re.compile(r'\sxmlns(?::\w+)?="[^"]*"')
"""A namespace name is no reference: nothing is fetched from it."""
_URL = re.compile(r"""(?:https?:)?//[^\s"'<>()]+""")


@pytest.fixture
def api(app_client, sample_summary: bytes, sample_prices: bytes) -> InProcessClient:  # type: ignore[no-untyped-def]
    return load_sample(app_client(api_token=TOKEN), TOKEN, sample_summary, sample_prices)


def _pages(api: InProcessClient) -> list[str]:
    row = api.get("/api/v1/resources", params={"limit": 1}).json()["items"][0]
    resource = urlencode({"team": row["team"], "resource": row["resource"]})
    return [
        "/", "/ui/rows", f"/ui/resource?{resource}", "/ui/policy", "/docs", "/redoc",
        "/api/v1/report?format=html", "/docs/oauth2-redirect",
    ]  # fmt: skip


def _hosts(html: str) -> set[str]:
    """Every host a page names in a URL (a relative URL names none)."""
    text = _XMLNS.sub("", html)
    return {
        urlsplit(url if url[:2] != "//" else "http:" + url).netloc for url in _URL.findall(text)
    }


def test_no_page_names_another_host(api: InProcessClient) -> None:
    for path in _pages(api):
        page = api.get(path)
        assert page.status_code == 200, (path, page.text[:200])
        assert page.headers["content-type"].startswith("text/html"), path
        assert _hosts(page.text) <= {"testserver"}, (path, _hosts(page.text))


def test_the_api_docs_load_their_files_from_the_server(api: InProcessClient) -> None:
    for path, kinds in (("/docs", ("js", "css")), ("/redoc", ("js",))):
        page = api.get(path).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', page)
        local = [a for a in assets if a.startswith("/docs/assets/")]
        assert {a.rsplit(".", 1)[-1] for a in local} >= set(kinds), (path, assets)
        for asset in local:
            answer = api.get(asset)
            assert answer.status_code == 200 and len(answer.content) > 1000, asset
    assert '"validatorUrl": null' in api.get("/docs").text


def test_the_docs_pages_may_fetch_from_the_server_alone(api: InProcessClient) -> None:
    for path in ("/docs", "/redoc"):
        policy = api.get(path).headers["content-security-policy"]
        assert "default-src 'self'" in policy and "img-src 'self' data:" in policy, path
    assert "content-security-policy" not in api.get("/").headers  # the dashboard is its own
