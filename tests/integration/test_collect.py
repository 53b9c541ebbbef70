"""``usagelens collect`` against real simulators, a dead source, a PostgreSQL table, a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests import independent
from tests.conftest import Server, free_port, scrape
from usagelens.documents import load_document


def _collect(
    db: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "usagelens", "collect", *args],
        capture_output=True, text=True, timeout=180,
        env={**os.environ, "USAGELENS_DATABASE_URL": db, **(env or {})},
    )  # fmt: skip


def _report(db: str) -> dict:  # type: ignore[type-arg]
    result = subprocess.run(
        [sys.executable, "-m", "usagelens", "report", "--format", "json"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "USAGELENS_DATABASE_URL": db},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def slow_simulators(tmp_path: Path):  # type: ignore[no-untyped-def]
    servers = [
        Server(
            ["simulate", "--branches", "2", "--delay", "1", "--end", "2026-11-27 12:00:00"],
            {},
            free_port(),
            tmp_path / f"sim{i}.log",
        )
        for i in range(2)
    ]
    try:
        for server in servers:
            server.wait_ready("/monitoring/infrastructure/using/prices")
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
    # Twelve pulls of which eight take a second each: about the slowest, not the sum.
    assert elapsed < 8, (elapsed, result.stderr)

    series: dict = {}
    for server in (first, second):
        for branch in (1, 2):
            text = httpx.get(
                f"{server}/monitoring/infrastructure/using/summary/{branch}", timeout=30
            ).text
            series.update(independent.parse(text))
    prices = load_document(
        httpx.get(f"{second}/monitoring/infrastructure/using/prices", timeout=30).content
    )
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


def test_postgresql_table_source_is_read_incrementally_and_only_once(
    tmp_path: Path, postgres_url: str
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA usage_stats")
        conn.execute(
            "CREATE TABLE usage_stats.resources (team text, resource text, dimension text,"
            " collect_date timestamp, usage integer)"
        )
        conn.execute(
            "INSERT INTO usage_stats.resources VALUES"
            " ('seize holistic users', '0080', 'CPU', '2026-11-19 10:00:00', 10),"
            " ('seize holistic users', '0080', 'CPU', '2026-11-19 11:00:00', 20),"
            " ('seize holistic users', 'SBP 366', 'RAM', '2026-11-19 11:00:00', 95)"
        )
    source = postgres_url + "?table=usage_stats.resources"
    db = f"sqlite:///{tmp_path / 'table.db'}"
    first = _collect(db, "--source", source)
    assert first.returncode == 0, first.stderr
    assert "3 observations: 3 inserted" in first.stderr

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO usage_stats.resources VALUES"
            " ('seize holistic users', '0080', 'CPU', '2026-11-19 12:00:00', 30),"
            " ('seize holistic users', '0080', 'CPU', '2026-11-19 13:00:00', 40)"
        )
    second = _collect(db, "--source", source)
    assert second.returncode == 0, second.stderr
    # The two new rows, and the rows at the last position again as duplicates.
    assert "2 inserted, 0 updated, 2 duplicates" in second.stderr
    third = _collect(db, "--source", source)
    assert "0 inserted" in third.stderr
    rows = {(r["resource"], r["dimension"]): r for t in _report(db)["teams"] for r in t["rows"]}
    assert rows[("0080", "CPU")]["count"] == 4 and rows[("0080", "CPU")]["mean"] == 25
    assert rows[("SBP 366", "RAM")]["decision"] == "extend"

    missing = _collect(db, "--source", postgres_url + "?table=usage_stats.nope")
    assert missing.returncode == 1 and "cannot read usage_stats.nope" in missing.stderr


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
