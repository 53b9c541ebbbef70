"""Recommendations over HTTP: the API's answers, its refusals, and the CLI with --url."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.conftest import InProcessClient, run_cli, scrape
from tests.independent import parse
from tests.independent import rows as spec_rows
from usagelens.documents import load_document

TOKEN = "rec-token"
AUTH = {"X-Auth-Token": TOKEN}


@pytest.fixture
def api(app_client, sample_summary: bytes, sample_prices: bytes) -> InProcessClient:  # type: ignore[no-untyped-def]
    client: InProcessClient = app_client(api_token=TOKEN)
    assert client.post("/api/v1/usage", content=sample_summary, headers=AUTH).status_code == 200
    assert client.put("/api/v1/prices", content=sample_prices, headers=AUTH).status_code == 200
    return client


def test_list_move_show_and_summarise(api: InProcessClient) -> None:
    listed = api.get("/api/v1/recommendations", params={"decision": "delete"}).json()
    deleted = api.get("/api/v1/costs/deleted").json()
    assert listed["total"] == sum(1 for i in listed["items"] if i["decision"] == "delete")
    assert sum(i["cost"] or 0 for i in listed["items"]) == pytest.approx(deleted["total"])
    item = listed["items"][0]
    assert set(item) >= {"id", "team", "resource", "dimension", "decision", "state", "reason",
                         "cost", "evidence", "state_reason", "until"}  # fmt: skip
    path = f"/api/v1/recommendations/{item['id']}/state"
    assert api.post(path, json={"state": "claimed"}).status_code == 401
    moved = api.post(
        path, json={"state": "claimed", "by": "ann", "reason": "ticket 7"}, headers=AUTH
    )
    assert moved.status_code == 200 and moved.json()["state"] == "claimed"
    refused = api.post(path, json={"state": "claimed"}, headers=AUTH)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "it may become: active, dismissed, failed, succeeded" in refused.json()["detail"]
    shown = api.get(f"/api/v1/recommendations/{item['id']}").json()
    assert [h["to"] for h in shown["history"]] == ["delete", "claimed"]
    assert shown["history"][1]["by"] == "ann" and shown["history"][1]["from"] == "active"
    summary = api.get("/api/v1/recommendations/summary").json()
    assert summary["money"]["claimed"] == pytest.approx(item["cost"])
    assert summary["counts"]["claimed"]["delete"] == 1
    assert api.get("/api/v1/costs/deleted").json() == deleted  # the course's money stays
    assert api.get("/api/v1/recommendations/nope").status_code == 404
    past = api.post(
        path, json={"state": "dismissed", "until": "2000-01-01T00:00:00Z"}, headers=AUTH
    )
    assert past.status_code == 400 and "until must be in the future" in past.json()["detail"]


def test_exclusions_are_managed_through_the_api(api: InProcessClient) -> None:
    target = api.get("/api/v1/recommendations").json()["items"][0]
    glob = target["resource"][:1] + "*"
    rule = {"team": "*", "resource": glob, "dimension": target["dimension"], "reason": "reserved"}
    added = api.post("/api/v1/recommendations/exclusions", json=rule, headers=AUTH)
    assert added.status_code == 201, added.text
    rule_id = added.json()["id"]
    excluded = api.get("/api/v1/recommendations", params={"state": "excluded"}).json()["items"]
    assert target["id"] in {i["id"] for i in excluded}
    assert all(
        i["resource"].startswith(glob[0]) and i["dimension"] == target["dimension"]
        for i in excluded
    )
    assert all(i["state_reason"] == f"exclusion {rule_id}: reserved" for i in excluded)
    assert (
        api.post("/api/v1/recommendations/exclusions", json={"team": "*"}, headers=AUTH).status_code
        == 422
    )
    gone = api.delete(f"/api/v1/recommendations/exclusions/{rule_id}", headers=AUTH)
    assert gone.status_code == 204
    assert api.get("/api/v1/recommendations", params={"state": "excluded"}).json()["total"] == 0
    assert (
        api.delete(f"/api/v1/recommendations/exclusions/{rule_id}", headers=AUTH).status_code == 404
    )


def test_the_cli_moves_a_recommendation_on_a_server(
    start_server, sample_summary: bytes, sample_prices: bytes, tmp_path
) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    import httpx

    server = start_server({"USAGELENS_API_TOKEN": TOKEN})
    httpx.post(server.url + "/api/v1/usage", content=sample_summary, headers=AUTH, timeout=60)
    env = {
        "USAGELENS_API_TOKEN": TOKEN,
        "USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
    }

    def cli(*args: str) -> tuple[int, str, str]:
        done = run_cli(*args, "--url", server.url, env=env)
        return done.returncode, done.stdout, done.stderr

    code, out, _ = cli("recommendations", "list", "--decision", "delete", "--json")
    assert code == 0
    first = json.loads(out)[0]
    assert cli("recommendations", "snooze", first["id"], "--for", "7d", "--reason", "sale")[0] == 0
    code, out, _ = cli("recommendations", "show", first["id"])
    shown = json.loads(out)
    assert shown["state"] == "dismissed" and shown["until"] and shown["state_reason"] == "sale"
    code, _, err = cli("recommendations", "done", first["id"])
    assert code == 1 and "dismissed cannot become succeeded" in err
    assert len(err.strip().splitlines()) == 1


def test_every_row_carries_its_evidence(api: InProcessClient, sample_summary: bytes) -> None:
    """Observations, the series' first and last observation and enough_data, everywhere."""

    def utc(moment: str) -> datetime:
        return datetime.fromisoformat(moment).replace(tzinfo=UTC)

    series = parse(sample_summary.decode())
    listed = api.get("/api/v1/resources", params={"limit": 1000}).json()
    assert listed["window"] == {"since": None, "until": None}
    assert len(listed["items"]) == len(series)
    for item in listed["items"]:
        moments = series[(item["team"], item["resource"], item["dimension"])]
        evidence = item["evidence"]
        assert evidence["observations"] == item["count"] == len(moments)
        assert datetime.fromisoformat(evidence["first_seen"]) == utc(min(moments))
        assert datetime.fromisoformat(evidence["last_seen"]) == utc(max(moments))
        assert evidence["enough_data"] is (len(moments) >= 24)

    report = api.get("/api/v1/report", params={"format": "json"}).json()

    def seen(evidence: dict) -> tuple:
        return (
            evidence["observations"],
            datetime.fromisoformat(evidence["first_seen"]),
            datetime.fromisoformat(evidence["last_seen"]),
            evidence["enough_data"],
        )

    reported = {
        (r["team"], r["resource"], r["dimension"]): seen(r["evidence"])
        for team in report["teams"]
        for r in team["rows"]
    }
    assert reported == {
        (i["team"], i["resource"], i["dimension"]): seen(i["evidence"]) for i in listed["items"]
    }
    lines = api.get("/api/v1/report", params={"format": "csv"}).text.splitlines()
    assert lines[0].endswith(",cost,first_seen,last_seen,enough_data")
    assert lines[1].rsplit(",", 1)[1] in {"true", "false"}

    # A window: the count is the window's, the span stays the series'.
    later = sorted({m for moments in series.values() for m in moments})
    middle = later[len(later) // 2]
    windowed = api.get("/api/v1/resources", params={"limit": 1000, "since": middle}).json()
    assert windowed["window"]["since"] is not None
    for item in windowed["items"]:
        moments = series[(item["team"], item["resource"], item["dimension"])]
        inside = [m for m in moments if m >= middle]
        assert item["evidence"]["observations"] == len(inside)
        assert datetime.fromisoformat(item["evidence"]["first_seen"]) == utc(min(moments))
        assert item["evidence"]["enough_data"] is (len(inside) >= 24)


def test_metrics_follow_states_and_budgets(
    app_client, sample_summary: bytes, sample_prices: bytes
) -> None:  # type: ignore[no-untyped-def]
    series = parse(sample_summary.decode())
    team = sorted({t for t, _, _ in series})[0]
    client: InProcessClient = app_client(api_token=TOKEN, budgets={team: 4000.0})
    assert client.post("/api/v1/usage", content=sample_summary, headers=AUTH).status_code == 200
    assert client.put("/api/v1/prices", content=sample_prices, headers=AUTH).status_code == 200
    rows = spec_rows(series, load_document(sample_prices)["values"])  # type: ignore[index]
    deletes = sum(r["decision"] == "delete" for r in rows)
    extends = sum(r["decision"] == "extend" for r in rows)

    def gauge(name: str, **labels: str) -> float:
        return scrape(client)[(name, frozenset(labels.items()))]

    assert gauge("usagelens_recommendations", state="active", decision="delete") == deletes
    assert gauge("usagelens_recommendations", state="active", decision="extend") == extends
    assert (
        gauge("usagelens_recommendations_enough_data", state="active", decision="delete")
        == deletes  # every series of the sample has 200 observations
    )
    team_cost = sum(r["cost"] or 0 for r in rows if r["team"] == team)
    assert gauge("usagelens_team_budget_ratio", team=team) == pytest.approx(team_cost / 4000)

    item = client.get("/api/v1/recommendations", params={"decision": "delete"}).json()["items"][0]
    moved = client.post(
        f"/api/v1/recommendations/{item['id']}/state",
        json={"state": "dismissed", "reason": "kept for the audit"},
        headers=AUTH,
    )
    assert moved.status_code == 200
    assert gauge("usagelens_recommendations", state="dismissed", decision="delete") == 1
    assert (
        gauge("usagelens_recommendations_enough_data", state="active", decision="delete")
        == deletes - 1
    )
    assert gauge("usagelens_recommendation_money", state="dismissed") == pytest.approx(item["cost"])
