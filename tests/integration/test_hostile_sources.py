"""Monitoring sources that hang, trickle, answer gigabytes or garbage, on real sockets.

Each is cut off at a limit (the pull's deadline, the answer size) or refused by the
parser, reported as that pull's failure with the reason, and nothing of it is stored;
the good branch beside them lands, through the refresh webhook and through ``collect``.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import run_cli, scrape

SUMMARY = "/monitoring/infrastructure/using/summary/"
PRICES = "/monitoring/infrastructure/using/prices"
RECORDS = b"(r,CPU,2026-11-19 10:00:00,5);" * 2048
"""Well-formed records: an endless answer of them would parse if it were not cut off."""
BEHAVIOURS = {
    1: "good",
    2: "trickle body",
    3: "trickle headers",
    4: "huge Content-Length",
    5: "endless",
    6: "gzip bomb",
    7: "HTML error page",
    8: "bad UTF-8",
    9: "503",
}
BRANCHES = ",".join(map(str, BEHAVIOURS))
HTML = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>nginx</p></body></html>"
)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """48 MiB of records, gzipped to well under a megabyte."""
    return gzip.compress(b"t|" + RECORDS * (48 * 2**20 // len(RECORDS)), compresslevel=6)


class HostileSource:
    """Two sources on one loopback server: ``/a`` (branches as BEHAVIOURS, good prices)
    and ``/b`` (no branches, an HTML page for prices). Counts the requests of each path."""

    def __init__(self, summary: bytes, prices: bytes, bomb: bytes) -> None:
        self.hits: Counter[str] = Counter()
        self.stop = threading.Event()
        source = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 15  # a blocked write gives up rather than hang the test's teardown

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                source.hits[self.path] += 1
                # The client cutting us off is what should happen.
                with suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
                    source.answer(self, summary, prices, bomb)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self.thread.start()

    def answer(self, h: BaseHTTPRequestHandler, summary: bytes, prices: bytes, bomb: bytes) -> None:
        if h.path == "/a" + PRICES:
            return self.send(h, 200, prices)
        if h.path == "/b" + PRICES:
            return self.send(h, 200, HTML, content_type="text/html")
        if not h.path.startswith("/a" + SUMMARY):
            return self.send(h, 404, b"no such branch")
        behaviour = BEHAVIOURS.get(int(h.path.rsplit("/", 1)[1]))
        if behaviour == "good":
            self.send(h, 200, summary)
        elif behaviour == "trickle body":
            h.send_response(200)
            h.send_header("Content-Length", "1000")
            h.end_headers()
            for byte in (b"t|" + RECORDS)[:1000]:
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
                if self.stop.wait(1.0):
                    return
        elif behaviour == "trickle headers":
            for byte in b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n" * 20:
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
                if self.stop.wait(0.5):
                    return
        elif behaviour == "huge Content-Length":
            h.send_response(200)
            h.send_header("Content-Length", str(10 * 2**30))
            h.end_headers()
            self.endless(h, b"0" * 65536)
        elif behaviour == "endless":
            h.send_response(200)  # HTTP/1.0 without a length: the body ends when we close
            h.end_headers()
            h.wfile.write(b"t|")
            self.endless(h, RECORDS)
        elif behaviour == "gzip bomb":
            h.send_response(200)
            h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(bomb)))
            h.end_headers()
            h.wfile.write(bomb)
        elif behaviour == "HTML error page":
            self.send(h, 200, HTML, content_type="text/html")
        elif behaviour == "bad UTF-8":
            self.send(h, 200, b"\xff\xfe team|(r,CPU,2026-11-19 10:00:00,1)")
        else:
            self.send(h, 503, b"busy")

    def send(
        self, h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "text/plain"
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def endless(self, h: BaseHTTPRequestHandler, chunk: bytes) -> None:
        while not self.stop.is_set():
            h.wfile.write(chunk)

    def hits_of(self, branch: int) -> int:
        return self.hits["/a" + SUMMARY + str(branch)]

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()  # joins the handler threads
        self.thread.join()


@pytest.fixture
def hostile(sample_summary: bytes, sample_prices: bytes, bomb: bytes) -> Iterator[HostileSource]:
    source = HostileSource(sample_summary, sample_prices, bomb)
    try:
        yield source
    finally:
        source.close()


def _sample_teams(summary: bytes) -> set[str]:
    return {chunk.split("|", 1)[0] for chunk in summary.decode().strip().split("$")}


def _check_reasons(detail: dict[int, str], timeout: int, limit: int) -> None:
    within = f"no complete answer within {timeout} s"
    assert within in detail[2] and within in detail[3], detail
    assert f"10737418240 bytes (Content-Length) exceeds the limit of {limit} bytes" in detail[4]
    assert f"exceeds the limit of {limit} bytes" in detail[5] and "cut off" in detail[5]
    assert f"exceeds the limit of {limit} bytes" in detail[6] and "cut off" in detail[6]
    assert "refused, not a usage summary" in detail[7] and "<!DOCTYPE html>" in detail[7]
    assert "refused, not a usage summary: payload is not valid UTF-8" in detail[8]
    assert "answered HTTP 503" in detail[9]


def test_refresh_cuts_off_hostile_answers_reports_them_and_stores_only_the_good_branch(  # type: ignore[no-untyped-def]
    hostile: HostileSource, start_server, sample_summary: bytes
) -> None:
    good, bad_prices = hostile.url + "/a", hostile.url + "/b"
    limit = 2_000_000  # the good branch is 912,612 bytes
    server = start_server(
        {
            "USAGELENS_SOURCES": f"{good},{bad_prices}",
            "USAGELENS_BRANCHES": BRANCHES,
            "USAGELENS_SOURCE_TIMEOUT": "3",
            "USAGELENS_SOURCE_RETRIES": "3",
            "USAGELENS_SOURCE_MAX_BYTES": str(limit),
        }
    )
    with httpx.Client(base_url=server.url, timeout=120) as api:
        started = time.monotonic()
        answer = api.post("/api/v1/webhooks/refresh")
        elapsed = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pulls = {(p["source"], p["kind"], p["branch"]): p for p in body["pulls"]}
        assert (body["ok"], body["failed"]) == (2, 18), body
        assert pulls[(good, "usage", 1)]["ok"]
        assert pulls[(good, "usage", 1)]["batch"]["inserted"] == 24000
        assert pulls[(good, "prices", None)]["ok"]
        detail = {b: pulls[(good, "usage", b)]["detail"] for b in BEHAVIOURS}
        assert not any(pulls[(good, "usage", b)]["ok"] for b in BEHAVIOURS if b != 1)
        _check_reasons(detail, 3, limit)
        assert "after 3 tries" in detail[9]
        prices_b = pulls[(bad_prices, "prices", None)]
        assert not prices_b["ok"] and "refused, not a price list" in prices_b["detail"]
        # Trickles of one byte a second (1000 s in all) end at the 3 s deadline.
        assert elapsed < 10, elapsed

        # Only network errors and 5xx are asked again; a limit or garbage is final.
        assert hostile.hits_of(9) == 3
        assert all(hostile.hits_of(b) == 1 for b in BEHAVIOURS if b != 9), hostile.hits

        items = api.get("/api/v1/resources", params={"limit": 10000}).json()["items"]
        assert len(items) == 120
        assert {item["team"] for item in items} == _sample_teams(sample_summary)
        assert all(item["cost"] is not None for item in items)  # /a's prices, not /b's page
        samples = scrape(server.url)
        batches = "usagelens_ingest_batches_total"
        assert samples[(batches, frozenset({("result", "accepted")}))] == 1
        # The HTML page and the bad bytes are counted as POST /api/v1/usage counts them.
        assert samples[(batches, frozenset({("result", "rejected")}))] == 2
        observations = "usagelens_ingested_observations_total"
        assert samples[(observations, frozenset({("outcome", "inserted")}))] == 24000


def test_collect_reports_hostile_answers_and_keeps_only_the_good_branch(
    hostile: HostileSource, tmp_path: Path, sample_summary: bytes
) -> None:
    db = f"sqlite:///{tmp_path / 'collect.db'}"
    started = time.monotonic()
    result = run_cli(
        "collect", "--source", hostile.url + "/a",
        *(arg for b in BEHAVIOURS for arg in ("--branch", str(b))),
        "--timeout", "3", "--retries", "2",
        env={"USAGELENS_DATABASE_URL": db},
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "2 of 10 pulls landed" in result.stdout and "8 failed" in result.stdout
    lines = result.stderr.splitlines()
    detail = {b: next(line for line in lines if f"/a branch {b}: " in line) for b in BEHAVIOURS}
    assert detail[1].startswith("ok") and "24000 inserted" in detail[1]
    _check_reasons(detail, 3, 32 * 2**20)  # collect's size limit: the default, 32 MiB
    assert "after 2 tries" in detail[9] and hostile.hits_of(9) == 2
    assert elapsed < 15, elapsed

    report = run_cli("report", "--format", "json", env={"USAGELENS_DATABASE_URL": db})
    assert report.returncode == 0, report.stderr
    teams = json.loads(report.stdout)["teams"]
    assert sum(len(t["rows"]) for t in teams) == 120
    assert {t["team"] for t in teams} == _sample_teams(sample_summary)

    from usagelens.config import load_settings
    from usagelens.storage import create_engine_for
    from usagelens.wiring import handlers_for

    engine = create_engine_for(db)
    try:
        handlers = handlers_for(load_settings(database_url=db), engine)
        counters = handlers.queries.metrics_state().counters
    finally:
        engine.dispose()
    assert counters["batches_accepted"] == 1 and counters["batches_rejected"] == 2
