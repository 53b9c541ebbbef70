"""The dashboard in-process: its numbers are the API's, its table filters, sorts and pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urlencode

import pytest

from tests.conftest import InProcessClient

TOKEN = "s3cret-token"
AUTH = {"X-Auth-Token": TOKEN}


@pytest.fixture
def api(app_client, sample_summary: bytes, sample_prices: bytes) -> InProcessClient:  # type: ignore[no-untyped-def]
    client: InProcessClient = app_client(api_token=TOKEN, max_body_bytes=2_000_000)
    headers = {"Content-Type": "text/plain", **AUTH}
    assert client.post("/api/v1/usage", content=sample_summary, headers=headers).is_success
    assert client.put("/api/v1/prices", content=sample_prices, headers=AUTH).is_success
    return client


def _money(amount: float, currency: str = "RUB") -> str:
    return f"{amount:,.2f} {currency}"


def _html(api: InProcessClient, url: str, status: int = 200) -> str:
    response = api.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def _table_rows(page: str) -> list[list[str]]:
    body = page.split('<table id="rows">', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [
            unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_overview_shows_the_apis_money(api: InProcessClient) -> None:
    total = api.get("/api/v1/costs/total").json()
    deleted = api.get("/api/v1/costs/deleted").json()
    assert total["total"] == 33951
    assert deleted["by_dimension"] == {"CPU": 5344, "RAM": 2492, "NetFlow": 1443}

    page = _html(api, "/")
    assert '<p class="figure" id="total-cost">33,951.00 RUB</p>' in page
    for dimension, amount in deleted["by_dimension"].items():
        assert f'<dd data-dimension="{dimension}">{_money(amount)}</dd>' in page
    assert f'<dd class="sum" data-dimension="total">{_money(deleted["total"])}</dd>' in page
    assert "5,344.00 RUB" in page and "2,492.00 RUB" in page and "1,443.00 RUB" in page
    for team, amount in total["teams"].items():
        assert _money(amount) in page and team in page
    rows = api.get("/api/v1/resources", params={"limit": 10000}).json()["items"]
    for decision in ("delete", "keep", "extend"):
        count = sum(r["decision"] == decision for r in rows)
        assert f'<dd data-decision="{decision}">{count}</dd>' in page
    assert "<svg" in page and 'class="chart team-bars"' in page
    assert "No refresh has run yet." in page
    assert 'type="password"' in page and "curl -X POST" in page  # the form, and without JS
    assert "<script src" not in page and "<link" not in page  # self-contained
    assert "http://" not in page.replace("http://testserver/", "").replace(
        "http://www.w3.org/2000/svg", ""
    )


def test_dashboard_pages_stay_out_of_the_openapi_schema(api: InProcessClient) -> None:
    paths = set(api.get("/openapi.json").json()["paths"])
    assert "/" not in paths and not any(p.startswith("/ui") for p in paths)


def test_table_filters_sorts_and_pages(api: InProcessClient) -> None:
    everything = api.get("/api/v1/resources", params={"limit": 10000}).json()["items"]
    first = _table_rows(_html(api, "/ui/rows"))
    assert len(first) == 100  # one page of 120
    page = _html(api, "/ui/rows?offset=100")
    assert len(_table_rows(page)) == 20 and "Rows 101–120 of 120" in page
    assert 'rel="prev"' in page and 'rel="next"' not in page

    team = next(
        r["team"] for r in everything if r["dimension"] == "CPU" and r["decision"] == "delete"
    )
    query = urlencode(
        {"team": team, "dimension": "CPU", "decision": "delete", "sort": "cost", "order": "desc"}
    )
    page = _html(api, f"/ui/rows?{query}")
    shown = _table_rows(page)
    expected = sorted(
        (
            r
            for r in everything
            if r["team"] == team and r["dimension"] == "CPU" and r["decision"] == "delete"
        ),
        key=lambda r: -r["cost"],
    )
    assert shown and len(shown) == len(expected)
    assert [row[1] for row in shown] == [r["resource"] for r in expected]
    assert all(row[0] == team and row[2] == "CPU" and row[8] == "delete" for row in shown)
    assert [row[11] for row in shown] == [r["reason"] for r in expected]  # every row's reason
    assert 'href="/ui/resource?team=' in page

    resource = everything[5]["resource"]
    shown = _table_rows(_html(api, "/ui/rows?" + urlencode({"q": resource.lower()})))
    assert shown and all(resource.lower() in " ".join(row).lower() for row in shown)

    by_mean = _table_rows(_html(api, "/ui/rows?sort=mean&order=asc&limit=1000"))
    means = [float(row[4]) for row in by_mean]
    assert means == sorted(means) and len(means) == 120

    assert api.get("/ui/rows?sort=nope").status_code == 422
    assert api.get("/ui/rows?limit=0").status_code == 422


def test_resource_page_draws_its_charts(api: InProcessClient) -> None:
    everything = api.get("/api/v1/resources", params={"limit": 10000}).json()["items"]
    row = everything[0]
    page = _html(
        api, "/ui/resource?" + urlencode({"team": row["team"], "resource": row["resource"]})
    )
    assert page.count('class="chart histogram"') == 3
    assert page.count('class="chart usage-line"') == 3
    assert page.count("<polyline") == 3
    assert page.count('<g class="mean">') == 3 and page.count('<g class="median">') == 3
    assert row["reason"] in unescape(page)
    mine = [r for r in everything if r["team"] == row["team"] and r["resource"] == row["resource"]]
    assert f'id="resource-cost">{_money(sum(r["cost"] for r in mine))}<' in page
    # 200 hourly observations per series: the histogram's bins add up to them
    counts = [int(c) for c in re.findall(r"<title>\d+%: (\d+) observations</title>", page)]
    assert sum(counts) == sum(r["count"] for r in mine)

    missing = _html(api, "/ui/resource?team=nobody&resource=nothing", status=404)
    assert "has no resource" in missing


def test_names_are_escaped_everywhere(app_client) -> None:  # type: ignore[no-untyped-def]
    api: InProcessClient = app_client(api_token=TOKEN)
    # ( ) , ; | $ are the summary format's delimiters: a name can hold anything else
    hostile = "<script>alert`1`</script>"
    resource = '"><img src=x onerror=alert`2`>'
    body = (
        f"{hostile}|({resource},CPU,2026-11-19 10:00:00,5);({resource},RAM,2026-11-19 10:00:00,95)"
    )
    response = api.post(
        "/api/v1/usage", content=body.encode(), headers={"Content-Type": "text/plain", **AUTH}
    )
    assert response.status_code == 200, response.text
    api.put(
        "/api/v1/prices",
        content=b'{"values": {}}',
        headers={"Content-Type": "application/json", **AUTH},
    )
    pages = [
        _html(api, "/"),
        _html(api, "/ui/rows"),
        _html(api, "/ui/rows?" + urlencode({"team": hostile, "q": hostile})),
        _html(api, "/ui/resource?" + urlencode({"team": hostile, "resource": resource})),
        _html(api, "/ui/resource?" + urlencode({"team": hostile, "resource": hostile}), status=404),
    ]
    for page in pages:
        assert hostile not in page and "<img src=x" not in page
        assert "alert`" in page  # shown, as text
    assert "&lt;script&gt;alert`1`&lt;/script&gt;" in pages[0]
    assert "unpriced" in pages[1]


@pytest.mark.heavy
def test_a_page_of_fifty_thousand_rows_renders_one_page(app_client) -> None:  # type: ignore[no-untyped-def]
    api: InProcessClient = app_client(api_token=TOKEN, max_body_bytes=50_000_000)
    teams = [
        f"team {t}|"
        + ";".join(
            f"(R{r:05d},{dim},2026-11-19 10:00:00,{(r * step) % 100})"
            for r in range(1667)
            for dim, step in (("CPU", 7), ("RAM", 13), ("NetFlow", 3))
        )
        for t in range(10)
    ]
    body = "$".join(teams).encode()
    response = api.post(
        "/api/v1/usage", content=body, headers={"Content-Type": "text/plain", **AUTH}
    )
    assert response.status_code == 200, response.text
    page = _html(api, "/ui/rows?sort=cost&order=desc&offset=49900")
    assert len(_table_rows(page)) == 100 and "Rows 49,901–50,000 of 50,010" in page
    assert len(page) < 150_000  # one page, not fifty thousand rows
    page = _html(api, "/ui/rows?" + urlencode({"team": "team 3", "q": "R01234"}))
    assert [row[1] for row in _table_rows(page)] == ["R01234"] * 3
    overview = _html(api, "/")
    assert "and 1,617 more" in overview  # 1,667 unpriced resource ids, 50 listed


def test_state_column_shows_a_dismissal_and_the_filter_keeps_its_state(
    api: InProcessClient,
) -> None:
    items = api.get("/api/v1/recommendations", params={"limit": 10000}).json()["items"]
    target = next(i for i in items if i["decision"] == "delete")
    until = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    reason = "reserved <script>alert(1)</script>"
    moved = api.post(
        f"/api/v1/recommendations/{target['id']}/state",
        json={"state": "dismissed", "reason": reason, "until": until.isoformat(), "by": "ann"},
        headers=AUTH,
    )
    assert moved.status_code == 200, moved.text

    page = _html(api, "/ui/rows?state=dismissed")
    shown = _table_rows(page)
    assert [(row[0], row[1], row[2]) for row in shown] == [
        (target["team"], target["resource"], target["dimension"])
    ]
    state = shown[0][9]
    assert state.startswith("dismissed") and reason in state and "by ann" in state
    assert f"until {until:%Y-%m-%d %H:%M:%S} UTC" in state
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<option selected>dismissed</option>" in page

    active = _table_rows(_html(api, "/ui/rows?state=active&limit=1000"))
    assert len(active) == len(items) - 1 and all(row[9] == "active" for row in active)
    assert all(row[8] in ("delete", "extend") for row in active)
    same_team = _table_rows(
        _html(api, "/ui/rows?" + urlencode({"state": "dismissed", "team": target["team"]}))
    )
    assert len(same_team) == 1
    other = next(i["team"] for i in items if i["team"] != target["team"])
    assert (
        _table_rows(_html(api, "/ui/rows?" + urlencode({"state": "dismissed", "team": other})))
        == []
    )
    assert "No rows match." in _html(api, "/ui/rows?state=claimed")

    everything = _table_rows(_html(api, "/ui/rows?limit=1000"))
    assert all((row[9] == "") == (row[8] == "keep") for row in everything)  # keep: no state
    assert sum(row[9].startswith("dismissed") for row in everything) == 1

    bad = api.get("/ui/rows?state=bogus")
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "state" in bad.json()["detail"]

    report = api.get("/api/v1/report", params={"format": "html"}).text
    assert report.count('<td class="state" data-state="dismissed">') == 1
    assert report.count('<td class="state" data-state="active">') == len(items) - 1
    assert report.count('<td class="state"></td>') == 120 - len(items)  # the rows to keep
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report and "<script>" not in report

    overview = _html(api, "/")
    assert '<dd data-state="dismissed">1</dd>' in overview
    assert f'<dd data-state="active">{len(items) - 1}</dd>' in overview
    assert 'href="/ui/rows?state=excluded"' in overview


def test_resource_page_has_the_form_that_moves_its_recommendations(
    api: InProcessClient,
) -> None:
    items = api.get("/api/v1/recommendations", params={"limit": 10000}).json()["items"]
    target = items[0]
    url = "/ui/resource?" + urlencode({"team": target["team"], "resource": target["resource"]})
    page = _html(api, url)
    mine = [i for i in items if (i["team"], i["resource"]) == (target["team"], target["resource"])]
    assert '<form id="state-form"' in page
    for item in mine:
        assert f'<input type="checkbox" name="id" value="{item["id"]}" checked>' in page
        assert f'data-id="{item["id"]}" data-state="active"' in page
    assert 'id="state-token" type="password"' in page and '"X-Auth-Token": token.value' in page
    assert '"/api/v1/recommendations/" + encodeURIComponent(ids[index]) + "/state"' in page
    assert f"http://testserver/api/v1/recommendations/{target['id']}/state" in page  # no JS
    assert "<script src" not in page

    claimed = api.post(
        f"/api/v1/recommendations/{target['id']}/state",
        json={"state": "claimed", "by": "bob"},
        headers=AUTH,
    )
    assert claimed.status_code == 200, claimed.text
    page = _html(api, url)
    assert f'data-id="{target["id"]}" data-state="claimed"' in page
    assert "by bob" in page

    kept = next(
        r for r in api.get("/api/v1/resources", params={"limit": 10000}).json()["items"]
        if not any((i["team"], i["resource"]) == (r["team"], r["resource"]) for i in items)
    )  # fmt: skip
    page = _html(
        api, "/ui/resource?" + urlencode({"team": kept["team"], "resource": kept["resource"]})
    )
    assert 'id="state-form"' not in page  # nothing to delete or extend: no form
