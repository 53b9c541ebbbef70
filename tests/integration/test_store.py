"""The store on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from usagelens.app import Handlers, build
from usagelens.domain.errors import SummaryFormatError
from usagelens.domain.model import Dimension, SeriesKey, Window
from usagelens.storage import SqlStore, create_engine_for, migrate
from usagelens.storage.tables import ingest_batches, observations

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def service(database_url: str) -> Handlers:
    engine = create_engine_for(database_url)
    migrate(engine)
    migrate(engine)  # idempotent
    yield build(SqlStore(engine), clock=lambda: NOW)
    engine.dispose()


def _count(service: Handlers, table=observations) -> int:  # type: ignore[no-untyped-def]
    with service.store.engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _usages(service: Handlers, key: SeriesKey) -> list[float]:
    """Return a series' stored usages in time order."""
    with service.store.read() as queries:
        ids = {k: i for i, k in queries.keys().items()}
        return [usage for _, usage in queries.readings(ids[key])]


def test_sample_lands_once_and_resending_counts_duplicates(
    service: Handlers, sample_summary: bytes, sample_prices: bytes
) -> None:
    first = service.ingest.ingest_summary(sample_summary, source="test")
    assert (first.observations, first.inserted, first.updated, first.duplicates) == (
        24000,
        24000,
        0,
        0,
    )
    assert (first.teams, first.resources) == (4, 40)
    again = service.ingest.ingest_summary(sample_summary, source="test")
    assert (again.inserted, again.updated, again.duplicates) == (0, 0, 24000)
    assert _count(service) == 24000
    service.prices.replace_prices(sample_prices)
    costs = service.queries.costs_total()
    assert costs.total == 33951
    assert service.queries.costs_deleted().by_dimension == {
        "CPU": 5344,
        "RAM": 2492,
        "NetFlow": 1443,
    }
    batches = service.queries.batches()
    assert [b.result.duplicates for b in batches] == [24000, 0]
    import hashlib

    assert batches[0].sha256 == hashlib.sha256(sample_summary).hexdigest()


def test_changed_value_replaces_and_counts_as_updated(service: Handlers) -> None:
    service.ingest.ingest_summary(
        b"t|(R,CPU,2026-11-19 10:00:00,10);(R,CPU,2026-11-19 11:00:00,20)", source="a"
    )
    result = service.ingest.ingest_summary(
        b"t|(R,CPU,2026-11-19 10:00:00,10);(R,CPU,2026-11-19T14:00:00+03:00,30);(R,RAM,2026-11-19 11:00:00,5)",
        source="b",
    )
    assert (result.inserted, result.updated, result.duplicates) == (1, 1, 1)
    assert _usages(service, ("t", "R", Dimension.CPU)) == [10.0, 30.0]


def test_repeats_inside_one_payload(service: Handlers) -> None:
    result = service.ingest.ingest_summary(
        b"t|(R,CPU,2026-11-19 10:00:00,10);(R,CPU,2026-11-19 10:00:00,10);(R,CPU,2026-11-19 10:00:00,12)",
        source="a",
    )
    assert (result.observations, result.inserted, result.updated, result.duplicates) == (3, 1, 1, 1)
    assert _usages(service, ("t", "R", Dimension.CPU)) == [12.0]


def test_a_rejected_payload_stores_nothing(service: Handlers, sample_summary: bytes) -> None:
    broken = sample_summary.rstrip() + b";(X,CPU,2026-11-19 10:00:00,abc)"
    with pytest.raises(SummaryFormatError, match="record 6001: usage 'abc'"):
        service.ingest.ingest_summary(broken, source="bad")
    assert _count(service) == 0
    assert _count(service, ingest_batches) == 0


def test_window_narrows_the_series(service: Handlers) -> None:
    service.ingest.ingest_summary(
        b"t|(R,CPU,2026-11-19 10:00:00,10);(R,CPU,2026-11-19 11:00:00,20);(R,CPU,2026-11-19 12:00:00,90)",
        source="a",
    )
    window = Window(datetime(2026, 11, 19, 11, tzinfo=UTC), datetime(2026, 11, 19, 12, tzinfo=UTC))
    rows = service.queries.rows(window)
    assert [(r.count, r.mean) for r in rows] == [(1, 20.0)]
    assert service.queries.rows(Window(since=datetime(2026, 11, 20, tzinfo=UTC))) == []


def test_prices_are_replaced_whole(service: Handlers, sample_prices: bytes) -> None:
    service.prices.replace_prices(sample_prices)
    assert len(service.prices.prices().values) == 40
    service.prices.replace_prices(b"values:\n  0080: {CPU: 1}\n")
    assert service.prices.prices().to_document() == {"values": {"0080": {"CPU": 1.0}}}


def _hours(resource: str, hours: range, usage: float = 10.0, step: float = 1.0) -> bytes:
    """A summary of one CPU series: one reading an hour (day 2026-11-20 + hours)."""
    from usagelens.domain.model import Observation
    from usagelens.domain.summary import render_summary

    start = datetime(2026, 11, 20, tzinfo=UTC).timestamp()
    return render_summary(
        Observation("t", resource, Dimension.CPU, datetime.fromtimestamp(start + 3600 * h, UTC),
                    usage + step * h)
        for h in hours
    ).encode()  # fmt: skip


def test_a_resend_after_appends_is_all_duplicates_unread_and_after_rewrites_is_compared(
    service: Handlers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored payload re-sent after later hours were appended to its series is all
    duplicates without its rows being read (appends leave every stored reading as it
    was); after one of its readings was updated, or its oldest rows pruned, it is
    compared with the store again and counts the update or the re-insertion."""
    from usagelens.storage.observations import SqlObservations

    compared: list[int] = []
    differing = SqlObservations.differing

    def counting(self: SqlObservations, wanted):  # type: ignore[no-untyped-def]
        compared.append(len(wanted))
        return differing(self, wanted)

    monkeypatch.setattr(SqlObservations, "differing", counting)
    first = _hours("r", range(0, 6))
    service.ingest.ingest_summary(first, source="a")
    for hour in (6, 7):  # later hours of the same series: appends
        service.ingest.ingest_summary(_hours("r", range(hour, hour + 1)), source="later")
    compared.clear()
    again = service.ingest.ingest_summary(first, source="a")
    assert (again.inserted, again.updated, again.duplicates) == (0, 0, 6)
    assert compared == []  # known from the digest and the series' rewrite version

    # One of its readings updated by another payload: the re-send updates it back.
    service.ingest.ingest_summary(_hours("r", range(2, 3), usage=90.0), source="fix")
    compared.clear()
    back = service.ingest.ingest_summary(first, source="a")
    assert (back.inserted, back.updated, back.duplicates) == (0, 1, 5)
    assert compared == [1]
    assert _usages(service, ("t", "r", Dimension.CPU)) == [10.0 + h for h in range(8)]

    # Its oldest rows pruned: the re-send inserts them again.
    cutoff = datetime(2026, 11, 20, 3, tzinfo=UTC)
    assert service.maintenance.prune(NOW - cutoff).observations == 3
    again = service.ingest.ingest_summary(first, source="a")
    assert (again.inserted, again.updated, again.duplicates) == (3, 0, 3)
    assert _usages(service, ("t", "r", Dimension.CPU)) == [10.0 + h for h in range(8)]
