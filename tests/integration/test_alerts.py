"""End to end: a real Prometheus scrapes a live usagelens and evaluates the example rules, and
a real Alertmanager (Debian package prometheus-alertmanager) routes the new-candidate alert
to a webhook receiver that the test runs."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests import independent
from tests.conftest import free_port
from tests.tsdb import installed, wait_ready

RULES = Path(__file__).resolve().parents[2] / "deploy" / "usagelens-rules.yml"
TOKEN = "alert-token"
CANDIDATES = 'usagelens_recommendations_enough_data{state="active",decision="delete"}'


class _Process:
    """A server binary on loopback, its output in a log file, stopped at the end."""

    def __init__(self, args: list[str], log: Path, ready: str) -> None:
        self._out = log.open("wb")
        self.process = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT)
        wait_ready(ready, self.process, log)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._out.close()


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[dict]]]:  # type: ignore[type-arg]
    """A webhook receiver: every JSON body Alertmanager posts lands in the queue."""
    bodies: queue.Queue[dict] = queue.Queue()  # type: ignore[type-arg]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            bodies.put(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", bodies
    server.shutdown()
    server.server_close()


def _alertmanager(folder: Path, webhook: str) -> tuple[str, _Process]:
    binary = installed("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    config = folder / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: hook\n  group_by: [alertname]\n"
        "  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n"
        f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: '{webhook}'\n"
        "        send_resolved: false\n"
    )
    url = f"http://127.0.0.1:{port}"
    process = _Process(
        [binary, f"--config.file={config}", f"--storage.path={folder / 'am-data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        folder / "alertmanager.log", url + "/-/ready",
    )  # fmt: skip
    return f"127.0.0.1:{port}", process


def _prometheus(folder: Path, target: str, alertmanager: str) -> tuple[str, _Process]:
    binary = installed("prometheus", "prometheus")
    port = free_port()
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: ['{RULES}']\n"
        f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{alertmanager}']\n"
        f"scrape_configs:\n  - job_name: usagelens\n    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    url = f"http://127.0.0.1:{port}"
    process = _Process(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        folder / "prometheus.log", url + "/-/ready",
    )  # fmt: skip
    return url, process


def _value(prometheus: str, promql: str) -> float | None:
    answer = httpx.get(prometheus + "/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _until(what: str, check, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (seen := check()) is not None:
            return seen
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.heavy
def test_alertmanager_receives_the_new_candidate_alert(
    start_server, receiver, tmp_path: Path, sample_summary: bytes
) -> None:  # type: ignore[no-untyped-def]
    webhook, bodies = receiver
    server = start_server({"USAGELENS_API_TOKEN": TOKEN})
    alertmanager, am_process = _alertmanager(tmp_path, webhook)
    prometheus, prom_process = _prometheus(
        tmp_path, server.url.removeprefix("http://"), alertmanager
    )
    try:
        # An empty store first: no candidates, no alert.
        _until("a scrape of the empty store", lambda: _value(prometheus, CANDIDATES) == 0 or None)
        httpx.post(
            server.url + "/api/v1/usage",
            content=sample_summary,
            headers={"X-Auth-Token": TOKEN},
            timeout=60,
        ).raise_for_status()
        expected = sum(
            row["decision"] == "delete" and row["count"] >= 24
            for row in independent.rows(independent.parse(sample_summary.decode()), {})
        )
        _until(
            "the candidates in Prometheus",
            lambda: _value(prometheus, CANDIDATES) == expected or None,
        )

        def new_candidate_alert() -> dict | None:  # type: ignore[type-arg]
            while True:
                try:
                    body = bodies.get(timeout=0.5)
                except queue.Empty:
                    return None
                for alert in body["alerts"]:
                    if alert["labels"]["alertname"] == "UsagelensNewDeleteCandidates":
                        return alert  # type: ignore[no-any-return]

        alert = _until("the alert at the webhook", new_candidate_alert, timeout=90)
        assert alert["status"] == "firing"
        assert alert["labels"]["severity"] == "info"
        assert alert["annotations"]["summary"] == (
            f"new resources to delete, with enough data: {expected} active delete candidates now"
        )
    finally:
        prom_process.stop()
        am_process.stop()
