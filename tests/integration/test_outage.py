"""A database outage on a private PostgreSQL: 503 with Retry-After (never 500), /readyz
says so, pushes are refused rather than lost, and the service recovers by itself."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, missing_server, store_content

TOKEN = "outage-token"
AUTH = {"X-Auth-Token": TOKEN}


class PrivatePostgres:
    """A PostgreSQL server of the test's own: initdb into a temporary folder, own port."""

    def __init__(self, bin_dir: Path, data: Path, port: int) -> None:
        self.bin_dir, self.data, self.port = bin_dir, data, port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-l",
                  str(self.data / "log"), "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found or (os.geteuid() == 0 and shutil.which("runuser") is None):
        missing_server("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    folder = Path(tempfile.mkdtemp(prefix="usagelens-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    server = PrivatePostgres(Path(found[-1]).parent, folder / "data", free_port())
    server.init()
    server.start()
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
        server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _problem_503(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0


def test_outage_is_503_and_the_service_recovers(
    private_postgres: PrivatePostgres, start_server, sample_summary: bytes
) -> None:  # type: ignore[no-untyped-def]
    server = start_server(
        {"USAGELENS_DATABASE_URL": private_postgres.url, "USAGELENS_API_TOKEN": TOKEN}
    )
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post("/api/v1/usage", content=sample_summary, headers=AUTH).status_code == 200
        assert client.post("/metric-receiver", json={"status": 200, "endpoint": "/x", "time": 1},
                           headers=AUTH).status_code == 200  # fmt: skip
        before = store_content(private_postgres.url)

        private_postgres.stop()
        reads = ["/api/v1/costs/total", "/api/v1/costs/deleted", "/api/v1/resources", "/metrics",
                 "/api/v1/report", "/api/v1/prices", "/api/v1/refresh", "/", "/ui/rows",
                 "/ui/policy", "/api/v1/sources/position?source=t"]  # fmt: skip
        for path in reads:
            _problem_503(client.get(path))
        _problem_503(client.get("/readyz"))
        assert client.get("/healthz").status_code == 200  # alive, just not ready
        _problem_503(client.post("/api/v1/usage", content=sample_summary, headers=AUTH))
        refused = client.post(
            "/metric-receiver", json={"status": 500, "endpoint": "/x", "time": 2}, headers=AUTH
        )
        _problem_503(refused)
        _problem_503(client.put("/api/v1/prices", json={"values": {}}, headers=AUTH))
        _problem_503(client.post("/api/v1/policy/preview", content=b"intensity: {low: 40}"))

        private_postgres.start()
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert store_content(private_postgres.url) == before  # no refused write is stored
        assert client.post("/metric-receiver", json={"status": 200, "endpoint": "/x", "time": 1},
                           headers=AUTH).status_code == 200  # fmt: skip
        metrics = client.get("/metrics").text
        # The refused push was not counted; the two answered ones were.
        assert 'http_service_requests_total{status="200"} 2.0' in metrics
        assert 'status="500"' not in metrics


def test_an_outage_in_the_middle_of_traffic_loses_no_accepted_write(
    private_postgres: PrivatePostgres, start_server
) -> None:  # type: ignore[no-untyped-def]
    """Writers keep going while the database stops and comes back: every write answered
    200 is stored exactly once, every refused one (503) is absent, and nothing is a 500."""
    import threading
    from datetime import UTC, datetime, timedelta

    from usagelens.domain.summary import render_summary
    from usagelens.simulator.data import company

    server = start_server(
        {"USAGELENS_DATABASE_URL": private_postgres.url, "USAGELENS_API_TOKEN": TOKEN}
    )
    branch = company(1)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    statuses: list[int] = []
    accepted_hours: list[int] = []
    accepted_pushes = 0
    lock = threading.Lock()
    stop = threading.Event()

    def ingest(worker: int) -> None:
        hour = worker
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                end = start + timedelta(hours=hour)
                body = render_summary(branch.observations(end, hours=1)).encode()
                answer = client.post("/api/v1/usage", content=body, headers=AUTH)
                with lock:
                    statuses.append(answer.status_code)
                    if answer.status_code == 200:
                        accepted_hours.append(hour)
                hour += 3  # three writers, disjoint hours
                time.sleep(0.02)

    def push() -> None:
        nonlocal accepted_pushes
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                answer = client.post(
                    "/metric-receiver", json={"status": 201, "endpoint": "/y", "time": 0.1},
                    headers=AUTH,
                )  # fmt: skip
                with lock:
                    statuses.append(answer.status_code)
                    accepted_pushes += answer.status_code == 200
                time.sleep(0.01)

    threads = [threading.Thread(target=ingest, args=(w,)) for w in range(3)]
    threads.append(threading.Thread(target=push))
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    private_postgres.stop()
    time.sleep(2)
    private_postgres.start()
    time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert 503 in statuses and statuses.count(200) > 10  # the outage was seen, and the traffic
    with httpx.Client(base_url=server.url, timeout=30) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        rows = client.get("/api/v1/resources", params={"limit": 10000}).json()["items"]
        assert sum(r["count"] for r in rows) == 120 * len(set(accepted_hours))
        assert len(accepted_hours) == len(set(accepted_hours))
        metrics = client.get("/metrics").text
    assert f'http_service_requests_total{{status="201"}} {float(accepted_pushes)}' in metrics
