"""/metrics and /metric-receiver: exact numbers, promtool, gzip, persistence across restarts.

In-process on a real SQLite file, and on a real server where a restart matters.
"""

from __future__ import annotations

import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest

from tests import independent
from tests.conftest import domain_samples, scrape, store_content

TOKEN = "metrics-token"
AUTH = {"X-Auth-Token": TOKEN}
ENV = {"USAGELENS_API_TOKEN": TOKEN, "USAGELENS_PUSH_MAX_ENDPOINTS": "3"}
SETTINGS = {"api_token": TOKEN, "push_max_endpoints": 3}


def _rounded(usage: float) -> int:
    # Independent of usagelens: Decimal-free halves-up rounding of integers and floats.
    return int(usage // 10 * 10 + (10 if usage % 10 >= 5 else 0))


def test_usage_histogram_matches_spec_on_the_sample(
    app_client, sample_summary: bytes, promtool: str
) -> None:  # type: ignore[no-untyped-def]
    client = app_client(**SETTINGS)
    client.post("/api/v1/usage", content=sample_summary, headers=AUTH).raise_for_status()
    samples = scrape(client)
    series = independent.parse(sample_summary.decode())
    assert len(series) == 120
    for (team, resource, dimension), by_time in series.items():
        labels = {"team": team, "resource": resource, "dimension": dimension}
        frequency = Counter(_rounded(u) for u in by_time.values())
        running = 0
        for bound in range(0, 101, 10):
            running += frequency[bound]
            key = (
                "usagelens_resource_usage_percent_bucket",
                frozenset({**labels, "le": str(bound)}.items()),
            )
            assert samples[key] == running, (labels, bound)
        inf = (
            "usagelens_resource_usage_percent_bucket",
            frozenset({**labels, "le": "+Inf"}.items()),
        )
        assert samples[inf] == len(by_time)
        assert samples[
            ("usagelens_resource_usage_percent_count", frozenset(labels.items()))
        ] == len(by_time)
        assert samples[("usagelens_resource_usage_percent_sum", frozenset(labels.items()))] == sum(
            by_time.values()
        )
    inserted = ("usagelens_ingested_observations_total", frozenset({("outcome", "inserted")}))
    assert samples[inserted] == 24000

    text = client.get("/metrics").text
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr

    openmetrics = client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


def test_money_gauges(app_client, sample_summary: bytes, sample_prices: bytes) -> None:  # type: ignore[no-untyped-def]
    client = app_client(**SETTINGS)
    client.post("/api/v1/usage", content=sample_summary, headers=AUTH)
    before = scrape(client)
    assert not any(n == "usagelens_resource_cost" for n, _ in before)
    client.put("/api/v1/prices", content=sample_prices, headers=AUTH)
    samples = scrape(client)  # a new data version: the data part is rendered again
    deleted = defaultdict(float)
    for (name, labels), value in samples.items():
        if name == "usagelens_deleted_cost":
            deleted[dict(labels)["dimension"]] += value
    assert deleted == {"CPU": 5344, "RAM": 2492, "NetFlow": 1443}
    totals = sum(v for (n, _), v in samples.items() if n == "usagelens_total_cost")
    assert totals == 33951
    costs = sum(v for (n, _), v in samples.items() if n == "usagelens_resource_cost")
    assert costs == 33951
    decisions = {
        dict(labels)["decision"]: v
        for (n, labels), v in samples.items()
        if n == "usagelens_decisions"
    }
    assert decisions == {"keep": 85, "delete": 34, "extend": 1}


def test_pushed_events_come_out_exactly_and_survive_a_restart(
    start_server, promtool: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    server = start_server(ENV)
    events = [
        {"status": 202, "endpoint": "/process-finances", "time": 1.27},
        {"status": 202, "endpoint": "/process-finances", "time": 0.01},  # on a bound
        {"status": 200, "endpoint": "/process-finances", "time": 2},  # on a bound
        {"status": 500, "endpoint": "/login", "time": 10},  # on the last bound
        {"status": 503, "endpoint": "/login", "time": 10.5},  # past every bound
        {"status": 200, "endpoint": "/health", "time": 0},
    ]
    response = httpx.post(server.url + "/metric-receiver", json=events[0], headers=AUTH)
    assert response.json() == {"accepted": 1}
    assert httpx.post(server.url + "/metric-receiver", json=events[1:], headers=AUTH).json() == {
        "accepted": 5
    }

    # Malformed: 4xx problem, and nothing of that request is counted.
    database = f"sqlite:///{tmp_path / 'api.db'}"  # start_server's
    stored = store_content(database)
    for bad in (
        [
            {"status": 200, "endpoint": "/login", "time": 1},
            {"status": 700, "endpoint": "/x", "time": 1},
        ],
        {"status": 200, "endpoint": "", "time": 1},
        {"status": 200, "endpoint": "/x", "time": -1},
        b"{not json",
    ):
        kwargs = {"content": bad} if isinstance(bad, bytes) else {"json": bad}
        refused = httpx.post(server.url + "/metric-receiver", headers=AUTH, **kwargs)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert httpx.post(server.url + "/metric-receiver", json=events[0]).status_code == 401
    assert store_content(database) == stored

    def check(samples: dict) -> None:  # type: ignore[type-arg]
        requests = {
            dict(labels)["status"]: v
            for (n, labels), v in samples.items()
            if n == "http_service_requests_total"
        }
        assert requests == {"200": 2, "202": 2, "500": 1, "503": 1}
        buckets = {
            (dict(labels)["endpoint"], dict(labels)["le"]): v
            for (n, labels), v in samples.items()
            if n == "http_service_latency_seconds_bucket"
        }
        assert [
            buckets[("/process-finances", le)]
            for le in ("0.01", "0.5", "1.0", "2.0", "3.0", "4.0", "10.0", "+Inf")
        ] == [1, 1, 1, 3, 3, 3, 3, 3]
        assert [buckets[("/login", le)] for le in ("4.0", "10.0", "+Inf")] == [0, 1, 2]
        assert buckets[("/health", "0.01")] == 1
        sums = {
            dict(labels)["endpoint"]: v
            for (n, labels), v in samples.items()
            if n == "http_service_latency_seconds_sum"
        }
        assert sums["/process-finances"] == pytest.approx(3.28)
        assert sums["/login"] == pytest.approx(20.5)
        rejected = samples[("usagelens_push_rejected_total", frozenset())]
        assert rejected == 4

    check(scrape(server.url))
    server.stop()
    check(scrape(start_server(ENV).url))


def test_endpoint_cardinality_is_capped(app_client) -> None:  # type: ignore[no-untyped-def]
    client = app_client(**SETTINGS)  # at most 3 distinct endpoints
    events = [{"status": 200, "endpoint": f"/e{i}", "time": 0.2} for i in range(6)]
    events.append({"status": 200, "endpoint": "/e1", "time": 0.2})
    assert client.post("/metric-receiver", json=events, headers=AUTH).status_code == 200
    samples = scrape(client)
    counts = {
        dict(labels)["endpoint"]: v
        for (n, labels), v in samples.items()
        if n == "http_service_latency_seconds_count"
    }
    assert counts == {"/e0": 1, "/e1": 2, "/e2": 1, "other": 3}
    assert samples[("usagelens_push_endpoint_overflow_total", frozenset())] == 3


def test_own_request_metrics_use_route_templates(app_client) -> None:  # type: ignore[no-untyped-def]
    client = app_client(**SETTINGS)
    client.get("/api/v1/resources", params={"team": "x"})
    client.get("/no/such/path/123")
    samples = scrape(client)
    routes = {
        dict(labels)["route"]
        for (n, labels), _ in samples.items()
        if n == "usagelens_http_requests_total"
    }
    assert "/api/v1/resources" in routes and "unmatched" in routes
    assert not any("123" in r for r in routes)


def test_gzip_scrape_equals_the_plain_one(app_client, sample_summary: bytes) -> None:  # type: ignore[no-untyped-def]
    client = app_client(**SETTINGS)
    client.post("/api/v1/usage", content=sample_summary, headers=AUTH)
    for _ in range(2):  # the second comes from the cached rendering
        raw = client.get("/metrics", headers={"Accept-Encoding": "gzip"})
        assert raw.headers["content-encoding"] == "gzip"
        plain = client.get("/metrics", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert int(plain.headers["content-length"]) == len(plain.content)  # inflated lazily
        assert domain_samples(_parse(raw.text)) == domain_samples(_parse(plain.text))
        assert len(raw.content) > 100_000  # httpx decoded it: the whole exposition


def test_names_with_percent_signs_quotes_and_backslashes_come_out_exact(app_client) -> None:  # type: ignore[no-untyped-def]
    """Label values are escaped for the exposition and filled into %-templates: a ``%``,
    ``"`` or ``\\`` in a name must reach the scraper as it was sent."""
    client = app_client(**SETTINGS)
    team, resource = "ops%d 100%", 'db "main" \\ 50%s'
    body = f"{team}|({resource},CPU,2026-11-19 10:00:00,35);({resource},CPU,2026-11-19 11:00:00,5)"
    assert client.post("/api/v1/usage", content=body.encode(), headers=AUTH).status_code == 200
    client.put(
        "/api/v1/prices", content=b"{}", headers={"Content-Type": "application/json", **AUTH}
    )
    for accept in ("identity", "gzip"):
        samples = _parse(client.get("/metrics", headers={"Accept-Encoding": accept}).text)
        labels = frozenset({("team", team), ("resource", resource), ("dimension", "CPU")})
        usage = "usagelens_resource_usage_percent"
        assert samples[(f"{usage}_count", labels)] == 2
        assert samples[(f"{usage}_sum", labels)] == 40
        assert samples[(f"{usage}_bucket", labels | {("le", "30")})] == 1  # 5 → 10; 35 → 40
        decided = {
            ("usagelens_resource_decision", labels | {("decision", d)})
            for d in ("delete", "keep", "extend")
        }
        assert decided <= samples.keys()


def test_a_scrape_after_each_write_equals_a_fresh_rendering(app_client) -> None:  # type: ignore[no-untyped-def]
    """The blocks kept from the last scrape are re-used only where nothing changed."""
    from datetime import UTC, datetime, timedelta

    from usagelens.app import build
    from usagelens.domain.summary import render_summary
    from usagelens.exporter import render_data
    from usagelens.simulator.data import company, price_list_yaml
    from usagelens.storage import SqlStore, create_engine_for

    end = datetime(2026, 3, 14, 15, tzinfo=UTC)
    client = app_client(**SETTINGS)
    branches = range(1, 9)  # 960 series: many blocks
    prices = price_list_yaml([company(b) for b in branches])
    client.put("/api/v1/prices", content=prices, headers=AUTH).raise_for_status()
    for branch in branches:
        body = render_summary(company(branch).observations(end)).encode()
        client.post("/api/v1/usage", content=body, headers=AUTH).raise_for_status()
    engine = create_engine_for(client.database_url)
    writes = [
        render_summary(company(3).observations(end + timedelta(hours=1), hours=1)),
        render_summary(company(9).observations(end, hours=5)),  # new teams join
        render_summary(company(5).observations(end - timedelta(hours=100), hours=3)),
    ]
    for write in [None, *writes]:
        if write is not None:
            client.post("/api/v1/usage", content=write.encode(), headers=AUTH).raise_for_status()
        plain = client.get("/metrics", headers={"Accept-Encoding": "identity"}).text
        zipped = client.get("/metrics", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        fresh = render_data(build(SqlStore(engine)).queries.view()).decode()
        assert plain.startswith(fresh) and zipped.text.startswith(fresh)
    engine.dispose()


def _parse(text: str) -> dict:  # type: ignore[type-arg]
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_worker_file_not_yet_sized_leaves_the_scrape_whole(
    app_client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """With several workers, one that has just created its metrics file (empty until it
    sizes it, or for good if it was killed then) must not turn a scrape into a 500."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    folder = tmp_path / "workers"
    folder.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    labels = {"route": "/healthz", "method": "GET", "status": "200"}
    other = MmapedDict(str(folder / "counter_4001.db"))  # a worker that answered 3 requests
    key = mmap_key("usagelens_http_requests", "usagelens_http_requests_total",
                   list(labels), list(labels.values()), "Requests.")  # fmt: skip
    other.write_value(key, 3.0, 0.0)
    other.close()
    (folder / "histogram_4002.db").touch()  # a worker between creating and sizing its file

    samples = scrape(app_client())
    assert samples[("usagelens_http_requests_total", frozenset(labels.items()))] == 3
    assert ("usagelens_snapshot_version", frozenset()) in samples


def test_a_scrape_can_ask_for_some_families_only(
    app_client, sample_summary: bytes, sample_prices: bytes, promtool: str
) -> None:  # type: ignore[no-untyped-def]
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    client = app_client(**SETTINGS)
    client.post("/api/v1/usage", content=sample_summary, headers=AUTH).raise_for_status()
    client.put("/api/v1/prices", content=sample_prices, headers=AUTH).raise_for_status()
    everything = scrape(client)
    chosen = ["usagelens_total_cost", "usagelens_ingested_observations_total",
              "usagelens_recommendation_money"]  # fmt: skip
    answer = client.get("/metrics", params={"family": chosen})
    assert answer.status_code == 200
    some = scrape_text(answer.text)
    names = {name for name, _ in some if not name.endswith("_created")}
    assert names == {"usagelens_total_cost", "usagelens_ingested_observations_total",
                     "usagelens_recommendation_money"}  # fmt: skip
    assert all(everything[key] == value for key, value in some.items() if "created" not in key[0])
    assert sum(v for (n, _), v in some.items() if n == "usagelens_total_cost") == 33951
    assert len(answer.content) * 50 < len(client.get("/metrics").content)  # the histograms left out
    check = subprocess.run(
        [promtool, "check", "metrics"], input=answer.text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr

    # OpenMetrics still ends with its EOF, live families chosen or not.
    for families in (chosen, ["usagelens_total_cost"]):
        openmetrics = client.get(
            "/metrics",
            params={"family": families},
            headers={"Accept": "application/openmetrics-text; version=1.0.0"},
        )
        assert openmetrics.text.endswith("# EOF\n")
        parsed = {f.name for f in text_string_to_metric_families(openmetrics.text)}
        assert "usagelens_total_cost" in parsed and "usagelens_resource_cost" not in parsed

    wrong = client.get("/metrics", params={"family": "usagelens_total_costs"})
    assert wrong.status_code == 400
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert "no metric family 'usagelens_total_costs'" in wrong.json()["detail"]


def scrape_text(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse an exposition in the text format into {(sample name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
