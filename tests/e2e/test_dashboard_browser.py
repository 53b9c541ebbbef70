"""The dashboard in a real headless Chromium (Debian's) driven by Playwright, on a real server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from tests.conftest import missing_server

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("USAGELENS_TEST_CHROMIUM", "/usr/bin/chromium")
TOKEN = "browser-token"
AUTH = {"X-Auth-Token": TOKEN}


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium from the system (never a downloaded one)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_server("Playwright for Python not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        missing_server(f"Chromium not installed at {CHROMIUM} (Debian package 'chromium')")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def server(start_server, sample_summary: bytes, sample_prices: bytes) -> str:  # type: ignore[no-untyped-def]
    """A real server holding the sample data and its prices."""
    url: str = start_server({"USAGELENS_API_TOKEN": TOKEN}).url
    headers = {"Content-Type": "text/plain", **AUTH}
    httpx.post(
        url + "/api/v1/usage", content=sample_summary, headers=headers, timeout=60
    ).raise_for_status()
    httpx.put(
        url + "/api/v1/prices", content=sample_prices, headers=AUTH, timeout=30
    ).raise_for_status()
    return url


def _money(amount: float) -> str:
    return f"{amount:,.2f} RUB"


def test_dashboard_in_a_browser(browser, server: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    total = httpx.get(server + "/api/v1/costs/total").json()
    deleted = httpx.get(server + "/api/v1/costs/deleted").json()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # Overview: the API's numbers
    page.goto(server + "/")
    assert page.text_content("#total-cost") == _money(total["total"]) == "33,951.00 RUB"
    for dimension, amount in deleted["by_dimension"].items():
        assert page.text_content(f'#deleted-cost dd[data-dimension="{dimension}"]') == _money(
            amount
        )
    assert page.locator("svg.team-bars g.bar").count() == len(total["teams"])
    assert page.locator("svg.team-bars").bounding_box()["width"] > 600
    assert page.is_visible("#refresh-form")  # JavaScript shows the form
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    # The refresh form posts the typed token; with no source configured the server says so
    page.fill("#refresh-token", TOKEN)
    page.click("#refresh-form button")
    page.wait_for_function("document.querySelector('#refresh-outcome').textContent.includes('409')")
    assert "no monitoring sources" in page.text_content("#refresh-outcome")
    page.fill("#refresh-token", "wrong")
    page.click("#refresh-form button")
    page.wait_for_function("document.querySelector('#refresh-outcome').textContent.includes('401')")

    # Decisions: filter by team and decision (the selects submit), then sort by cost descending
    page.click("nav >> text=Decisions")
    page.wait_for_url("**/ui/rows")
    assert page.locator("#rows tbody tr").count() == 100
    team = "whiteboard customized e-services"
    with page.expect_navigation():
        page.select_option('#filters select[name="team"]', team)
    with page.expect_navigation():
        page.select_option('#filters select[name="decision"]', "delete")
    with page.expect_navigation():
        page.click('#rows th a[data-sort="cost"]')  # ascending
    with page.expect_navigation():
        page.click('#rows th a[data-sort="cost"]')  # descending
    expected = httpx.get(
        server + "/api/v1/resources",
        params={"team": team, "decision": "delete", "sort": "cost", "order": "desc", "limit": 1000},
    ).json()["items"]
    cells = page.eval_on_selector_all(
        "#rows tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
    )
    assert expected and len(cells) == len(expected)
    assert [(c[0], c[1], c[2], c[8], c[10]) for c in cells] == [
        (r["team"], r["resource"], r["dimension"], "delete", _money(r["cost"])) for r in expected
    ]
    assert all(c[9] == "active" for c in cells)  # no one has moved a recommendation yet
    assert [c[11] for c in cells] == [r["reason"] for r in expected]
    page.screenshot(path=str(tmp_path / "rows.png"), full_page=True)

    # Typing narrows the page at once, before the server is asked
    resource = expected[0]["resource"]
    page.fill('#filters input[name="q"]', resource)
    visible = page.locator("#rows tbody tr:visible")
    assert 1 <= visible.count() < len(expected) or len(expected) == 1
    assert all(resource in text for text in visible.all_text_contents())

    # A resource page draws its charts
    with page.expect_navigation():
        page.click(f'#rows tbody tr:visible >> nth=0 >> a:text-is("{resource}")')
    assert page.text_content("h1") == resource
    assert page.locator("svg.histogram").count() == 3
    assert page.locator("svg.usage-line").count() == 3
    assert page.locator("svg.histogram .bin rect").count() == 33
    for line in page.locator("svg.usage-line polyline").all():
        box = line.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 10
    assert page.locator("svg.usage-line g.mean line").count() == 3
    page.screenshot(path=str(tmp_path / "resource.png"), full_page=True)

    # A phone: nothing wider than the screen but the table's own scroller
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(server + "/")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    phone.screenshot(path=str(tmp_path / "overview-phone.png"), full_page=True)
    assert errors == []


def test_resource_form_moves_a_recommendation(browser, server: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    item = httpx.get(
        server + "/api/v1/recommendations", params={"decision": "delete", "limit": 1}
    ).json()["items"][0]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(
        server + "/ui/resource?" + urlencode({"team": item["team"], "resource": item["resource"]})
    )
    assert page.is_visible("#state-form")
    mine = f'#recommendations li[data-id="{item["id"]}"]'
    assert page.get_attribute(mine, "data-state") == "active"
    others = page.locator('#state-form input[name="id"]').all()
    for box in others:  # move only the one recommendation
        if box.get_attribute("value") != item["id"]:
            box.uncheck()

    # A wrong token: the problem's detail shows, nothing moves
    page.select_option('#state-form select[name="action"]', "claim")
    page.fill("#state-token", "wrong")
    page.click("#state-form button")
    page.wait_for_function("document.querySelector('#state-outcome').textContent.includes('401')")

    # A snooze without an until is stopped in the page
    page.select_option('#state-form select[name="action"]', "snooze")
    page.fill("#state-token", TOKEN)
    page.click("#state-form button")
    assert page.text_content("#state-outcome") == "A snooze needs an until."

    # Snooze for a week: the page reloads and shows it
    page.fill('#state-form input[name="reason"]', "reserved for the spring sale")
    page.fill('#state-form input[name="by"]', "ann")
    page.fill('#state-form input[name="until"]', "2099-06-01T12:00")
    page.fill("#state-token", TOKEN)
    with page.expect_navigation():
        page.click("#state-form button")
    assert page.get_attribute(mine, "data-state") == "dismissed"
    assert "reserved for the spring sale" in page.text_content(mine)
    assert "until 2099-06-01" in page.text_content(mine) and "by ann" in page.text_content(mine)
    shown = httpx.get(server + f"/api/v1/recommendations/{item['id']}").json()
    assert shown["state"] == "dismissed" and shown["until"].startswith("2099-06-01")
    page.screenshot(path=str(tmp_path / "resource-dismissed.png"), full_page=True)

    # Claim it, then claim again: the lifecycle refuses and the page says why
    page.select_option('#state-form select[name="action"]', "claim")
    page.fill("#state-token", TOKEN)
    with page.expect_navigation():
        page.click("#state-form button")
    assert page.get_attribute(mine, "data-state") == "claimed"
    page.select_option('#state-form select[name="action"]', "claim")
    page.fill("#state-token", TOKEN)
    page.click("#state-form button")
    page.wait_for_function("document.querySelector('#state-outcome').textContent.includes('409')")
    assert "cannot become claimed" in page.text_content("#state-outcome")

    # The decisions table shows it, and its state filter finds it
    page.goto(server + "/ui/rows?state=claimed")
    cells = page.eval_on_selector_all(
        "#rows tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
    )
    assert [(c[1], c[2]) for c in cells] == [(item["resource"], item["dimension"])]
    assert cells[0][9].startswith("claimed")
    assert errors == []


def test_dashboard_reads_with_javascript_off(browser, server: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto(server + "/")
    assert page.text_content("#total-cost") == "33,951.00 RUB"
    assert not page.is_visible("#refresh-form")
    assert "curl -X POST" in page.text_content("#refresh")
    page.goto(server + "/ui/rows?decision=keep&sort=median&order=desc")
    medians = [float(c) for c in page.locator("#rows tbody tr td:nth-child(6)").all_text_contents()]
    assert medians and medians == sorted(medians, reverse=True)
    page.click("#rows tbody tr >> nth=0 >> td:nth-child(2) a")
    page.wait_for_url("**/ui/resource?**")
    assert page.locator("svg.usage-line polyline").count() == 3
    page.screenshot(path=str(tmp_path / "resource-nojs.png"), full_page=True)
    context.close()


def test_api_docs_render_with_the_network_cut(browser, server: str) -> None:  # type: ignore[no-untyped-def]
    """Swagger UI and ReDoc render from the server's own files: every request for another
    host is refused (as on a host without a network) and none is even tried."""
    own = urlsplit(server).netloc
    elsewhere: list[str] = []

    def only_the_server(route: Any) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    context = browser.new_context()
    context.route("**/*", only_the_server)
    page = context.new_page()
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/costs/total" in [p.replace("\u200b", "") for p in paths]
    page.goto(server + "/redoc")
    page.locator("h2", has_text="Total cost").first.wait_for(timeout=20_000)  # an operation
    assert page.locator("h1").first.inner_text().startswith("usagelens")
    context.close()
    assert elsewhere == []


def test_protected_reads_sign_in_once_in_a_browser(browser, start_server) -> None:  # type: ignore[no-untyped-def]
    """With protected reads a browser is sent to the sign-in page, gives the token once and
    then sees the dashboard and the report; the cookie is HttpOnly and SameSite=Strict."""
    url: str = start_server({"USAGELENS_API_TOKEN": TOKEN, "USAGELENS_PROTECT_READS": "true"}).url
    context = browser.new_context()
    page = context.new_page()
    page.goto(url + "/ui/rows")
    assert urlsplit(page.url).path == "/signin"
    page.fill("#token", "not the token")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "That is not the API token."
    assert context.cookies() == []
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/ui/rows")
    assert page.locator("h1").first.is_visible()
    (cookie,) = context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # no script on the page can read it
    page.goto(url + "/api/v1/report?format=html")
    assert page.locator("h1").first.inner_text() == "Usage and cost report"
    page.goto(url + "/")
    page.click("form.signout button")
    page.wait_for_url(url + "/signin")
    page.goto(url + "/")
    assert urlsplit(page.url).path == "/signin"
    context.close()
