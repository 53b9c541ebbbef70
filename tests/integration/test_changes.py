"""What changed since last week: decisions that moved (from, to, when, why), new and
vanished series, and the money on what is to be deleted then and now, per team and overall,
checked against an independent computation of both ends. The API in-process on a real
SQLite file (a week of data written in two batches, as a week of ingests would), the CLI on
the same file and through a real server, the overview's panel."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import independent
from tests.conftest import InProcessClient, run_cli

TOKEN = "changes-token"
AUTH = {"X-Auth-Token": TOKEN}
PRICES = {
    "R-BECOMES": {"CPU": 100, "RAM": 40, "NetFlow": 10},
    "R-STOPS": {"CPU": 70, "RAM": 20, "NetFlow": 5},
    "R-STEADY": {"CPU": 50, "RAM": 30, "NetFlow": 3},
    "R-NEW": {"CPU": 33, "RAM": 11, "NetFlow": 1},
}
"""R-STEADY is shared by both teams: its price splits in two at both ends."""


def _week() -> tuple[datetime, list[tuple[str, str, str, str, float]], list]:  # type: ignore[type-arg]
    """Readings before and after a moment a week ago (hourly, away from its minute)."""
    since = (datetime.now(UTC) - timedelta(days=7)).replace(minute=0, second=0, microsecond=0)

    def at(hours: int) -> str:
        return (since + timedelta(hours=hours, minutes=30)).strftime("%Y-%m-%d %H:%M:%S")

    before, after = [], []
    for dimension in ("CPU", "RAM", "NetFlow"):
        for h in range(1, 11):
            before += [
                ("ops", "R-BECOMES", dimension, at(-h), 50.0),  # keep then...
                ("ops", "R-STOPS", dimension, at(-h), 10.0),  # delete then...
                ("ops", "R-STEADY", dimension, at(-h), 50.0),
                ("web", "R-STEADY", dimension, at(-h), 55.0),
            ]
        for h in range(1, 41):
            after += [
                ("ops", "R-BECOMES", dimension, at(h), 5.0),  # ...delete now
                ("ops", "R-STOPS", dimension, at(h), 50.0),  # ...keep now
                ("web", "R-NEW", dimension, at(h), 8.0),
            ]
        for h in range(1, 5):
            after += [("ops", "R-STEADY", dimension, at(h), 50.0)]
    return since, before, after


def _post(api: InProcessClient, records: list) -> None:  # type: ignore[type-arg]
    body = independent.render(records).encode()
    sent = api.post("/api/v1/usage", content=body, headers={**AUTH, "Content-Type": "text/plain"})
    assert sent.status_code == 200, sent.text


@pytest.fixture
def week(app_client) -> tuple[InProcessClient, datetime, list, list]:  # type: ignore[no-untyped-def, type-arg]
    api: InProcessClient = app_client(api_token=TOKEN)
    put = api.put(
        "/api/v1/prices",
        content=json.dumps({"values": PRICES}).encode(),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert put.status_code == 200, put.text
    since, before, after = _week()
    _post(api, before)  # last week's ingest
    _post(api, after)  # this week's
    return api, since, before, after


def _ends(before: list, after: list) -> tuple[list[dict], list[dict]]:  # type: ignore[type-arg]
    then = independent.rows(independent.parse(independent.render(before)), PRICES)
    now = independent.rows(independent.parse(independent.render(before + after)), PRICES)
    return then, now


def test_changes_against_both_ends_computed_independently(week) -> None:  # type: ignore[no-untyped-def]
    api, since, before, after = week
    answer = api.get("/api/v1/changes", params={"since": since.isoformat()})
    assert answer.status_code == 200, answer.text
    got = answer.json()
    then, now = _ends(before, after)
    key = lambda r: (r["team"], r["resource"], r["dimension"])  # noqa: E731
    was = {key(r): r for r in then}
    moved = {
        key(r): (was[key(r)]["decision"], r["decision"])
        for r in now
        if key(r) in was and was[key(r)]["decision"] != r["decision"]
    }
    assert moved  # the data set moves some decisions
    assert {(d["team"], d["resource"], d["dimension"]): (d["before"], d["after"])
            for d in got["decisions"]} == moved  # fmt: skip
    kinds = {(d["resource"], d["kind"]) for d in got["decisions"]}
    assert ("R-BECOMES", "became_candidate") in kinds and ("R-STOPS", "stopped_candidate") in kinds
    for change in got["decisions"]:
        assert change["reason_after"].endswith("→ " + change["after"])
        assert change["reason_before"].endswith("→ " + change["before"])
        # Written in two batches: the decision history dates each change at the second one.
        assert change["when"] is not None
        assert datetime.fromisoformat(change["when"]) >= since

    assert {(e["team"], e["resource"], e["dimension"]) for e in got["new"]} == {
        key(r) for r in now if key(r) not in was
    }
    assert got["vanished"] == []
    for end, rows in (("before", then), ("after", now)):
        money = independent.money(rows)
        assert got["deleted"][end] == pytest.approx(sum(money["deleted"].values()), abs=1e-9)
        for dimension, amount in money["deleted"].items():
            assert got["deleted_by_dimension"][dimension][end] == pytest.approx(amount, abs=1e-9)
        for team in ("ops", "web"):
            mine = [r for r in rows if r["team"] == team and r["decision"] == "delete"]
            assert got["teams"][team][end] == pytest.approx(sum(r["cost"] for r in mine), abs=1e-9)
    assert got["deleted"]["change"] == pytest.approx(
        got["deleted"]["after"] - got["deleted"]["before"]
    )
    assert got["window_before"] == {"since": None, "until": got["since"]}


def test_one_team_and_a_team_not_stored(week) -> None:  # type: ignore[no-untyped-def]
    api, since, *_ = week
    web = api.get("/api/v1/changes", params={"since": since.isoformat(), "team": "web"}).json()
    assert set(web["teams"]) == {"web"}
    assert {d["team"] for d in web["decisions"]} <= {"web"}
    assert {e["resource"] for e in web["new"]} == {"R-NEW"}
    missing = api.get("/api/v1/changes", params={"team": "nobody"})
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]


def test_a_bad_or_future_since_is_a_problem(week) -> None:  # type: ignore[no-untyped-def]
    api, *_ = week
    for since in ("next week", "2999-01-01", "all"):
        answer = api.get("/api/v1/changes", params={"since": since})
        assert answer.status_code in (400, 422), (since, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_with_a_rolling_window_a_series_can_vanish(app_client) -> None:  # type: ignore[no-untyped-def]
    api: InProcessClient = app_client(api_token=TOKEN, window="3d")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    stamp = lambda hours: (now - timedelta(hours=hours, minutes=-30)).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    records = [("ops", "OLD", "CPU", stamp(h), 10.0) for h in range(76, 86)]  # 3.2-3.6 days ago
    records += [("ops", "FRESH", "CPU", stamp(h), 10.0) for h in range(2, 12)]
    _post(api, records)
    got = api.get("/api/v1/changes", params={"since": "1d"}).json()
    assert [e["resource"] for e in got["vanished"]] == ["OLD"]
    assert [e["resource"] for e in got["new"]] == ["FRESH"]
    before = got["window_before"]
    assert datetime.fromisoformat(before["until"]) - datetime.fromisoformat(
        before["since"]
    ) == timedelta(days=3)


def test_the_cli_locally_and_through_a_server_and_the_overview_panel(
    week, start_server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    api, since, *_ = week
    env = {"USAGELENS_DATABASE_URL": api.database_url}
    local = run_cli("changes", "--since", since.isoformat(), env=env)
    assert local.returncode == 0, local.stderr
    assert "Became delete candidates: " in local.stdout
    assert "ops / R-BECOMES / CPU: keep → delete" in local.stdout
    as_json = run_cli("changes", "--since", since.isoformat(), "--json", env=env)
    server = start_server(env)
    remote = run_cli(
        "changes", "--since", since.isoformat(), "--json", "--url", server.url, env=env
    )
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout) == json.loads(as_json.stdout)
    week_ago = run_cli("changes", "--team", "web", env=env)  # --since 7d is the default
    assert week_ago.returncode == 0 and "R-NEW" in week_ago.stdout

    page = api.get("/")
    assert page.status_code == 200
    assert 'id="since-last-week"' in page.text and 'data-kind="became_candidate"' in page.text
