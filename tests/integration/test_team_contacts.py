"""Team owners and contacts from the config file (``teams: {name: {owner, contact}}``),
shown in the reports (text, Markdown, JSON, HTML), on the dashboard and in digests, the
same through a server; a malformed entry stops the command naming it. The API in-process
on a real SQLite file, the CLI on the same file and through a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import independent
from tests.conftest import InProcessClient, load_sample, run_cli
from usagelens.api.schemas import RecommendationOut
from usagelens.digest import digest_message
from usagelens.domain.report import TeamContact

TOKEN = "contacts-token"


@pytest.fixture
def teams(sample_summary: bytes) -> list[str]:
    return sorted({key[0] for key in independent.parse(sample_summary.decode())})


@pytest.fixture
def config(tmp_path: Path, teams: list[str]) -> Path:
    path = tmp_path / "usagelens.yaml"
    path.write_text(
        "teams:\n"
        f"  {json.dumps(teams[0])}: {{owner: Ann Example, contact: '#team-one'}}\n"
        f"  {json.dumps(teams[1])}: {{owner: Bo}}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def api(
    app_client, config: Path, sample_summary: bytes, sample_prices: bytes, monkeypatch
) -> InProcessClient:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("USAGELENS_CONFIG_FILE", str(config))
    return load_sample(app_client(api_token=TOKEN), TOKEN, sample_summary, sample_prices)


def test_every_report_names_the_owner(api: InProcessClient, teams: list[str]) -> None:
    text = api.get("/api/v1/report").text
    assert "Owner: owner Ann Example, contact #team-one" in text
    assert "Owner: owner Bo" in text and text.count("Owner:") == 2
    assert "owner Ann Example, contact #team-one" in api.get("/api/v1/report?format=markdown").text
    document = api.get("/api/v1/report", params={"format": "json"}).json()
    by_team = {t["team"]: (t["owner"], t["contact"]) for t in document["teams"]}
    assert by_team[teams[0]] == ("Ann Example", "#team-one")
    assert by_team[teams[1]] == ("Bo", None)
    assert by_team[teams[2]] == (None, None)
    html = api.get("/api/v1/report", params={"format": "html"}).text
    assert "owner Ann Example, contact #team-one" in html
    overview = api.get("/").text
    assert 'class="muted owner">owner Ann Example, contact #team-one' in overview


def test_the_cli_report_shows_them_locally_and_through_a_server(
    api: InProcessClient, start_server, config: Path
) -> None:  # type: ignore[no-untyped-def]
    env = {"USAGELENS_DATABASE_URL": api.database_url, "USAGELENS_CONFIG_FILE": str(config)}
    local = run_cli("report", env=env)
    assert local.returncode == 0, local.stderr
    assert "Owner: owner Ann Example, contact #team-one" in local.stdout
    server = start_server(env)
    remote = run_cli("report", "--url", server.url, env={"USAGELENS_CONFIG_FILE": None})
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout.split("\n", 1)[1] == local.stdout.split("\n", 1)[1]  # but the title's time


def test_a_digest_names_the_owner(api: InProcessClient) -> None:
    listed = api.get("/api/v1/recommendations", params={"decision": "delete", "limit": 1})
    item = RecommendationOut.model_validate(listed.json()["items"][0])
    text = digest_message([item], "RUB", {item.team: TeamContact("Ann", "#one")})["text"]
    assert text.splitlines()[1].endswith(f"[{item.id}] — owner Ann, contact #one")
    assert "owner" not in digest_message([item], "RUB")["text"]


def test_a_malformed_entry_stops_the_command_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("teams:\n  ops: {owner: ann, phone: 123}\n", encoding="utf-8")
    done = run_cli("report", env={"USAGELENS_CONFIG_FILE": str(bad)})
    assert done.returncode == 1 and "USAGELENS_TEAMS (ops.phone)" in done.stderr
    env_json = run_cli("report", env={"USAGELENS_TEAMS": "{ops: ann}"})
    assert env_json.returncode == 1 and "USAGELENS_TEAMS" in env_json.stderr
    assert "JSON object" in env_json.stderr
