"""One format everywhere: money written one way on every surface a person reads, times and
durations accepted the same way by the API and the CLI (``7d`` is seven days ago), errors
that name the accepted forms or the file, the CLI's 401 naming the setting, ``prices FILE``
as one line, ``policy show``. The API in-process on a real SQLite file; the CLI on the same
file and through a real server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.conftest import InProcessClient, load_sample, run_cli
from usagelens.domain.money import format_money

TOKEN = "format-token"
AUTH = {"X-Auth-Token": TOKEN}


@pytest.fixture
def api(app_client, sample_summary: bytes, sample_prices: bytes) -> InProcessClient:  # type: ignore[no-untyped-def]
    return load_sample(app_client(api_token=TOKEN), TOKEN, sample_summary, sample_prices)


def test_the_money_format() -> None:
    assert format_money(9279) == "9,279.00"
    assert format_money(1234567.891, "RUB") == "1,234,567.89 RUB"
    assert format_money(0.005) == "0.01" and format_money(-1500) == "-1,500.00"
    assert format_money(1234.5, signed=True) == "+1,234.50"
    assert format_money(0, signed=True) == "+0.00"
    assert format_money(None, "RUB") == "unpriced"


def test_every_surface_writes_the_total_the_same_way(api: InProcessClient, tmp_path: Path) -> None:
    total = api.get("/api/v1/costs/total").json()["total"]
    shown = format_money(total, "RUB")
    assert shown == "33,951.00 RUB"
    assert f"Total cost: {shown}" in api.get("/api/v1/report").text
    assert shown in api.get("/api/v1/report", params={"format": "markdown"}).text
    assert shown in api.get("/api/v1/report", params={"format": "html"}).text
    assert shown in api.get("/").text
    # CSV and JSON keep plain numbers.
    assert json.loads(api.get("/api/v1/report", params={"format": "json"}).text)["total"] == total
    assert "33,951" not in api.get("/api/v1/report", params={"format": "csv"}).text

    candidate = tmp_path / "stricter.yaml"
    candidate.write_text("intensity: {low: 45, medium: 65, high: 85}\n", encoding="utf-8")
    env = {"USAGELENS_DATABASE_URL": api.database_url, "COLUMNS": "200"}
    diff = run_cli("policy", "diff", str(candidate), env=env)
    assert diff.returncode == 0, diff.stderr
    deleted = api.get("/api/v1/costs/deleted").json()["total"]
    assert format_money(deleted) in diff.stdout  # the money to delete now, before the change
    assert "9,279.00" in diff.stdout and "9 279.00" not in diff.stdout


def test_a_span_back_from_now_and_all_are_times_everywhere(
    api: InProcessClient, tmp_path: Path
) -> None:
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    answer = api.get("/api/v1/resources", params={"since": "30d", "limit": 1}).json()
    after = datetime.now(UTC).replace(second=0, microsecond=0)
    first = datetime.fromisoformat(answer["window"]["since"])
    assert before - timedelta(days=30) <= first <= after - timedelta(days=30)
    every = api.get("/api/v1/resources", params={"since": "all", "limit": 1}).json()
    assert every["window"]["since"] is None and every["total"] == 120

    env = {"USAGELENS_DATABASE_URL": api.database_url}
    week = run_cli("report", "-f", "json", "--since", "7d", env=env)
    assert week.returncode == 0, week.stderr
    since = datetime.fromisoformat(json.loads(week.stdout)["window"]["since"])
    assert before - timedelta(days=7) <= since <= after + timedelta(minutes=1) - timedelta(days=7)
    assert run_cli("report", "--since", "all", env=env).returncode == 0


def test_every_time_and_duration_error_names_the_forms(api: InProcessClient) -> None:
    for params in ({"since": "last tuesday"}, {"until": "2026-13-45"}, {"since": "0"}):
        answer = api.get("/api/v1/costs/total", params=params)
        assert answer.status_code == 422
        detail = answer.json()["detail"]
        assert "2026-11-27" in detail and "7d" in detail, detail
        assert "invalid character" not in detail

    rec = api.get("/api/v1/recommendations", params={"limit": 1}).json()["items"][0]
    moved = api.post(
        f"/api/v1/recommendations/{rec['id']}/state",
        json={"state": "dismissed", "until": "next friday"},
        headers=AUTH,
    )
    assert moved.status_code == 422
    assert "2026-11-27" in moved.text and "invalid character" not in moved.text

    pruned = api.post("/api/v1/prune", json={"older_than": "soon"}, headers=AUTH)
    assert pruned.status_code == 400 and "7d" in pruned.json()["detail"]

    cli = run_cli(
        "report", "--since", "last tuesday", env={"USAGELENS_DATABASE_URL": api.database_url}
    )
    assert cli.returncode == 2 and "2026-11-27" in cli.stderr and "7d" in cli.stderr
    setting = run_cli("report", env={"USAGELENS_WINDOW": "fortnight"})
    assert setting.returncode == 1 and "USAGELENS_WINDOW" in setting.stderr
    assert "7d" in setting.stderr and "or all" in setting.stderr


def test_a_yaml_error_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("values:\n  a: [1, 2\n", encoding="utf-8")
    env = {"USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'y.db'}"}
    for args, extra in (
        (["prices", str(broken)], {}),
        (["report"], {"USAGELENS_POLICY_FILE": str(broken)}),
        (["report"], {"USAGELENS_CONFIG_FILE": str(broken)}),
        (["policy", "diff", str(broken)], {}),
    ):
        done = run_cli(*args, env={**env, **extra})
        assert done.returncode != 0, args
        assert str(broken) in done.stderr and "line 2" in done.stderr, (args, done.stderr)
        assert "<unicode string>" not in done.stderr


def test_prices_file_is_one_line_and_show_prints_the_list(
    tmp_path: Path, sample_prices: bytes
) -> None:
    env = {"USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    prices = tmp_path / "prices.yaml"
    prices.write_bytes(sample_prices)
    done = run_cli("prices", str(prices), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1
    assert f"replaced from {prices}" in done.stdout and "40 resources" in done.stdout
    shown = run_cli("prices", str(prices), "--show", env=env)
    assert shown.stdout.splitlines()[0] == done.stdout.strip()
    assert len(yaml.safe_load(shown.stdout.split("\n", 1)[1])["values"]) == 40
    listed = run_cli("prices", env=env)
    assert listed.stdout == shown.stdout.split("\n", 1)[1]


def test_policy_show_prints_the_policy_in_force_locally_and_remotely(
    start_server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    policy = tmp_path / "policy.yaml"
    policy.write_text("intensity: {low: 45, medium: 65, high: 85}\n", encoding="utf-8")
    env = {"USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    default = run_cli("policy", "show", "--json", env=env)
    assert default.returncode == 0, default.stderr
    assert json.loads(default.stdout)["source"] == "store"  # a new store adopts the defaults

    configured = {
        "USAGELENS_DATABASE_URL": f"sqlite:///{tmp_path / 'configured.db'}",
        "USAGELENS_POLICY_FILE": str(policy),
    }
    local = run_cli("policy", "show", env=configured)
    assert local.returncode == 0, local.stderr
    assert "from USAGELENS_POLICY_FILE" in local.stdout and "low: 45" in local.stdout
    # What it prints is a policy document: the diff against itself changes nothing.
    again = tmp_path / "again.yaml"
    again.write_text(local.stdout, encoding="utf-8")
    diff = run_cli("policy", "diff", str(again), "--json", env=configured)
    assert diff.returncode == 0, diff.stderr
    assert json.loads(diff.stdout)["changed"] == 0

    server = start_server(
        {**configured, "USAGELENS_API_TOKEN": TOKEN, "USAGELENS_PROTECT_READS": "true"}
    )
    remote = run_cli(
        "policy", "show", "--json", "--url", server.url, env={"USAGELENS_API_TOKEN": TOKEN}
    )
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout) == json.loads(
        run_cli("policy", "show", "--json", env=configured).stdout
    )

    refused = run_cli("report", "--url", server.url, env={"USAGELENS_API_TOKEN": None})
    assert refused.returncode == 1 and "401" in refused.stderr
    assert "set USAGELENS_API_TOKEN" in refused.stderr
