"""Signals: SIGTERM stops a server gracefully; SIGKILL in the middle of a write leaves
all of it or nothing.

Real ``usagelens serve`` and ``usagelens prune`` processes, real SQLite files. After each
SIGKILL the store is opened again and checked: every batch whole, every price list whole,
and every series' aggregate equal to what a rebuild from the raw observations gives.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import SIMULATOR_READY, Server, free_port
from usagelens.app import Handlers, build
from usagelens.domain.summary import render_summary
from usagelens.simulator.data import company
from usagelens.storage import SqlStore, create_engine_for, migrate

pytestmark = pytest.mark.slow

TOKEN = "signal-token"
AUTH = {"X-Auth-Token": TOKEN}


def _serve(tmp_path: Path, db: Path, name: str, workers: int = 1, **env: str) -> Server:
    settings = {
        "USAGELENS_DATABASE_URL": f"sqlite:///{db}",
        "USAGELENS_API_TOKEN": TOKEN,
        **env,
    }
    server = Server(
        ["serve", "--workers", str(workers)], settings, free_port(), tmp_path / f"{name}.log"
    )
    server.wait_ready("/healthz")
    return server


def _service(db: Path) -> Handlers:
    engine = create_engine_for(f"sqlite:///{db}")
    migrate(engine)
    return build(SqlStore(engine))


def _rows(service: Handlers) -> list[tuple]:  # type: ignore[type-arg]
    return [
        (r.team, r.resource, r.dimension, r.count, r.mean, r.median, r.decision, r.cost)
        for r in service.queries.rows()
    ]


def _assert_exact(db: Path) -> Handlers:
    """The stored aggregates are what a rebuild from the raw observations makes."""
    service = _service(db)
    before = _rows(service)
    service.maintenance.rebuild()
    assert _rows(service) == before
    return service


def _kill(server: Server) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=15)
    server.stop()


def test_sigterm_turns_readiness_false_finishes_in_flight_work_and_exits_0(
    tmp_path: Path, sample_summary: bytes
) -> None:
    db = tmp_path / "s.db"
    server = _serve(tmp_path, db, "term", USAGELENS_SHUTDOWN_DRAIN="2")
    chunks = [sample_summary[i : i + 50_000] for i in range(0, len(sample_summary), 50_000)]

    def slow_body() -> Iterator[bytes]:
        for chunk in chunks:
            time.sleep(2.5 / len(chunks))  # the upload takes ~2.5 s: in flight at SIGTERM
            yield chunk

    answers: list[httpx.Response] = []
    upload = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                server.url + "/api/v1/usage",
                content=slow_body(),
                headers={**AUTH, "Content-Type": "text/plain"},
                timeout=60,
            )
        )
    )
    upload.start()
    time.sleep(0.5)
    stopped_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    ready = httpx.get(server.url + "/readyz", timeout=5)
    assert ready.status_code == 503, ready.text
    assert ready.json()["type"].endswith("shutting-down") and "Retry-After" in ready.headers
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200  # still serving
    upload.join(timeout=60)
    assert answers and answers[0].status_code == 200, answers and answers[0].text
    assert answers[0].json()["inserted"] == 24000
    assert server.process.wait(timeout=30) == 0
    assert time.monotonic() - stopped_at < 20
    server.stop()
    assert "Traceback" not in server.log.read_text()
    assert _service(db).queries.view().stats and len(_service(db).queries.rows()) == 120


def test_sigterm_with_several_workers_exits_0(tmp_path: Path) -> None:
    server = _serve(tmp_path, tmp_path / "w.db", "workers", workers=2)
    assert httpx.get(server.url + "/readyz", timeout=5).status_code == 200
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 20
    server.stop()


def _price_document(resources: int, price: int) -> bytes:
    values = {f"R{i:06d}": {"CPU": price, "RAM": price, "NetFlow": price} for i in range(resources)}
    return json.dumps({"values": values}).encode()


@pytest.mark.heavy
def test_sigkill_during_a_price_replacement_leaves_the_old_list_or_the_new(
    tmp_path: Path,
) -> None:
    db = tmp_path / "p.db"
    server = _serve(tmp_path, db, "prices-0")
    small = httpx.put(
        server.url + "/api/v1/prices", content=_price_document(10, 1), headers=AUTH, timeout=30
    )
    assert small.status_code == 200
    big = _price_document(60_000, 2)
    started = time.monotonic()
    assert httpx.put(server.url + "/api/v1/prices", content=big, headers=AUTH, timeout=120)
    took = time.monotonic() - started
    assert httpx.put(
        server.url + "/api/v1/prices", content=_price_document(10, 1), headers=AUTH, timeout=30
    ).is_success
    server.stop()

    interrupted = 0
    for trial, fraction in enumerate((0.4, 0.7, 0.9)):
        server = _serve(tmp_path, db, f"prices-{trial + 1}")
        answers: list[object] = []

        def put(url: str = server.url, answers: list[object] = answers) -> None:
            try:
                answers.append(
                    httpx.put(url + "/api/v1/prices", content=big, headers=AUTH, timeout=120)
                )
            except httpx.HTTPError as exc:
                answers.append(exc)

        sender = threading.Thread(target=put)
        sender.start()
        time.sleep(took * fraction)
        _kill(server)
        sender.join(timeout=60)
        interrupted += not isinstance(answers[0], httpx.Response)
        prices = _service(db).prices.prices().values
        assert len(prices) in (10, 60_000), len(prices)
        amounts = {amount for dims in prices.values() for amount in dims.values()}
        assert amounts == ({1.0} if len(prices) == 10 else {2.0})
        if len(prices) == 60_000:  # it landed: put the small list back for the next trial
            _service(db).prices.replace_prices(_price_document(10, 1))
    assert interrupted, "no kill landed before the answer: the test proved nothing"


def _big_store(db: Path, branches: int) -> int:
    service = _service(db)
    end = datetime.now(UTC)
    total = 0
    for branch in range(1, branches + 1):
        observations = company(branch).observations(end)
        total += service.ingest.ingest_summary(
            render_summary(observations).encode(), source="t"
        ).inserted
    service.store.engine.dispose()  # type: ignore[attr-defined]
    return total


def _observations(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:  # closed: the prune test polls
        return int(conn.execute("SELECT count(*) FROM observations").fetchone()[0])


@pytest.mark.heavy
def test_sigkill_during_a_prune_leaves_every_aggregate_exact(tmp_path: Path) -> None:
    template = tmp_path / "template.db"
    stored = _big_store(template, branches=10)
    prune = [sys.executable, "-m", "usagelens", "prune", "--older-than", "24h"]

    def run(db: Path) -> subprocess.Popen[bytes]:
        env = {"USAGELENS_DATABASE_URL": f"sqlite:///{db}", "PATH": "/usr/bin:/bin"}
        return subprocess.Popen(  # stdin is no terminal, so prune does not ask
            prune, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    whole = tmp_path / "whole.db"
    shutil.copy(template, whole)
    assert run(whole).wait(timeout=300) == 0
    kept = _observations(whole)
    assert 0 < kept < stored

    # Kill right after the prune's first transaction has committed, so that the kill lands
    # inside a later one (a kill timed as a fraction of a whole run missed the middle on a
    # slow machine: the process's start-up is most of the run). Up to three trials: one
    # that lands in the middle is the proof.
    partial = 0
    for trial in range(3):
        db = tmp_path / f"trial-{trial}.db"
        shutil.copy(template, db)
        process = run(db)
        while process.poll() is None and _observations(db) == stored:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        left = _observations(db)
        partial += kept < left < stored
        service = _assert_exact(db)
        assert sum(r[3] for r in _rows(service)) == left
        if partial:
            break
    assert partial, "no kill landed in the middle of the prune: the test proved nothing"


@pytest.mark.heavy
def test_sigkill_during_a_refresh_leaves_whole_batches(tmp_path: Path) -> None:
    end = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    simulator = Server(
        ["simulate", "--branches", "6", "--delay", "0.4", "--end", end],
        {},
        free_port(),
        tmp_path / "sim.log",
    )
    try:
        simulator.wait_ready(SIMULATOR_READY)
        db = tmp_path / "r.db"
        env = {
            "USAGELENS_SOURCES": simulator.url,
            "USAGELENS_BRANCHES": "1,2,3,4,5,6",
        }
        server = _serve(tmp_path, db, "refresh-0", **env)
        started = time.monotonic()
        whole = httpx.post(server.url + "/api/v1/webhooks/refresh", headers=AUTH, timeout=120)
        assert whole.status_code == 200, whole.text
        took = time.monotonic() - started
        server.stop()
        priced = len(_service(db).prices.prices().values)
        assert priced > 0

        for trial, fraction in enumerate((0.6, 0.8, 0.95)):
            db = tmp_path / f"r{trial}.db"
            server = _serve(tmp_path, db, f"refresh-{trial + 1}", **env)
            threading.Thread(
                target=lambda url=server.url: _quietly(
                    lambda: httpx.post(url + "/api/v1/webhooks/refresh", headers=AUTH, timeout=120)
                ),
                daemon=True,
            ).start()
            time.sleep(took * fraction)
            _kill(server)
            assert _observations(db) % 24000 == 0  # each branch's summary whole or absent
            service = _assert_exact(db)
            prices = service.prices.prices().values
            assert len(prices) in (0, priced)  # the source's list whole or absent
    finally:
        simulator.stop()


def _quietly(call) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(httpx.HTTPError):
        call()


@pytest.mark.heavy
def test_sigterm_during_a_scheduled_refresh_releases_its_lease(tmp_path: Path) -> None:
    simulator = Server(
        ["simulate", "--branches", "2", "--delay", "4"], {}, free_port(), tmp_path / "slow.log"
    )
    try:
        simulator.wait_ready(SIMULATOR_READY)
        db = tmp_path / "sched.db"
        server = _serve(
            tmp_path, db, "sched", USAGELENS_SOURCES=simulator.url, USAGELENS_REFRESH_EVERY="1h"
        )
        deadline = time.monotonic() + 15
        while not httpx.get(server.url + "/api/v1/refresh", timeout=5).json()["running"]:
            assert time.monotonic() < deadline, "the scheduled refresh did not start"
            time.sleep(0.1)
        server.process.send_signal(signal.SIGTERM)  # the pulls wait 4 s on the simulator
        assert server.process.wait(timeout=30) == 0
        server.stop()
        status = _service(db).refresh.status()
        assert not status["running"]  # the lease is released: the next refresh may start
        pulls = status["pulls"]
        assert isinstance(pulls, list) and "interrupted" in pulls[0]["detail"]
    finally:
        simulator.stop()
