"""``usagelens collect`` against real simulators, a dead source, a PostgreSQL table, a server."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from tests import independent
from tests.conftest import SIMULATOR_READY, Server, free_port, run_cli, scrape
from usagelens.documents import load_document


def _collect(
    db: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli("collect", *args, env={"USAGELENS_DATABASE_URL": db, **(env or {})})


def _report(db: str) -> dict:  # type: ignore[type-arg]
    result = run_cli("report", "--format", "json", env={"USAGELENS_DATABASE_URL": db})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


DELAY = 2
"""Seconds each answer of the slow simulators takes."""


@pytest.fixture
def slow_simulators(tmp_path: Path):  # type: ignore[no-untyped-def]
    servers = [
        Server(
            ["simulate", "--branches", "2", "--delay", str(DELAY), "--end", "2026-11-27 12:00:00"],
            {},
            free_port(),
            tmp_path / f"sim{i}.log",
        )
        for i in range(2)
    ]
    try:
        for server in servers:
            server.wait_ready(SIMULATOR_READY)
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_collect_lands_what_exists_names_failures_and_runs_concurrently(
    tmp_path: Path, slow_simulators: list[Server]
) -> None:
    db = f"sqlite:///{tmp_path / 'collect.db'}"
    dead = f"http://127.0.0.1:{free_port()}"
    first, second = (s.url for s in slow_simulators)
    started = time.monotonic()
    result = _collect(
        db, "--source", first, "--source", second, "--source", dead,
        "--branch", "1", "--branch", "2", "--branch", "5", "--concurrency", "16", "--retries", "2",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    # 2 live sources x (2 branches + prices) landed; branch 5 and the dead source failed.
    assert "6 of 12 pulls landed" in result.stdout and "6 failed" in result.stdout
    assert f"{first} branch 5: " in result.stderr and "404" in result.stderr
    assert f"{dead} branch 1: " in result.stderr and "unreachable" in result.stderr
    # Twelve pulls of which eight take DELAY seconds each: one after another they could not
    # take less than the sum, whatever the machine's load; at once, about the slowest.
    assert elapsed < 8 * DELAY, (elapsed, result.stderr)

    # What the simulators serve, asked at once (each answer takes DELAY seconds).
    paths = [
        f"{s}/monitoring/infrastructure/using/summary/{b}" for s in (first, second) for b in (1, 2)
    ]
    with ThreadPoolExecutor(len(paths) + 1) as pool:
        answers = list(
            pool.map(
                lambda url: httpx.get(url, timeout=30),
                [*paths, f"{second}/monitoring/infrastructure/using/prices"],
            )
        )
    series: dict = {}
    for answer in answers[:-1]:
        series.update(independent.parse(answer.text))
    prices = load_document(answers[-1].content)
    expected = independent.money(independent.rows(series, prices["values"]))  # type: ignore[index]
    report = _report(db)
    assert report["total"] == pytest.approx(expected["total"], abs=1e-6)
    assert report["deleted"]["by_dimension"] == pytest.approx(expected["deleted"], abs=1e-6)


def test_collect_into_a_running_server(tmp_path: Path, start_server, simulator) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"USAGELENS_API_TOKEN": "collect-token"})
    result = _collect(
        f"sqlite:///{tmp_path / 'unused.db'}", "--source", simulator.url, "--branch", "1",
        "--url", server.url, env={"USAGELENS_API_TOKEN": "collect-token"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 of 2 pulls landed" in result.stdout
    rows = httpx.get(server.url + "/api/v1/resources", params={"limit": 10000}).json()
    assert rows["total"] == 120 and all(r["cost"] is not None for r in rows["items"])
    denied = _collect(
        f"sqlite:///{tmp_path / 'unused.db'}", "--source", simulator.url, "--url", server.url
    )
    assert denied.returncode == 1 and "401" in denied.stderr


def _table(url: str, *rows: str) -> None:
    """Create usage_stats.resources if need be and insert rows (SQL value tuples)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS usage_stats")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS usage_stats.resources (team text, resource text,"
            " dimension text, collect_date timestamp, usage integer)"
        )
        if rows:
            conn.execute("INSERT INTO usage_stats.resources VALUES " + ", ".join(rows))


def _row(moment: str, usage: int, resource: str = "0080", dimension: str = "CPU") -> str:
    return f"('seize holistic users', '{resource}', '{dimension}', '2026-11-{moment}', {usage})"


def test_postgresql_table_source_pages_skips_bad_rows_and_sees_late_rows(
    tmp_path: Path, postgres_url: str
) -> None:
    _table(
        postgres_url,
        _row("19 10:00:00", 10),
        _row("19 11:00:00", 20),
        _row("19 11:00:00", 95, "SBP 366", "RAM"),
        _row("19 11:00:00", 150, dimension="RAM"),  # bad: out of range
        _row("19 09:00:00", 5, dimension="Disk"),  # bad: no such dimension
        "(NULL, '0080', 'CPU', '2026-11-19 11:00:00', 5)",  # bad: no team
    )
    # Pages of two rows, so that rows of one moment straddle pages.
    source = postgres_url + "?table=usage_stats.resources&lookback=2h&page_size=2"
    db = f"sqlite:///{tmp_path / 'table.db'}"
    first = _collect(db, "--source", source)
    assert first.returncode == 0, first.stderr
    assert "3 observations: 3 inserted" in first.stderr
    assert "3 bad rows skipped: " in first.stderr
    assert "'0080', 'RAM', '2026-11-19 11:00:00'): usage 150 is out of range" in first.stderr
    assert "unknown dimension 'Disk'" in first.stderr
    assert "1 row with an empty team, resource, dimension or collect_date" in first.stderr

    _table(
        postgres_url,
        _row("19 10:30:00", 30),  # late: older than the newest row taken, within the lookback
        _row("19 12:00:00", 40),
        _row("19 08:00:00", 50),  # later than the lookback reaches back: not seen
    )
    second = _collect(db, "--source", source)
    assert second.returncode == 0, second.stderr
    # From 09:00 (11:00 less the lookback): the two new rows, the others again as duplicates.
    assert "5 observations: 2 inserted, 0 updated, 3 duplicates" in second.stderr
    third = _collect(db, "--source", source)
    assert "5 observations: 0 inserted, 0 updated, 5 duplicates" in third.stderr
    rows = {(r["resource"], r["dimension"]): r for t in _report(db)["teams"] for r in t["rows"]}
    assert rows[("0080", "CPU")]["count"] == 4 and rows[("0080", "CPU")]["mean"] == 25
    assert rows[("SBP 366", "RAM")]["decision"] == "extend"
    assert ("0080", "RAM") not in rows

    missing = _collect(db, "--source", postgres_url + "?table=usage_stats.nope")
    assert missing.returncode == 1 and "cannot read usage_stats.nope" in missing.stderr


def test_a_timestamptz_table_in_another_zone_is_read_in_utc(
    tmp_path: Path, postgres_url: str
) -> None:
    """The database's sessions default to UTC+9: the source reads in UTC all the same, so
    the times stored and the position's comparison are right."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        name = postgres_url.rsplit("/", 1)[1]
        conn.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Tokyo'")
        conn.execute("CREATE SCHEMA usage_stats")
        conn.execute(
            "CREATE TABLE usage_stats.resources (team text, resource text, dimension text,"
            " collect_date timestamptz, usage integer)"
        )
        conn.execute(
            "INSERT INTO usage_stats.resources VALUES ('t', 'r', 'CPU', '2026-11-19 10:00:00+00', 10),"
            " ('t', 'r', 'CPU', '2026-11-19 11:00:00+00', 20)"
        )
    source = postgres_url + "?table=usage_stats.resources&lookback=0"
    db = f"sqlite:///{tmp_path / 'tz.db'}"
    assert "2 inserted" in _collect(db, "--source", source).stderr
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO usage_stats.resources VALUES ('t', 'r', 'CPU', '2026-11-19 12:00:00+00', 30)"
        )
    # From the stored position (11:00 UTC): that row again and the new one, nothing older.
    again = _collect(db, "--source", source)
    assert "2 observations: 1 inserted, 0 updated, 1 duplicates" in again.stderr, again.stderr
    export = run_cli("export", env={"USAGELENS_DATABASE_URL": db})
    summary = json.loads(export.stdout)["observations"]
    assert "2026-11-19 10:00:00" in summary and "2026-11-19 12:00:00" in summary, summary


def test_collect_into_a_server_keeps_the_table_position_on_the_server(  # type: ignore[no-untyped-def]
    tmp_path: Path, start_server, postgres_url: str
) -> None:
    from usagelens.sources import PostgresTableSource

    old = [_row(f"18 0{hour}:00:00", 10 * hour) for hour in range(6)]
    _table(postgres_url, *old, _row("19 10:00:00", 10), _row("19 11:00:00", 20))
    source = postgres_url + "?table=usage_stats.resources&lookback=2h"
    name = PostgresTableSource(source).name
    server = start_server({"USAGELENS_API_TOKEN": "collect-token"})
    token = {"USAGELENS_API_TOKEN": "collect-token"}

    def collect() -> str:
        # A new local database each time: nothing of the position is kept here.
        db = f"sqlite:///{tmp_path / f'unused-{time.monotonic_ns()}.db'}"
        result = _collect(db, "--source", source, "--url", server.url, env=token)
        assert result.returncode == 0, result.stderr
        return result.stderr

    def position() -> object:
        answer = httpx.get(server.url + "/api/v1/sources/position", params={"source": name})
        assert answer.status_code == 200, answer.text
        assert answer.json()["source"] == name
        return answer.json()["position"]

    assert position() is None
    assert "8 observations: 8 inserted" in collect()
    assert position() == "2026-11-19T11:00:00Z"

    _table(postgres_url, _row("19 10:30:00", 30), _row("19 12:00:00", 40))
    # Only what is new and the lookback (from 09:00), not the day before.
    assert "4 observations: 2 inserted, 0 updated, 2 duplicates" in collect()
    assert position() == "2026-11-19T12:00:00Z"
    rows = httpx.get(server.url + "/api/v1/resources", params={"limit": 100}).json()["items"]
    assert [r["count"] for r in rows] == [10]

    url = server.url + "/api/v1/sources/position"
    auth = {"X-Auth-Token": "collect-token"}
    earlier = {"position": "2026-11-19T10:00:00"}
    denied = httpx.put(url, params={"source": name}, json=earlier)
    assert denied.status_code == 401
    assert denied.headers["content-type"].startswith("application/problem+json")
    kept = httpx.put(url, params={"source": name}, json=earlier, headers=auth)
    assert kept.status_code == 200 and kept.json()["position"] == "2026-11-19T12:00:00Z"
    bad = httpx.put(url, params={"source": name}, json={"position": "soon"}, headers=auth)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    unnamed = httpx.get(url)
    assert unnamed.status_code == 422


@pytest.mark.heavy
def test_scheduled_refresh_runs_one_pull_at_a_time_across_workers(start_server, simulator) -> None:  # type: ignore[no-untyped-def]
    server = start_server(
        {"USAGELENS_SOURCES": simulator.url, "USAGELENS_REFRESH_EVERY": "1s"}, workers=2
    )
    started = time.monotonic()
    deadline = started + 60
    status = {}
    while time.monotonic() < deadline:
        status = httpx.get(server.url + "/api/v1/refresh").json()
        if status["finished_at"] and status["ok"] == 2:
            break
        time.sleep(0.3)
    assert status["schedule_seconds"] == 1 and status["ok"] == 2 and status["failed"] == 0
    assert {p["kind"] for p in status["pulls"]} == {"usage", "prices"}
    time.sleep(3)
    samples = scrape(server.url)
    assert samples[("usagelens_last_refresh_pulls", frozenset({("result", "ok")}))] == 2
    assert ("usagelens_last_refresh_timestamp_seconds", frozenset()) in samples
    batches = samples[("usagelens_ingest_batches_total", frozenset({("result", "accepted")}))]
    elapsed = time.monotonic() - started
    # One refresh (one batch) per period at most, whichever of the two workers runs it.
    assert 1 <= batches <= elapsed / 0.95 + 2, (batches, elapsed)
