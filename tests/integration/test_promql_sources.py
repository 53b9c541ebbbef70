"""Prometheus-compatible sources against real servers: a Prometheus holding data written at
exact times, a VictoriaMetrics fed through its import API, and a Prometheus scraping a real
node_exporter. Data the team has not seen gives the same rows, money and /metrics as the
same data sent in the course's format; a later pull asks only for the steps since."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port, run_cli
from tests.tsdb import Prometheus, Sample, VictoriaMetrics, installed, sample_series
from usagelens.app import build
from usagelens.app.refresh import StoreTarget
from usagelens.exporter import render_data
from usagelens.pulls import pull_into
from usagelens.sources.promql import PromQLSource, mapping_from_document
from usagelens.storage import SqlStore, create_engine_for, migrate

QUERIES = {d: f'usage{{dimension="{d}"}}' for d in ("CPU", "RAM", "NetFlow")}


def _mapping_file(folder: Path, since: datetime, **changes: object) -> Path:
    """A mapping of the test data's labels whose first pull reaches back to ``since``."""
    lookback = datetime.now(UTC) - since + timedelta(days=1)
    document = {
        "step": "1h",
        "lookback": f"{int(lookback.total_seconds())}s",
        "team_label": "team",
        "resource_label": "resource",
        "queries": QUERIES,
        **changes,
    }
    path = folder / "promql.yaml"
    path.write_text(json.dumps(document))
    return path


def _cli(args: list[str]) -> tuple[int, str, str]:
    """Run the command line in this process; return its exit code, stdout and stderr."""
    result = run_cli(*args)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(params=["prometheus", "victoria-metrics"])
def tsdb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Prometheus | VictoriaMetrics]:
    """A real Prometheus or VictoriaMetrics, started empty."""
    server = (
        Prometheus(tmp_path / "prom")
        if request.param == "prometheus"
        else VictoriaMetrics(tmp_path)
    )
    server.start()
    yield server
    server.stop()


def _report() -> dict:  # type: ignore[type-arg]
    """The report of USAGELENS_DATABASE_URL's store, its time of making left out."""
    code, out, err = _cli(["report", "--json"])
    assert code == 0, err
    document = json.loads(out)
    document.pop("generated_at")
    return document


def _spans(report: dict) -> dict:  # type: ignore[type-arg]
    """Take each row's evidence times out of a JSON report; return them by row."""
    spans = {}
    for team in report["teams"]:
        for row in team["rows"]:
            evidence = row["evidence"]
            first, last = evidence.pop("first_seen"), evidence.pop("last_seen")
            key = (row["team"], row["resource"], row["dimension"])
            spans[key] = (datetime.fromisoformat(first), datetime.fromisoformat(last))
    return spans


def _data_samples(url: str) -> dict:  # type: ignore[type-arg]
    """The data part of /metrics (the snapshot version left out) of a store."""
    engine = create_engine_for(url)
    try:
        view = build(SqlStore(engine)).queries.view()
    finally:
        engine.dispose()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(render_data(view).decode())
        for s in family.samples
        if s.name != "usagelens_snapshot_version"
    }


@pytest.mark.heavy
def test_a_pull_gives_what_the_summary_gives(
    tsdb: Prometheus | VictoriaMetrics, tmp_path: Path, sample_summary: bytes,
    sample_prices: bytes, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    samples = sample_series(sample_summary.decode())
    tsdb.add(samples)
    (tmp_path / "prices.yaml").write_bytes(sample_prices)
    (tmp_path / "summary.txt").write_bytes(sample_summary)
    first = min(at for *_, at, _ in samples)
    monkeypatch.setenv("USAGELENS_PROMQL_FILE", str(_mapping_file(tmp_path, first)))

    pulled, direct = (f"sqlite:///{tmp_path / name}" for name in ("pulled.db", "direct.db"))
    monkeypatch.setenv("USAGELENS_DATABASE_URL", pulled)
    code, out, err = _cli(["collect", "--source", tsdb.source])
    assert code == 0, err
    assert "24000 observations: 24000 inserted" in err and "1 of 1 pulls landed" in out
    assert _cli(["prices", str(tmp_path / "prices.yaml")])[0] == 0
    from_pull = _report()

    monkeypatch.setenv("USAGELENS_DATABASE_URL", direct)
    assert _cli(["ingest", str(tmp_path / "summary.txt")])[0] == 0
    assert _cli(["prices", str(tmp_path / "prices.yaml")])[0] == 0
    from_summary = _report()
    # The evidence's times are where the observations were stored: a pull stores them at the
    # step's times (the TSDB's alignment), the summary at its own seconds; within one step.
    pulled_spans, summary_spans = _spans(from_pull), _spans(from_summary)
    assert pulled_spans.keys() == summary_spans.keys()
    for key, (first, last) in pulled_spans.items():
        assert abs(first - summary_spans[key][0]) < timedelta(hours=1), key
        assert abs(last - summary_spans[key][1]) < timedelta(hours=1), key
    assert from_pull == from_summary
    assert _data_samples(pulled) == _data_samples(direct)

    # A PromQL source brings usage only: a refresh of it leaves every price list alone.
    monkeypatch.setenv("USAGELENS_DATABASE_URL", pulled)
    code, _, err = _cli(["collect", "--source", tsdb.source])
    assert code == 0 and "prices" not in err
    code, out, _ = _cli(["prices"])
    assert code == 0 and "SZY1417" in out


@pytest.mark.heavy
def test_a_later_pull_asks_only_for_the_steps_since(
    tsdb: Prometheus | VictoriaMetrics, tmp_path: Path, sample_summary: bytes
) -> None:
    samples = sample_series(sample_summary.decode())
    tsdb.add(samples)
    last = max(at for *_, at, _ in samples)
    mapping = mapping_from_document(
        {"step": "1h", "lookback": "30d", "team_label": "team", "resource_label": "resource",
         "queries": QUERIES}
    )  # fmt: skip
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_engine_for(url)
    migrate(engine)
    handlers = build(SqlStore(engine))

    def pull(now: datetime) -> str:
        async def run() -> str:
            async with httpx.AsyncClient() as client:
                source = PromQLSource(tsdb.source, client, mapping, clock=lambda: now)
                (outcome,) = await pull_into(
                    StoreTarget(handlers.refresh), [], [], range_sources=[source]
                )
            assert outcome.ok, outcome.detail
            return outcome.detail

        return asyncio.run(run())

    assert pull(last + timedelta(minutes=1)).startswith("24000 observations: 24000 inserted")
    series = {(t, r, d) for t, r, d, *_ in samples}
    later = [
        (t, r, d, last + timedelta(hours=h), 50.0) for t, r, d in sorted(series) for h in (1, 2)
    ]
    tsdb.add(later)
    # The last step stored is asked again (its 120 readings are duplicates), then the two
    # new hours; nothing of the 200 hours before is asked again.
    detail = pull(last + timedelta(hours=2, minutes=1))
    assert detail.startswith("360 observations: 240 inserted, 0 updated, 120 duplicates"), detail
    counts = {(r.team, r.resource, r.dimension.value): r.count for r in handlers.queries.rows()}
    assert set(counts.values()) == {202}
    engine.dispose()


@pytest.mark.heavy
def test_node_exporter_scraped_by_prometheus_shows_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default queries over a real node_exporter: the host appears with three dimensions."""
    exporter_binary = installed("prometheus-node-exporter", "prometheus-node-exporter")
    port = free_port()
    import subprocess

    log = (tmp_path / "node.log").open("wb")
    exporter = subprocess.Popen(
        [exporter_binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log
    )
    config = (
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: node\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{port}']\n        labels: {{team: platform}}\n"
    )
    prometheus = Prometheus(tmp_path / "prom", config)
    prometheus.start()
    try:
        mapping = tmp_path / "promql.yaml"
        # the default node_exporter queries; a 2 s step: the newest step is whole sooner
        mapping.write_text("step: 2s\nlookback: 2m\n")
        monkeypatch.setenv("USAGELENS_PROMQL_FILE", str(mapping))
        monkeypatch.setenv("USAGELENS_DATABASE_URL", f"sqlite:///{tmp_path / 'node.db'}")
        rows: list[dict] = []  # type: ignore[type-arg]
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while datetime.now(UTC) < deadline:
            code, _, err = _cli(["collect", "--source", prometheus.source])
            assert code == 0, err
            rows = [r for team in _report()["teams"] for r in team["rows"]]
            if {r["dimension"] for r in rows} == {"CPU", "RAM", "NetFlow"}:
                break
            asyncio.run(asyncio.sleep(1))
        assert {(r["team"], r["resource"]) for r in rows} == {("platform", f"127.0.0.1:{port}")}
        assert {r["dimension"] for r in rows} == {"CPU", "RAM", "NetFlow"}
        assert all(0 <= r["mean"] <= 100 for r in rows)
    finally:
        prometheus.stop()
        exporter.terminate()
        exporter.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def prometheus_with_sample(
    tmp_path_factory: pytest.TempPathFactory, sample_summary: bytes
) -> Iterator[tuple[Prometheus, list[Sample]]]:
    """One Prometheus holding the sample as series, for the tests that only read it."""
    samples = sample_series(sample_summary.decode())
    server = Prometheus(tmp_path_factory.mktemp("prom-sample") / "prom")
    server.add(samples)
    server.start()
    yield server, samples
    server.stop()


def test_bad_promql_fails_that_pull_with_prometheus_words_and_others_go_on(
    prometheus_with_sample: tuple[Prometheus, list[Sample]], simulator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    server, samples = prometheus_with_sample
    first = min(at for *_, at, _ in samples)
    mapping = _mapping_file(tmp_path, first, queries={"CPU": 'usage{dimension="CPU"'})
    monkeypatch.setenv("USAGELENS_PROMQL_FILE", str(mapping))
    monkeypatch.setenv("USAGELENS_DATABASE_URL", f"sqlite:///{tmp_path / 'bad.db'}")
    code, out, err = _cli(
        ["collect", "--source", server.source, "--source", simulator.url, "--branch", "1"]
    )
    assert code == 1 and "2 of 3 pulls landed" in out, (out, err)
    failed = [line for line in err.splitlines() if "failed" in line]
    assert len(failed) == 1 and server.source in failed[0]
    assert "answered HTTP 400: bad_data" in failed[0] and "parse error" in failed[0]
    assert "branch 1: " in err and "inserted" in err  # the simulator's branch landed


def test_missing_labels_and_values_out_of_range_are_said_and_counted(
    prometheus_with_sample: tuple[Prometheus, list[Sample]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    server, samples = prometheus_with_sample
    first = min(at for *_, at, _ in samples)
    queries = {
        "CPU": 'usage{dimension="CPU"} * 2 - 50',  # below 0 and above 100 both happen
        "RAM": 'sum by (team) (usage{dimension="RAM"})',  # no resource label
    }
    monkeypatch.setenv(
        "USAGELENS_PROMQL_FILE", str(_mapping_file(tmp_path, first, queries=queries))
    )
    db = f"sqlite:///{tmp_path / 'odd.db'}"
    monkeypatch.setenv("USAGELENS_DATABASE_URL", db)
    code, _, err = _cli(["collect", "--source", server.source])
    assert code == 0, err
    cpu = [(u * 2 - 50) for _, _, d, _, u in samples if d == "CPU"]
    clamped = sum(1 for v in cpu if v < 0 or v > 100)
    assert "8000 observations: 8000 inserted" in err
    assert f"{clamped} values outside 0..100 clamped to it" in err
    assert "4 series skipped" in err and "RAM series {team=" in err and "no resource label" in err
    rows = [r for team in _report()["teams"] for r in team["rows"]]
    assert {r["dimension"] for r in rows} == {"CPU"}
    assert all(0 <= r["mean"] <= 100 for r in rows)
    counted = _data_samples_live(db)
    assert counted == clamped


def _data_samples_live(url: str) -> float:
    """usagelens_source_values_clamped_total of a store, as /metrics shows it."""
    from tests.conftest import InProcessClient, scrape
    from usagelens.api import create_app
    from usagelens.config import load_settings

    client = InProcessClient(create_app(load_settings(database_url=url)))
    try:
        return scrape(client)[("usagelens_source_values_clamped_total", frozenset())]
    finally:
        client.close()


class _Hostile(BaseHTTPRequestHandler):
    """A server that hangs on /hang and answers garbage elsewhere."""

    def do_GET(self) -> None:
        if "/hang/" in self.path:
            threading.Event().wait(30)
            return
        body = (
            b'{"status": "success", "data": {"resultType": "matrix", "result": [{"values": "x"}]}}'
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_hanging_or_garbled_server_fails_the_pull_in_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("USAGELENS_DATABASE_URL", f"sqlite:///{tmp_path / 'h.db'}")
        monkeypatch.setenv("USAGELENS_SOURCE_TIMEOUT", "2")
        monkeypatch.setenv("USAGELENS_SOURCE_RETRIES", "1")
        started = datetime.now(UTC)
        code, _, err = _cli(
            ["collect", "--source", f"prometheus+http://127.0.0.1:{port}/hang",
             "--source", f"prometheus+http://127.0.0.1:{port}/garbage"])  # fmt: skip
        took = (datetime.now(UTC) - started).total_seconds()
        assert code == 1 and took < 15, (took, err)
        assert "/hang" in err and "no complete answer within 2 s" in err
        assert "/garbage" in err and "not an answer of the Prometheus HTTP API" in err
    finally:
        server.shutdown()
        server.server_close()


def test_the_webhook_and_collect_url_pull_a_promql_source_from_the_servers_position(
    prometheus_with_sample: tuple[Prometheus, list[Sample]], start_server, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    prometheus, samples = prometheus_with_sample
    mapping = _mapping_file(tmp_path, min(at for *_, at, _ in samples))
    token = "promql-token"
    settings = {
        "USAGELENS_API_TOKEN": token,
        "USAGELENS_SOURCES": prometheus.source,
        "USAGELENS_PROMQL_FILE": str(mapping),
    }
    server = start_server(settings)
    auth = {"X-Auth-Token": token}
    answer = httpx.post(server.url + "/api/v1/webhooks/refresh", headers=auth, timeout=120)
    assert answer.status_code == 200, answer.text
    (pulled,) = answer.json()["pulls"]
    assert pulled["ok"] and pulled["detail"].startswith("24000 observations: 24000 inserted")
    assert httpx.get(server.url + "/api/v1/resources", timeout=30).json()["total"] == 120
    # collect --url reads the position the server keeps: nothing is pulled twice.
    monkeypatch.setenv("USAGELENS_API_TOKEN", token)
    monkeypatch.setenv("USAGELENS_PROMQL_FILE", str(mapping))
    code, _, err = _cli(["collect", "--source", prometheus.source, "--url", server.url])
    assert code == 0 and "no new rows" in err, err
    counts = httpx.get(server.url + "/api/v1/resources", params={"limit": 200}, timeout=30)
    assert {row["count"] for row in counts.json()["items"]} == {200}
