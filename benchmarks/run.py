"""Benchmarks: how long the main paths take on the real sample (prints figures).

Run with ``make bench``. Not a test: nothing here passes or fails on time.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import generate_latest

from usagelens.domain.model import Window
from usagelens.domain.report import render_html, render_text
from usagelens.domain.summary import parse_summary_bytes
from usagelens.exporter import build_registry
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


if __name__ == "__main__":
    main()
