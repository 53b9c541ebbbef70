"""The dashboard in a real headless Chromium (Debian's) driven by Playwright, on a real server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    assert [(c[0], c[1], c[2], c[8], c[9]) for c in cells] == [
        (r["team"], r["resource"], r["dimension"], "delete", _money(r["cost"])) for r in expected
    ]
    assert [c[10] for c in cells] == [r["reason"] for r in expected]
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
