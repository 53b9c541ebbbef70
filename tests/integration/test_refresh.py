"""The refresh webhook against the real simulator, a dead source and a missing branch."""

from __future__ import annotations

import httpx

from tests import independent
from tests.conftest import free_port
from usagelens.documents import load_document


def test_refresh_lands_what_exists_and_reports_what_failed(start_server, simulator) -> None:  # type: ignore[no-untyped-def]
    dead = f"http://127.0.0.1:{free_port()}"
    server = start_server(
        {
            "USAGELENS_SOURCES": f"{simulator.url},{dead}",
            "USAGELENS_BRANCHES": "1,2,9",
            "USAGELENS_SOURCE_TIMEOUT": "5",
        }
    )
    with httpx.Client(base_url=server.url, timeout=120) as api:
        answer = api.post("/api/v1/webhooks/refresh")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pulls = {(p["source"], p["kind"], p["branch"]): p for p in body["pulls"]}
        assert len(pulls) == 2 * 3 + 2
        assert pulls[(simulator.url, "usage", 1)]["ok"]
        assert pulls[(simulator.url, "usage", 1)]["batch"]["inserted"] == 24000
        assert pulls[(simulator.url, "usage", 2)]["ok"]
        missing = pulls[(simulator.url, "usage", 9)]
        assert not missing["ok"] and "404" in missing["detail"]
        assert (
            not pulls[(dead, "usage", 1)]["ok"]
            and "unreachable" in pulls[(dead, "usage", 1)]["detail"]
        )
        assert pulls[(simulator.url, "prices", None)]["ok"]
        assert not pulls[(dead, "prices", None)]["ok"]
        assert (body["ok"], body["failed"]) == (3, 5)

        # Same money as an independent calculation over what the simulator serves.
        series: dict = {}
        for branch in (1, 2):
            text = httpx.get(
                f"{simulator.url}/monitoring/infrastructure/using/summary/{branch}"
            ).text
            series.update(independent.parse(text))
        prices = load_document(
            httpx.get(f"{simulator.url}/monitoring/infrastructure/using/prices").content
        )
        table = independent.rows(series, prices["values"])  # type: ignore[index]
        expected = independent.money(table)
        by_key = {(r["team"], r["resource"], r["dimension"]): r for r in table}
        items = api.get("/api/v1/resources", params={"limit": 10000}).json()["items"]
        assert len(items) == len(by_key) == 240
        for item in items:
            want = by_key[(item["team"], item["resource"], item["dimension"])]
            for field in ("count", "usage_type", "intensity", "decision"):
                assert item[field] == want[field]
            for field in ("mean", "median", "cost"):
                assert abs(item[field] - want[field]) < 1e-9
        total = api.get("/api/v1/costs/total").json()
        deleted = api.get("/api/v1/costs/deleted").json()
        assert abs(total["total"] - expected["total"]) < 1e-6
        for dimension, amount in expected["deleted"].items():
            assert abs(deleted["by_dimension"][dimension] - amount) < 1e-6

        again = api.post("/api/v1/webhooks/refresh").json()
        landed = [p["batch"] for p in again["pulls"] if p["batch"]]
        assert all(b["inserted"] + b["updated"] <= 240 for b in landed)  # at most a new hour


def test_refresh_with_every_pull_failing_is_502(start_server) -> None:  # type: ignore[no-untyped-def]
    dead = f"http://127.0.0.1:{free_port()}"
    server = start_server({"USAGELENS_SOURCES": dead})
    response = httpx.post(server.url + "/api/v1/webhooks/refresh", timeout=60)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/problem+json")
    assert len(response.json()["pulls"]) == 2
