"""A real Prometheus server scrapes a live usagelens and answers PromQL with its numbers."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

TOKEN = "prom-token"
AUTH = {"X-Auth-Token": TOKEN}


@pytest.fixture
def prometheus(prometheus_binary: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    processes: list[subprocess.Popen[bytes]] = []
    logs = []

    def start(target: str) -> str:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: usagelens\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        log = (tmp_path / "prometheus.log").open("wb")
        logs.append(log)
        processes.append(
            subprocess.Popen(
                [
                    prometheus_binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError((tmp_path / "prometheus.log").read_text())

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=15)
    for log in logs:
        log.close()


def _query(url: str, promql: str) -> list[dict]:  # type: ignore[type-arg]
    answer = httpx.get(url + "/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def _wait_for(url: str, promql: str, expected: float, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        result = _query(url, promql)
        seen = float(result[0]["value"][1]) if result else None
        if seen == expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"{promql} = {seen}, expected {expected}")


@pytest.mark.heavy
def test_prometheus_scrapes_the_same_totals(
    start_server, prometheus, sample_summary: bytes, sample_prices: bytes
) -> None:  # type: ignore[no-untyped-def]
    server = start_server({"USAGELENS_API_TOKEN": TOKEN})
    httpx.post(
        server.url + "/api/v1/usage", content=sample_summary, headers=AUTH, timeout=60
    ).raise_for_status()
    httpx.put(
        server.url + "/api/v1/prices", content=sample_prices, headers=AUTH, timeout=60
    ).raise_for_status()
    events = [
        {"status": 202, "endpoint": "/process-finances", "time": t}
        for t in (0.01, 0.5, 1.27, 4, 11)
    ]
    httpx.post(server.url + "/metric-receiver", json=events, headers=AUTH).raise_for_status()

    url = prometheus(server.url.removeprefix("http://"))
    _wait_for(url, 'up{job="usagelens"}', 1)
    _wait_for(url, "sum(usagelens_resource_usage_percent_count)", 24000)
    _wait_for(url, "sum(usagelens_total_cost)", 33951)
    deleted = {
        r["metric"]["dimension"]: float(r["value"][1])
        for r in _query(url, "sum by (dimension) (usagelens_deleted_cost)")
    }
    assert deleted == {"CPU": 5344, "RAM": 2492, "NetFlow": 1443}
    # Frequency of a rounded value B: bucket{le=B} - bucket{le=B-10}.
    selector = 'team="envisioneer rich mindshare",resource="SZY1417",dimension="CPU"'
    at_20 = _query(
        url,
        f'usagelens_resource_usage_percent_bucket{{{selector},le="20"}} - ignoring(le) '
        f'usagelens_resource_usage_percent_bucket{{{selector},le="10"}}',
    )
    assert float(at_20[0]["value"][1]) == 19  # from the sample: 48 - 29
    assert float(_query(url, "sum(http_service_requests_total)")[0]["value"][1]) == 5
    on_bounds = {
        r["metric"]["le"]: float(r["value"][1])
        for r in _query(url, 'http_service_latency_seconds_bucket{endpoint="/process-finances"}')
    }
    assert on_bounds == {
        "0.01": 1,
        "0.5": 2,
        "1.0": 2,
        "2.0": 3,
        "3.0": 3,
        "4.0": 4,
        "10.0": 4,
        "+Inf": 5,
    }
    p90 = _query(
        url, "histogram_quantile(0.9, sum by (le, team) (usagelens_resource_usage_percent_bucket))"
    )
    assert len(p90) == 4 and all(0 <= float(r["value"][1]) <= 100 for r in p90)
    _every_grafana_query_answers(url)


GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"


def _every_grafana_query_answers(url: str) -> None:
    """Every PromQL expression of the example Grafana dashboard (its variables set to
    "all") evaluates without error and returns data on the real Prometheus."""
    dashboard = json.loads(GRAFANA.read_text())
    variables = {"$__rate_interval": "30s", "$team": ".*", "$resource": ".*"}
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]] + [
        v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"
    ]
    assert len(queries) > 10
    deadline = time.monotonic() + 60
    for expr in queries:
        for name, value in variables.items():
            expr = expr.replace(name, value)
        if expr.startswith("label_values("):
            metric, _, label = expr.removeprefix("label_values(").removesuffix(")").rpartition(", ")
            answer = httpx.get(
                f"{url}/api/v1/label/{label}/values", params={"match[]": metric}, timeout=10
            ).json()
            assert answer["status"] == "success" and answer["data"], (expr, answer)
            continue
        while not (result := _query(url, expr)) and time.monotonic() < deadline:
            time.sleep(0.5)  # a rate needs two scrapes inside its range
        assert result, f"no data for {expr}"
