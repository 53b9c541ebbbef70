"""Benchmarks: how long the main paths take on the real sample (prints figures).

Run with ``make bench``. Not a test: nothing here passes or fails on time.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from prometheus_client import generate_latest

from usagelens.domain.model import Window
from usagelens.domain.report import render_html, render_text
from usagelens.domain.summary import parse_summary_bytes
from usagelens.exporter import build_registry
from usagelens.loadgen import Request, run_load
from usagelens.services import UsageLens
from usagelens.storage import SqlRepository, create_engine_for, migrate

DATA = Path(__file__).parents[1] / "tests" / "data"


def measure(name: str, action: Callable[[], object], repeat: int = 5) -> None:
    """Run an action a few times and print its median and best wall time."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    median, best = statistics.median(times) * 1000, min(times) * 1000
    print(f"{name:<48} median {median:8.1f} ms   best {best:8.1f} ms")


def main() -> None:
    summary = (DATA / "summary_1.txt").read_bytes()
    prices = (DATA / "prices_1.yaml").read_bytes()
    print(
        f"python {sys.version.split()[0]}; sample {len(summary) / 1024:.0f} KiB, 24000 observations"
    )
    measure("parse summary (text format)", lambda: parse_summary_bytes(summary))
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1000))

        def fresh_ingest() -> None:
            engine = create_engine_for(f"sqlite:///{tmp}/fresh-{next(counter)}.db")
            migrate(engine)
            UsageLens(SqlRepository(engine)).ingest_summary(summary, source="bench")
            engine.dispose()

        measure("ingest into a new SQLite file (+ migrate)", fresh_ingest)
        engine = create_engine_for(f"sqlite:///{tmp}/main.db")
        migrate(engine)
        service = UsageLens(SqlRepository(engine))
        service.ingest_summary(summary, source="bench")
        service.replace_prices(prices)
        measure(
            "re-ingest the same summary (all duplicates)",
            lambda: service.ingest_summary(summary, source="bench"),
        )
        measure("analytics rows (120), all time: from the snapshot", service.rows)
        window = Window(since=datetime(2026, 11, 20, tzinfo=UTC))
        measure("analytics rows (120), a window: from raw rows", lambda: service.rows(window))
        report = service.report()
        measure("render text report", lambda: render_text(report))
        measure("render HTML report", lambda: render_html(report))
        measure("rebuild the metrics snapshot (24000 obs)", service.rebuild_snapshot)
        registry, _ = build_registry(service.metrics_state, service.latency_bounds)
        measure("scrape: read snapshot + render /metrics", lambda: generate_latest(registry))
        event = json.dumps({"status": 202, "endpoint": "/process-finances", "time": 1.27}).encode()
        batch = json.dumps([json.loads(event)] * 100).encode()
        measure(
            "push: 100 single-event requests (SQLite)",
            lambda: [service.push(event) for _ in range(100)],
            repeat=3,
        )
        measure("push: one request of 100 events", lambda: service.push(batch))
        engine.dispose()
        http_benchmarks(f"sqlite:///{tmp}/main.db")


def http_benchmarks(database_url: str) -> None:
    """Serve the benchmark database with two workers and load it with ``usagelens load``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "USAGELENS_DATABASE_URL": database_url, "USAGELENS_API_TOKEN": "bench"}
    server = subprocess.Popen(
        [sys.executable, "-m", "usagelens", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        event = {"status": 202, "endpoint": "/process-finances", "time": 1.27}
        runs = [
            ("GET /api/v1/resources?limit=10", Request(f"{base}/api/v1/resources?limit=10"),
             500, 20),
            ("GET /api/v1/costs/deleted", Request(base + "/api/v1/costs/deleted"), 500, 20),
            ("GET /metrics", Request(base + "/metrics"), 200, 10),
            ("POST /metric-receiver (one event)", Request(base + "/metric-receiver", "POST",
             headers=[("X-Auth-Token", "bench")], json_body=event), 1000, 20),
        ]  # fmt: skip
        print("\nHTTP, 2 workers on SQLite, usagelens load:")
        for name, request, count, concurrency in runs:
            summary = asyncio.run(run_load(request, count=count, concurrency=concurrency))
            p50, p99 = summary.latency(0.5) * 1000, summary.latency(0.99) * 1000
            print(
                f"{name:<40} n={count:<5} c={concurrency:<3} {summary.throughput:7.0f} req/s"
                f"   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   {dict(summary.statuses)}"
            )
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    main()
