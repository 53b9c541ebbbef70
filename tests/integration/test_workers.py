"""Four workers, concurrent ingests and pushes: every scrape shows the same, exact numbers."""

from __future__ import annotations

import asyncio
import bisect
import random
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest

from tests import independent
from tests.conftest import SERVICE_METRICS, domain_samples, parse_exposition, scrape, scrape_text
from usagelens.domain.summary import render_summary
from usagelens.simulator.data import company

TOKEN = "workers-token"
AUTH = {"X-Auth-Token": TOKEN}
BOUNDS = (0.01, 0.5, 1, 2, 3, 4, 10)
LABELS = ("0.01", "0.5", "1.0", "2.0", "3.0", "4.0", "10.0")


async def _fire(url: str, summaries: list[bytes], events: list[dict]) -> None:  # type: ignore[type-arg]
    limits = httpx.Limits(max_connections=40, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=120, limits=limits) as client:
        gate = asyncio.Semaphore(40)
        seen: list[int] = []

        async def send(method: str, path: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
            async with gate:
                response = await client.request(method, path, **kwargs)
                assert response.status_code == 200, response.text
                if path == "/metrics":  # a scrape mid-write sees whole summaries or none
                    seen.append(_stored(response.text))

        jobs = [send("POST", "/metric-receiver", json=event) for event in events]
        jobs += [send("POST", "/api/v1/usage", content=body) for body in summaries]
        jobs += [send("GET", "/metrics") for _ in range(40)]
        random.Random(7).shuffle(jobs)
        await asyncio.gather(*jobs)
    assert len(seen) == 40
    assert all(count % 24000 == 0 for count in seen), seen  # each summary holds 24,000


def _stored(exposition: str) -> int:
    """How many observations a scrape counts over every series (the sum of the usage
    histograms' ``_count`` samples, read off their lines: a full parse of each of the 40
    mid-write scrapes cost most of this test's own CPU)."""
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in exposition.splitlines()
            if line.startswith("usagelens_resource_usage_percent_count{")
        )
    )


def _data_lines(exposition: str) -> list[str]:
    """The exposition's lines that describe the data, sorted: equal lists mean equal
    ``domain_samples`` (each sample line carries its name, labels and value)."""
    return sorted(
        line
        for line in exposition.splitlines()
        if not line.startswith(
            (SERVICE_METRICS, f"# HELP {SERVICE_METRICS}", f"# TYPE {SERVICE_METRICS}")
        )
    )


@pytest.mark.parametrize(
    "store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
@pytest.mark.heavy
def test_four_workers_agree(
    store: str, start_server, request: pytest.FixtureRequest, sample_summary: bytes
) -> None:  # type: ignore[no-untyped-def]
    env = {"USAGELENS_API_TOKEN": TOKEN}
    if store == "postgresql":
        env["USAGELENS_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    server = start_server(env, workers=4)

    moment = datetime(2026, 6, 1, 12, tzinfo=UTC)
    summaries = [sample_summary] + [
        render_summary(company(branch).observations(moment)).encode() for branch in (1, 2, 3)
    ]
    rng = random.Random(42)
    endpoints = ["/process-finances", "/login", "/report", "/health"]
    events = [
        {
            "status": rng.choice([200, 202, 404, 500]),
            "endpoint": rng.choice(endpoints),
            "time": rng.choice([0.01, 0.5, 1, 2, 3, 4, 10, round(rng.uniform(0, 12), 3)]),
        }
        for _ in range(2000)
    ]
    asyncio.run(_fire(server.url, summaries, events))

    # What SPEC 4 says the numbers must be, computed without usagelens.
    series: dict = {}
    for body in summaries:
        for key, by_time in independent.parse(body.decode()).items():
            series.setdefault(key, {}).update(by_time)
    statuses = Counter(str(e["status"]) for e in events)
    per_bucket: Counter = Counter()
    for e in events:
        index = bisect.bisect_left(BOUNDS, e["time"])
        per_bucket[(e["endpoint"], LABELS[index] if index < len(BOUNDS) else "+Inf")] += 1

    first_text = scrape_text(server.url)
    first = domain_samples(parse_exposition(first_text))
    first_lines = _data_lines(first_text)
    for _ in range(29):  # each scrape on a new connection: any of the four workers answers
        text = scrape_text(server.url)
        if _data_lines(text) != first_lines:  # then compare what they mean, to name it
            assert domain_samples(parse_exposition(text)) == first
    counts = {
        tuple(sorted(dict(labels).items())): value
        for (name, labels), value in first.items()
        if name == "usagelens_resource_usage_percent_count"
    }
    expected = {
        tuple(sorted({"team": t, "resource": r, "dimension": d}.items())): len(v)
        for (t, r, d), v in series.items()
    }
    assert counts == expected
    assert sum(counts.values()) == 96000
    requests = {
        dict(labels)["status"]: v
        for (n, labels), v in first.items()
        if n == "http_service_requests_total"
    }
    assert requests == statuses
    for endpoint in endpoints:
        running = 0
        for label in (*LABELS, "+Inf"):
            running += per_bucket[(endpoint, label)]
            key = (
                "http_service_latency_seconds_bucket",
                frozenset({"endpoint": endpoint, "le": label}.items()),
            )
            assert first[key] == running, (endpoint, label)
    batches = first[("usagelens_ingest_batches_total", frozenset({("result", "accepted")}))]
    assert batches == 4


@pytest.mark.postgres
@pytest.mark.heavy
def test_servers_on_different_ports_see_every_write_at_once(
    start_server, postgres_url: str, sample_summary: bytes, sample_prices: bytes
) -> None:  # type: ignore[no-untyped-def]
    """Two serve processes (as on two hosts) sharing one PostgreSQL answer alike."""
    env = {"USAGELENS_API_TOKEN": TOKEN, "USAGELENS_DATABASE_URL": postgres_url}
    first, second = start_server(env, workers=2), start_server(env, workers=2)
    with httpx.Client(headers=AUTH, timeout=60) as client:
        for writer, reader in ((first, second), (second, first)):
            # Warm the reader's caches, then write through the other server.
            rows = reader.url + "/api/v1/resources?limit=10000"
            before = client.get(rows).json()
            if before["items"]:
                body = sample_summary.replace(b",7);", b",93);", 40)
            else:
                body = sample_summary
            assert client.post(writer.url + "/api/v1/usage", content=body).status_code == 200
            assert client.put(writer.url + "/api/v1/prices", content=sample_prices).is_success
            for path in ("/api/v1/costs/total", "/api/v1/costs/deleted", "/api/v1/resources"):
                assert client.get(reader.url + path).json() == client.get(writer.url + path).json()
            assert client.get(rows).json() != before
            assert domain_samples(scrape(reader.url)) == domain_samples(scrape(writer.url))
        pushed = {"status": 202, "endpoint": "/p", "time": 0.3}
        assert client.post(first.url + "/metric-receiver", json=pushed).status_code == 200
        key = ("http_service_requests_total", frozenset({("status", "202")}))
        assert scrape(second.url)[key] == 1
