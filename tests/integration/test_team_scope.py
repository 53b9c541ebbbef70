"""One team's view: every read that returns rows or money answers for the teams named
(``team``, repeatable; ``--team`` on the CLI), checked against an independent computation of
the sample; a team that is not stored is a 404 problem. The API in-process on a real SQLite
file, the CLI on its own file and through a real server."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests import independent
from tests.conftest import InProcessClient, load_sample, run_cli
from usagelens.documents import load_document

TOKEN = "team-token"


@pytest.fixture
def api(app_client, sample_summary: bytes, sample_prices: bytes):  # type: ignore[no-untyped-def]
    return load_sample(app_client(api_token=TOKEN), TOKEN, sample_summary, sample_prices)


@pytest.fixture(scope="module")
def expected(sample_summary: bytes, sample_prices: bytes) -> list[dict]:
    prices = load_document(sample_prices)["values"]  # type: ignore[index]
    return independent.rows(independent.parse(sample_summary.decode()), prices)


def _teams(expected: list[dict]) -> list[str]:
    return sorted({row["team"] for row in expected})


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict = response.json()
    assert body["status"] == status and body["detail"]
    return body


def test_money_and_rows_of_one_team_and_of_two(api: InProcessClient, expected: list[dict]) -> None:
    teams = _teams(expected)
    assert len(teams) == 4
    for chosen in ([teams[0]], [teams[1], teams[3]]):
        mine = [row for row in expected if row["team"] in chosen]
        want = independent.money(mine)
        params = {"team": chosen}
        total = api.get("/api/v1/costs/total", params=params).json()
        assert total["total"] == pytest.approx(want["total"], abs=1e-9)
        assert sorted(total["teams"]) == chosen
        assert {r["team"] for r in total["resources"]} == set(chosen)
        deleted = api.get("/api/v1/costs/deleted", params=params).json()
        assert deleted["by_dimension"] == pytest.approx(want["deleted"], abs=1e-9)
        assert set(deleted["teams"]) <= set(chosen)

        rows = api.get("/api/v1/resources", params={**params, "limit": 10000}).json()
        assert rows["total"] == len(mine)
        got = {(r["team"], r["resource"], r["dimension"]): r["decision"] for r in rows["items"]}
        assert got == {(r["team"], r["resource"], r["dimension"]): r["decision"] for r in mine}

        # Each team's figures are those the whole answer gives it.
        whole = api.get("/api/v1/costs/total").json()
        for team in chosen:
            assert total["teams"][team] == whole["teams"][team]


def test_report_in_every_format_and_the_focus_export(
    api: InProcessClient, expected: list[dict]
) -> None:
    team = _teams(expected)[2]
    others = set(_teams(expected)) - {team}
    mine = [row for row in expected if row["team"] == team]
    want = independent.money(mine)

    report = api.get("/api/v1/report", params={"format": "json", "team": team}).json()
    assert [t["team"] for t in report["teams"]] == [team]
    assert report["total"] == pytest.approx(want["total"], abs=1e-9)

    for fmt in ("text", "markdown", "csv", "html"):
        page = api.get("/api/v1/report", params={"format": fmt, "team": team})
        assert page.status_code == 200, page.text
        assert team in page.text and not any(other in page.text for other in others), fmt
    answer = api.get("/api/v1/report", params={"format": "csv", "team": team})
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert {row["team"] for row in table} == {team} and len(table) == len(mine)

    focus = api.get("/api/v1/export/focus", params={"team": team})
    rows = list(csv.DictReader(io.StringIO(focus.text)))
    assert {row["SubAccountName"] for row in rows} == {team}
    assert sum(Decimal(row["BilledCost"]) for row in rows) == pytest.approx(
        Decimal(str(want["total"])), abs=Decimal("0.01")
    )


def test_recommendations_and_their_summary(api: InProcessClient, expected: list[dict]) -> None:
    teams = _teams(expected)
    candidates = [r for r in expected if r["decision"] in ("delete", "extend")]
    for team in teams:
        listed = api.get("/api/v1/recommendations", params={"team": team, "limit": 10000}).json()
        assert {item["team"] for item in listed["items"]} <= {team}
        assert listed["total"] == sum(1 for r in candidates if r["team"] == team)
    both = api.get("/api/v1/recommendations", params={"team": teams[:2], "limit": 10000}).json()
    assert both["total"] == sum(1 for r in candidates if r["team"] in teams[:2])

    parts = [api.get("/api/v1/recommendations/summary", params={"team": t}).json() for t in teams]
    whole = api.get("/api/v1/recommendations/summary").json()
    for state, amount in whole["money"].items():
        assert sum(part["money"][state] for part in parts) == pytest.approx(amount, abs=1e-9)
    for state, counts in whole["counts"].items():
        for decision, count in counts.items():
            assert sum(part["counts"][state][decision] for part in parts) == count


def test_a_team_not_stored_is_a_404_and_a_bad_name_a_422(
    api: InProcessClient, expected: list[dict]
) -> None:
    known = _teams(expected)[0]
    for path in (
        "/api/v1/costs/total",
        "/api/v1/costs/deleted",
        "/api/v1/resources",
        "/api/v1/report",
        "/api/v1/export/focus",
        "/api/v1/recommendations",
        "/api/v1/recommendations/summary",
    ):
        body = _problem(api.get(path, params={"team": [known, "no such team"]}), 404)
        assert "no such team" in body["detail"] and known not in body["detail"], path
        _problem(api.get(path, params={"team": "x" * 201}), 422)
        _problem(api.get(path, params={"team": ""}), 422)


def test_a_stored_team_outside_the_window_has_nothing(
    api: InProcessClient, expected: list[dict]
) -> None:
    team = _teams(expected)[0]
    later = {"team": team, "since": "2030-01-01"}
    assert api.get("/api/v1/costs/total", params=later).json()["total"] == 0
    assert api.get("/api/v1/resources", params=later).json()["total"] == 0
    focus = api.get("/api/v1/export/focus", params=later)
    assert focus.status_code == 200 and len(focus.text.splitlines()) == 1  # the header alone


def test_cli_team_locally_and_through_a_server(
    start_server, tmp_path: Path, sample_summary: bytes, sample_prices: bytes, expected: list[dict]
) -> None:  # type: ignore[no-untyped-def]
    env = {"USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    summary, prices = tmp_path / "s.txt", tmp_path / "p.yaml"
    summary.write_bytes(sample_summary)
    prices.write_bytes(sample_prices)
    assert run_cli("ingest", str(summary), env=env).returncode == 0
    assert run_cli("prices", str(prices), env=env).returncode == 0
    teams = _teams(expected)

    local = run_cli("report", "-f", "csv", "--team", teams[0], "--team", teams[1], env=env)
    assert local.returncode == 0, local.stderr
    shown = {row["team"] for row in csv.DictReader(io.StringIO(local.stdout))}
    assert shown == set(teams[:2])

    missing = run_cli("report", "--team", "nobody", env=env)
    assert missing.returncode == 1 and "nobody" in missing.stderr and not missing.stdout

    server = start_server(env)
    remote = run_cli(
        "report", "-f", "csv", "--team", teams[1], "--team", teams[0], "--url", server.url, env=env
    )
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout
    remote_missing = run_cli("report", "--team", "nobody", "--url", server.url, env=env)
    assert remote_missing.returncode == 1 and "nobody" in remote_missing.stderr
