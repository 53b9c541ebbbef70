"""Soak: four workers on PostgreSQL under a bounded mixed load never fail and stay exact.

For ``USAGELENS_SOAK_SECONDS`` seconds (default 10 under ``make test``, 20 under
``make test-deep``: ``USAGELENS_TEST_DEPTH`` scales it) eleven clients at once ingest
overlapping summaries, push request events, read the API and scrape /metrics. Each client
sends one request at a time, each on a new connection, so requests spread over the
workers. Afterwards every answer is accounted for (no 5xx, no transport error, no status
other than the one expected), the stored observations equal the test's model exactly, and
/metrics counts every stored observation and every accepted push exactly once. Requests
per kind and status and latencies (p50/p99 per kind, and per read path) are printed (seen
with ``pytest -s`` or ``-rA``), attached to the test report (``record_property``, in
``--junitxml``) and written to ``soak.json`` in the test's tmp_path; they are reported,
never asserted (speed is for benchmarks).

    USAGELENS_SOAK_SECONDS=600 .venv/bin/python -m pytest tests/integration/test_soak.py -s

How the load stays exactly predictable although writes race:

- three *shared* ingesters send sliding windows of simulator branch 1 that overlap each
  other's: a key always carries the simulator's value, so racing writes of it agree;
- each *owner* ingester alone writes its own branch (2, 3), resending hours with some
  values changed; it waits for each answer, so it knows the last value of each of its keys
  and predicts every answer's inserted/updated/duplicates exactly;
- some payloads are malformed on purpose (their last record or event is bad) and must be
  refused whole: the summaries hold hours no valid payload sends, so a half-stored one
  shows up as extra observations.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, depth, domain_samples, scrape
from usagelens.domain.model import Observation
from usagelens.domain.summary import render_records, render_summary
from usagelens.simulator.data import company

SECONDS = float(os.environ.get("USAGELENS_SOAK_SECONDS", depth(20)))
TOKEN = "soak-token"
AUTH = {"X-Auth-Token": TOKEN}
END = datetime(2026, 6, 1, 12, tzinfo=UTC)
WINDOW = 24  # hours per ingested summary: 120 series × 24 = 2,880 observations
SHARED_BRANCH, OWNED_BRANCHES = 1, (2, 3)
ENDPOINTS = ("/process-finances", "/login", "/report", "/health")
BOUNDS = (0.01, 0.5, 1, 2, 3, 4, 10)
LABELS = ("0.01", "0.5", "1.0", "2.0", "3.0", "4.0", "10.0")
READS = (
    "/api/v1/resources?limit=10000",
    "/api/v1/resources?decision=delete&sort=cost&order=desc&limit=50",
    "/api/v1/costs/total",
    "/api/v1/costs/deleted",
    "/api/v1/report?format=json",
)
ALL_ROWS = READS[0]

Key = tuple[str, str, str, int]
"""(team, resource, dimension, collected_at in µs since the epoch)."""


def _key(obs: Observation) -> Key:
    return (obs.team, obs.resource, obs.dimension.value, int(obs.collected_at.timestamp()) * 10**6)


def _window(branch: int, start: int) -> list[Observation]:
    """Return the simulator's WINDOW hours of a branch, the last one START hours after END."""
    return company(branch).observations(END + timedelta(hours=start), WINDOW)


def _body(observations: list[Observation], as_json: bool) -> dict[str, object]:
    if as_json:
        return {"json": render_records(observations)}
    return {"content": render_summary(observations).encode()}


def _le(seconds: float) -> str:
    for bound, label in zip(BOUNDS, LABELS, strict=True):
        if seconds <= bound:
            return label
    return "+Inf"


@dataclass
class Model:
    """What the server must hold, built from the answers it gave."""

    observations: dict[Key, float] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)  # summed from ingest answers
    predicted_updates: int = 0  # what the owners knew they changed
    statuses: Counter[str] = field(default_factory=Counter)  # pushed events answered 2xx
    latency: Counter[tuple[str, str]] = field(default_factory=Counter)  # (endpoint, le)
    latency_sum: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    events_sent: int = 0  # valid events whose request went out, answered or not
    events_accepted: int = 0

    def store(self, observations: Iterable[Observation], answer: dict[str, int]) -> None:
        """Apply an accepted summary."""
        for obs in observations:
            self.observations[_key(obs)] = obs.usage
        for outcome in ("inserted", "updated", "duplicates"):
            self.outcomes[outcome] += answer[outcome]

    def count(self, events: list[dict[str, object]]) -> None:
        """Apply accepted push events."""
        for event in events:
            endpoint, seconds = str(event["endpoint"]), float(event["time"])  # type: ignore[arg-type]
            self.statuses[str(event["status"])] += 1
            self.latency[(endpoint, _le(seconds))] += 1
            self.latency_sum[endpoint] += seconds
        self.events_accepted += len(events)

    def series(self) -> Counter[tuple[str, str, str]]:
        """Return the number of observations per (team, resource, dimension)."""
        return Counter(key[:3] for key in self.observations)


@dataclass
class Load:
    """The clients' shared state: the model, every answer, every problem, latencies."""

    client: httpx.AsyncClient
    deadline: float
    model: Model = field(default_factory=Model)
    answers: Counter[tuple[str, int | str]] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    def running(self) -> bool:
        return time.monotonic() < self.deadline and len(self.problems) < 20

    async def call(
        self, kind: str, expect: int, method: str, path: str, **kwargs: object
    ) -> httpx.Response | None:
        """Send one request; return the answer if it has the expected status, else None."""
        started = time.perf_counter()
        try:
            response = await self.client.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.answers[(kind, "transport error")] += 1
            self.problems.append(f"{kind} {method} {path}: {exc!r}")
            return None
        elapsed = time.perf_counter() - started
        self.answers[(kind, response.status_code)] += 1
        self.latencies.setdefault(kind, []).append(elapsed)
        if kind == "read":
            self.latencies.setdefault(f"read {path}", []).append(elapsed)
        if response.status_code != expect:
            self.problems.append(
                f"{kind} {method} {path}: {response.status_code} (expected {expect}) "
                f"{response.text[:300]}"
            )
            return None
        return response


async def shared_ingester(load: Load, index: int) -> None:
    """Send windows of the shared branch that overlap other clients' (equal values)."""
    rng = random.Random(f"soak-shared-{index}")
    step = 0
    while load.running():
        step += 1
        if step % 15 == 0:  # hours no valid payload holds, then a bad record: refused whole
            observations = _window(SHARED_BRANCH, 100_000 + rng.randrange(1000))
            body = render_summary(observations) + "$soak|(X,CPU,2026-06-01 00:00:00,101)"
            await load.call("ingest", 422, "POST", "/api/v1/usage", content=body.encode())
            continue
        observations = _window(SHARED_BRANCH, rng.randint(max(0, step - 8), step))
        response = await load.call(
            "ingest", 200, "POST", "/api/v1/usage", **_body(observations, rng.random() < 0.25)
        )
        if response is None:
            return  # what is stored is no longer known
        answer = response.json()
        stored = answer["inserted"] + answer["duplicates"]
        if answer["updated"] != 0 or stored != len(observations):
            load.problems.append(f"shared ingest of {len(observations)} answered {answer}")
        load.model.store(observations, answer)


async def owner_ingester(load: Load, branch: int) -> None:
    """Alone write a branch: resend hours with some values changed; predict each answer."""
    rng = random.Random(f"soak-owner-{branch}")
    step = 0
    while load.running():
        step += 1
        observations = []
        predicted = Counter({"inserted": 0, "updated": 0, "duplicates": 0})
        for obs in _window(branch, rng.randint(max(0, step - 6), step)):
            stored = load.model.observations.get(_key(obs))
            usage = obs.usage if stored is None else stored
            if rng.random() < 0.25:
                usage = float(rng.randint(0, 100))
            if stored is None:
                predicted["inserted"] += 1
            else:
                predicted["updated" if usage != stored else "duplicates"] += 1
            observations.append(dataclasses.replace(obs, usage=usage))
        response = await load.call(
            "ingest", 200, "POST", "/api/v1/usage", **_body(observations, step % 3 == 0)
        )
        if response is None:
            return
        answer = response.json()
        if {k: answer[k] for k in predicted} != predicted:
            load.problems.append(f"branch {branch} step {step}: {answer}, expected {predicted}")
        load.model.predicted_updates += predicted["updated"]
        load.model.store(observations, answer)


async def pusher(load: Load, index: int) -> None:
    """Push single events and small lists; now and then one with a bad event (refused)."""
    rng = random.Random(f"soak-pusher-{index}")
    step = 0
    while load.running():
        step += 1
        events: list[dict[str, object]] = [
            {
                "status": rng.choice([200, 201, 202, 404, 500, 503]),
                "endpoint": rng.choice(ENDPOINTS),
                "time": rng.choice([*BOUNDS, 0, round(rng.uniform(0, 12), 3)]),
            }
            for _ in range(rng.choice([1, 1, 1, 2, 3, 5]))
        ]
        if step % 20 == 0:
            events[-1] = {**events[-1], "time": -1}
            await load.call("push", 422, "POST", "/metric-receiver", json=events)
            continue
        load.model.events_sent += len(events)
        body = events[0] if len(events) == 1 and rng.random() < 0.7 else events
        response = await load.call("push", 200, "POST", "/metric-receiver", json=body)
        if response is None:
            return  # whether these were counted is no longer known
        if response.json() != {"accepted": len(events)}:
            load.problems.append(f"push of {len(events)} answered {response.text}")
        load.model.count(events)


async def reader(load: Load, index: int) -> None:
    """Read the API; the observations a client sees never go back in time."""
    rng = random.Random(f"soak-reader-{index}")
    seen = 0
    while load.running():
        path = rng.choice(READS)
        response = await load.call("read", 200, "GET", path)
        if response is None or path != ALL_ROWS:
            continue
        rows = response.json()
        count = sum(row["count"] for row in rows["items"])
        if count < seen or rows["total"] != len(rows["items"]):
            load.problems.append(
                f"reader {index}: {count} observations after {seen}, {rows['total']=}"
            )
        seen = max(seen, count)


async def scraper(load: Load) -> None:
    """Scrape: a scrape shows at least what was answered before it, pushes no more than sent."""
    while load.running():
        stored, accepted = len(load.model.observations), load.model.events_accepted
        response = await load.call("scrape", 200, "GET", "/metrics")
        if response is None:
            continue
        counted = _total(response.text, "usagelens_resource_usage_percent_count{")
        pushed = _total(response.text, "http_service_requests_total{")
        if counted < stored or not accepted <= pushed <= load.model.events_sent:
            load.problems.append(
                f"scrape: {counted} observations (≥ {stored} answered), {pushed} events "
                f"(answered {accepted}, sent {load.model.events_sent})"
            )
        await asyncio.sleep(0.2)


def _total(exposition: str, prefix: str) -> float:
    """Sum the samples whose line starts with prefix (cheap: no full parse mid-load)."""
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in exposition.splitlines() if line.startswith(prefix)
    )


async def _run(url: str) -> Load:
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=120, limits=limits) as client:
        load = Load(client, time.monotonic() + SECONDS)
        await asyncio.gather(
            *(shared_ingester(load, i) for i in range(3)),
            *(owner_ingester(load, branch) for branch in OWNED_BRANCHES),
            *(pusher(load, i) for i in range(2)),
            *(reader(load, i) for i in range(3)),
            scraper(load),
        )
    return load


def _stored(database_url: str) -> dict[Key, float]:
    import psycopg

    sql = (
        "SELECT s.team, s.resource, s.dimension, o.t, o.usage"
        " FROM observations o JOIN series s ON s.id = o.series_id"
    )
    with psycopg.connect(database_url) as connection:
        return {(t, r, d, at): usage for t, r, d, at, usage in connection.execute(sql)}


def _differences(expected: dict[Key, float], actual: dict[Key, float]) -> str:
    missing = expected.keys() - actual.keys()
    extra = actual.keys() - expected.keys()
    wrong = [k for k in expected.keys() & actual.keys() if expected[k] != actual[k]]
    return (
        f"{len(missing)} missing (e.g. {sorted(missing)[:3]}), {len(extra)} extra "
        f"(e.g. {sorted(extra)[:3]}), {len(wrong)} with another value "
        f"(e.g. {[(k, expected[k], actual[k]) for k in sorted(wrong)[:3]]})"
    )


def _figures(load: Load, elapsed: float) -> dict[str, object]:
    def quantiles(values: list[float]) -> dict[str, float]:
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return {"p50_ms": round(cuts[49] * 1000, 1), "p99_ms": round(cuts[98] * 1000, 1)}

    return {
        "seconds": round(elapsed, 1),
        "answers": {f"{kind} {status}": n for (kind, status), n in sorted(load.answers.items())},
        "latency": {
            kind: {"requests": len(values), **quantiles(values)}
            for kind, values in sorted(load.latencies.items())
            if len(values) >= 2
        },
        "observations_stored": len(load.model.observations),
        "ingest_outcomes": dict(load.model.outcomes),
        "events_accepted": load.model.events_accepted,
    }


def _histograms(samples: dict, name: str) -> dict[tuple[str, ...], dict[object, object]]:  # type: ignore[type-arg]
    """Return {label values but le: {"count" | "sum" | le as a float: value}} of a histogram."""
    out: dict[tuple[str, ...], dict[object, object]] = {}
    for (sample, labels), value in samples.items():
        if sample.startswith(name + "_"):
            label = dict(labels)
            part = float(label.pop("le")) if "le" in label else sample.rsplit("_", 1)[1]
            out.setdefault(tuple(v for _, v in sorted(label.items())), {})[part] = value
    return out


def _expected_histograms(
    observations: dict[Key, float],
) -> dict[tuple[str, ...], dict[object, object]]:
    """Return what SPEC 4 says the usage histogram of each series holds (halves round up)."""
    by_series: dict[tuple[str, ...], list[float]] = {}
    for (team, resource, dimension, _), usage in observations.items():
        by_series.setdefault((dimension, resource, team), []).append(usage)
    out: dict[tuple[str, ...], dict[object, object]] = {}
    for series, usages in by_series.items():
        rounded = Counter((u + 5) // 10 * 10 for u in usages)
        buckets: dict[object, object] = {
            float(b): sum(n for r, n in rounded.items() if r <= b) for b in range(0, 101, 10)
        }
        out[series] = {
            "count": len(usages),
            "sum": sum(usages),
            **buckets,
            float("inf"): len(usages),
        }
    return out


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.heavy
def test_soak_mixed_load_stays_exact(
    start_server: Callable[..., Server],
    postgres_url: str,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    server = start_server(
        {"USAGELENS_API_TOKEN": TOKEN, "USAGELENS_DATABASE_URL": postgres_url}, workers=4
    )
    branches = (SHARED_BRANCH, *OWNED_BRANCHES)
    keys = [{(s.team, s.resource, s.dimension) for s in company(b).series} for b in branches]
    assert len(set().union(*keys)) == sum(map(len, keys))  # the branches share no series
    prices = {
        resource: {dimension.value: price for dimension, price in by_dimension.items()}
        for branch in branches
        for resource, by_dimension in company(branch).prices.items()
    }
    put = httpx.put(server.url + "/api/v1/prices", json={"values": prices}, headers=AUTH)
    assert put.is_success, put.text

    started = time.monotonic()
    load = asyncio.run(_run(server.url))
    figures = _figures(load, time.monotonic() - started)
    print(f"\nsoak figures: {json.dumps(figures, indent=2)}")
    (tmp_path / "soak.json").write_text(json.dumps(figures, indent=2))
    record_property("soak", json.dumps(figures))

    failed = {k: n for k, n in load.answers.items() if not isinstance(k[1], int) or k[1] >= 500}
    assert not failed, load.answers
    assert not load.problems, "\n".join(load.problems)
    for kind in ("ingest", "push", "read", "scrape"):
        assert load.answers[(kind, 200)] > 0, (kind, load.answers)
    model = load.model

    # Observations: exactly the model's; each key inserted once, each change counted once.
    stored = _stored(postgres_url)
    assert stored == model.observations, _differences(model.observations, stored)
    assert model.outcomes["inserted"] == len(model.observations)
    assert model.outcomes["updated"] == model.predicted_updates
    samples = domain_samples(scrape(server.url))
    for _ in range(7):  # whichever worker answers, the same numbers
        assert domain_samples(scrape(server.url)) == samples

    def sample(name: str, **labels: str) -> float:
        return float(samples[(name, frozenset(labels.items()))])

    assert (
        sample("usagelens_ingest_batches_total", result="accepted") == load.answers[("ingest", 200)]
    )
    assert (
        sample("usagelens_ingest_batches_total", result="rejected") == load.answers[("ingest", 422)]
    )
    for outcome in ("inserted", "updated", "duplicate"):
        answered = model.outcomes["duplicates" if outcome == "duplicate" else outcome]
        assert sample("usagelens_ingested_observations_total", outcome=outcome) == answered
    usage = _histograms(samples, "usagelens_resource_usage_percent")
    expected = _expected_histograms(model.observations)
    assert {s: h["count"] for s, h in usage.items()} == {s: h["count"] for s, h in expected.items()}
    assert usage == expected

    # Pushes: every event answered 2xx counted once, nothing of a refused request.
    requests = {
        dict(labels)["status"]: value
        for (name, labels), value in samples.items()
        if name == "http_service_requests_total"
    }
    assert requests == model.statuses
    assert sample("usagelens_push_rejected_total") == load.answers[("push", 422)]
    latency = _histograms(samples, "http_service_latency_seconds")
    for endpoint in ENDPOINTS:
        frequencies = [model.latency[(endpoint, label)] for label in (*LABELS, "+Inf")]
        cumulative = [sum(frequencies[: i + 1]) for i in range(len(frequencies))]
        histogram: dict[object, object] = dict(
            zip([*BOUNDS, float("inf")], cumulative, strict=True)
        )
        histogram |= {"count": cumulative[-1], "sum": pytest.approx(model.latency_sum[endpoint])}
        assert latency[(endpoint,)] == histogram

    # The API's rows agree; the service answered no 5xx by its own count, logged no crash.
    rows = httpx.get(server.url + ALL_ROWS, timeout=60).json()["items"]
    assert {(r["team"], r["resource"], r["dimension"]): r["count"] for r in rows} == model.series()
    own = [
        dict(labels)
        for (name, labels) in scrape(server.url)
        if name == "usagelens_http_requests_total"
    ]
    assert own
    assert not [labels for labels in own if int(labels["status"]) >= 500]
    assert "Traceback" not in server.log.read_text()
