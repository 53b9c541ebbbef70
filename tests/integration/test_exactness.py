"""On real SQLite and PostgreSQL: after every kind of change, every row equals a fresh,
independent calculation over what is stored (data the code was not written against)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from tests import independent
from usagelens.app import Handlers, build
from usagelens.domain.histogram import UsageHistogram
from usagelens.domain.model import Window
from usagelens.domain.policy import Policy, policy_from_document
from usagelens.domain.summary import render_summary
from usagelens.simulator.data import company, price_list_yaml
from usagelens.storage import SqlStore, create_engine_for, migrate
from usagelens.storage.engine import _MIGRATIONS

END = datetime(2026, 3, 14, 15, tzinfo=UTC)
NOW = END + timedelta(hours=1)
BRANCHES = (101, 102)


@pytest.fixture
def service(database_url: str) -> Iterator[Handlers]:
    engine = create_engine_for(database_url)
    migrate(engine)
    yield build(SqlStore(engine), clock=lambda: NOW)
    engine.dispose()


def _check(service: Handlers, stored: dict, prices: dict, policy: Policy) -> None:  # type: ignore[type-arg]
    """Every row, histogram and total equals the independent calculation."""
    want = {
        (r["team"], r["resource"], r["dimension"]): r
        for r in independent.rows({k: v for k, v in stored.items() if v}, prices)
    }
    rows = service.queries.rows()
    assert {(r.team, r.resource, r.dimension.value) for r in rows} == set(want)
    for row in rows:
        key = (row.team, row.resource, row.dimension.value)
        expected, usages = want[key], list(stored[key].values())
        assert (row.count, row.median, row.cost) == (
            expected["count"], expected["median"], expected["cost"],
        )  # fmt: skip
        assert row.mean == statistics.fmean(usages)
        verdict = policy.judge(row.count, row.mean, row.median)
        assert (row.usage_type, row.intensity, row.decision) == (
            verdict.usage_type, verdict.intensity, verdict.decision,
        )  # fmt: skip
    stats = {(t, r, d.value): s for (t, r, d), s in service.queries.view().stats}
    for key, by_time in stored.items():
        if by_time:
            assert stats[key].frequencies == UsageHistogram.of(by_time.values()).frequencies
            assert stats[key].total == math.fsum(by_time.values())
    # Money: the independent costs, summed over the rows the policy says to delete.
    deleted = {"CPU": 0.0, "RAM": 0.0, "NetFlow": 0.0}
    for key, expected in want.items():
        usages = list(stored[key].values())
        verdict = policy.judge(len(usages), statistics.fmean(usages), expected["median"])
        if verdict.decision.value == "delete" and expected["cost"] is not None:
            deleted[key[2]] += expected["cost"]
    total = sum(r["cost"] for r in want.values() if r["cost"] is not None)
    assert service.queries.costs_total().total == pytest.approx(total, abs=1e-9)
    assert service.queries.costs_deleted().by_dimension == pytest.approx(deleted, abs=1e-9)


def _check_windows(service: Handlers, stored: dict, prices: dict) -> None:  # type: ignore[type-arg]
    """Windowed rows equal the independent calculation over the rows inside each window.

    The windows cover every way a series is read: wholly inside, mostly inside (its
    outside subtracted from the stored distribution), mostly outside, and bounded on
    both sides.
    """
    windows = [
        (END - timedelta(days=300), None),
        (END - timedelta(hours=180), None),
        (END - timedelta(hours=10), None),
        (None, END - timedelta(hours=30)),
        (END - timedelta(hours=120), END - timedelta(hours=60)),
        (END - timedelta(hours=190), END - timedelta(hours=2)),
    ]
    for since, until in windows:
        low = since.strftime("%Y-%m-%d %H:%M:%S") if since else ""
        high = until.strftime("%Y-%m-%d %H:%M:%S") if until else "9999"
        inside = {
            key: {t: u for t, u in by_time.items() if low <= t < high}
            for key, by_time in stored.items()
        }
        want = {
            (r["team"], r["resource"], r["dimension"]): r
            for r in independent.rows({k: v for k, v in inside.items() if v}, prices)
        }
        rows = service.queries.rows(Window(since, until))
        assert {(r.team, r.resource, r.dimension.value) for r in rows} == set(want)
        for row in rows:
            key = (row.team, row.resource, row.dimension.value)
            expected = want[key]
            assert (row.count, row.median, row.cost, row.decision.value) == (
                expected["count"], expected["median"], expected["cost"], expected["decision"],
            ), (since, until, key)  # fmt: skip
            assert row.mean == statistics.fmean(inside[key].values())


def _remember(stored: dict, payload: bytes) -> None:  # type: ignore[type-arg]
    for key, by_time in independent.parse(payload.decode()).items():
        stored.setdefault(key, {}).update(by_time)


def test_bulk_resend_update_prune_and_policy_change(
    service: Handlers, sample_summary: bytes
) -> None:
    stored: dict = {}  # type: ignore[type-arg]
    payloads = [render_summary(company(b).observations(END)).encode() for b in BRANCHES]
    for payload in (*payloads, sample_summary):
        service.ingest.ingest(payload, source="bulk")
        _remember(stored, payload)
    price_text = price_list_yaml([company(b) for b in BRANCHES])
    service.prices.replace_prices(price_text.encode())
    prices = _prices(price_text)
    _check(service, stored, prices, Policy())

    again = service.ingest.ingest(payloads[0], source="resend")
    assert (again.inserted, again.updated) == (0, 0)
    _check(service, stored, prices, Policy())

    # New values for old times, in the middle of the stored history, and a new hour.
    older = company(BRANCHES[1]).observations(END - timedelta(hours=50), hours=30)
    changed = render_summary(
        [type(o)(o.team, o.resource, o.dimension, o.collected_at, 100 - o.usage) for o in older]
    ).encode()
    result = service.ingest.ingest(changed, source="update")
    assert result.updated > 0
    _remember(stored, changed)
    # Two times far apart per series: the stored rows between them are many more than
    # the payload names, so the store is asked for exactly those keys.
    ends = [
        *(
            type(o)(o.team, o.resource, o.dimension, o.collected_at, 100 - o.usage)
            for o in company(BRANCHES[0]).observations(END - timedelta(hours=190), hours=1)
        ),
        *company(BRANCHES[0]).observations(END, hours=1),
    ]
    far_apart = render_summary(ends).encode()
    result = service.ingest.ingest(far_apart, source="ends")
    changed_first = sum(
        1 for o in company(BRANCHES[0]).observations(END - timedelta(hours=190), hours=1)
        if o.usage != 100 - o.usage
    )  # fmt: skip
    assert (result.inserted, result.updated) == (0, changed_first)
    assert result.duplicates == len(ends) - changed_first
    _remember(stored, far_apart)
    newer = render_summary(company(BRANCHES[0]).observations(NOW, hours=1)).encode()
    service.ingest.ingest(newer, source="hour")
    _remember(stored, newer)
    _check(service, stored, prices, Policy())
    _check_windows(service, stored, prices)

    # The same bytes as an earlier payload whose values have changed since: not a re-send.
    restored = service.ingest.ingest(payloads[1], source="bulk again")
    assert restored.updated > 0
    _remember(stored, payloads[1])
    _check(service, stored, prices, Policy())

    pruned = service.maintenance.prune(timedelta(hours=150))
    cutoff = (NOW - timedelta(hours=150)).strftime("%Y-%m-%d %H:%M:%S")
    removed = 0
    for by_time in stored.values():
        for moment in [m for m in by_time if m < cutoff]:
            del by_time[moment]
            removed += 1
    assert pruned.observations == removed > 0
    _check(service, stored, prices, Policy())
    _check_windows(service, stored, prices)

    strict = policy_from_document({"intensity": {"low": 45, "medium": 65, "high": 85}})
    service.maintenance.rebuild(strict)
    _check(service, stored, prices, strict)


def _prices(yaml_text: str) -> dict[str, dict[str, float]]:
    from usagelens.documents import load_document

    document = load_document(yaml_text.encode())
    assert isinstance(document, dict)
    return {
        str(r): {d: float(p) for d, p in dims.items()} for r, dims in document["values"].items()
    }


def test_upgrade_from_the_snapshot_schema_carries_data_over(
    database_url: str, sample_summary: bytes, sample_prices: bytes
) -> None:
    """A store written by the previous schema (0003) is migrated and rebuilt once."""
    engine = create_engine_for(database_url)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect() as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    rows = [
        (team, resource, dim, moment, usage)
        for (team, resource, dim), by_time in independent.parse(sample_summary.decode()).items()
        for moment, usage in by_time.items()
    ]
    with engine.connect() as conn, conn.begin():
        batch_id = conn.execute(
            text(
                "INSERT INTO ingest_batches (received_at, source, sha256, observations,"
                " inserted, updated, duplicates, teams, resources) VALUES"
                " ('2026-11-20 00:00:00', 'old', 'x', 24000, 24000, 0, 0, 4, 40) RETURNING id"
            )
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO observations (team, resource, dimension, collected_at, usage,"
                " batch_id) VALUES (:t, :r, :d, :m, :u, :b)"
            ),
            [
                {"t": t, "r": r, "d": d, "m": datetime.fromisoformat(m), "u": u, "b": batch_id}
                for t, r, d, m, u in rows
            ],
        )
    migrate(engine)
    service = build(SqlStore(engine), clock=lambda: NOW)
    rebuilt = service.maintenance.prepare()
    assert rebuilt is not None and rebuilt.observations == 24000
    service.prices.replace_prices(sample_prices)
    assert service.queries.costs_total().total == 33951
    assert service.queries.costs_deleted().by_dimension == {
        "CPU": 5344,
        "RAM": 2492,
        "NetFlow": 1443,
    }
    assert service.ingest.ingest(sample_summary, source="again").duplicates == 24000
    engine.dispose()


def test_upgrade_to_0011_takes_changes_before_0010_for_rewrites(
    database_url: str, sample_summary: bytes
) -> None:
    """Migration 0010 left every series' rewrite version at 0, not knowing which of its
    changes were appends; 0011 takes each series' last change for its last rewrite, so a
    re-send of a payload stored before 0010 is compared with the store, not assumed."""
    engine = create_engine_for(database_url)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect() as conn, conn.begin():
        config.attributes["connection"] = conn
        command.upgrade(config, "0010")
    service = build(SqlStore(engine), clock=lambda: NOW)
    service.ingest.ingest(sample_summary, source="before")
    with engine.connect() as conn, conn.begin():  # as 0010 found stores written before it
        conn.execute(text("UPDATE series SET rewritten_version = 0"))
        versions = dict(conn.execute(text("SELECT id, changed_version FROM series")).all())
    migrate(engine)
    with engine.connect() as conn:
        rewritten = dict(conn.execute(text("SELECT id, rewritten_version FROM series")).all())
    assert rewritten == versions and all(rewritten.values())
    assert service.ingest.ingest(sample_summary, source="again").duplicates == 24000
    engine.dispose()
