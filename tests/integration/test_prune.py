"""Prune on real SQLite and PostgreSQL: a plan that changes nothing and says exactly what
the prune then removes, transactions bounded by rows, honest counts, exact aggregates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from usagelens.app import Handlers, build
from usagelens.storage import SqlStore, create_engine_for, migrate

FIRST = datetime(2026, 11, 19, 13, 59, 47, tzinfo=UTC)
"""The oldest observation of the sample summary (200 hourly ones in each of 120 series)."""
NOW = datetime(2026, 11, 27, 21, tzinfo=UTC)
"""Just after the newest one (2026-11-27 20:59:47)."""


@pytest.fixture
def service(database_url: str, sample_summary: bytes) -> Iterator[Handlers]:
    engine = create_engine_for(database_url)
    migrate(engine)
    service = build(SqlStore(engine), clock=lambda: NOW)
    service.ingest.ingest(sample_summary, source="sample")
    yield service
    engine.dispose()


def _export(service: Handlers) -> dict[str, object]:
    document = service.maintenance.export()
    document.pop("exported_at")
    return document


def _rows(service: Handlers) -> list[tuple[object, ...]]:
    return [
        (r.team, r.resource, r.dimension, r.count, r.mean, r.median) for r in service.queries.rows()
    ]


def _assert_exact(service: Handlers) -> None:
    """The maintained aggregates are what a rebuild from the raw observations makes."""
    before = _rows(service)
    service.maintenance.rebuild()
    assert _rows(service) == before


def test_the_plan_changes_nothing_and_is_what_the_prune_removes(service: Handlers) -> None:
    stored = _export(service)
    version = service.queries.data_version()
    plan = service.maintenance.prune_plan(timedelta(hours=100))
    assert (plan.observations, plan.series, plan.transactions) == (120 * 100, 120, 0)
    assert plan.cutoff == NOW - timedelta(hours=100)
    assert plan.oldest == FIRST and plan.newest == FIRST + timedelta(hours=99)
    assert _export(service) == stored and service.queries.data_version() == version

    result = service.maintenance.prune(timedelta(hours=100), rows_per_transaction=1000)
    assert (result.observations, result.series, result.cutoff) == (12000, 120, plan.cutoff)
    assert (result.oldest, result.newest) == (plan.oldest, plan.newest)
    assert result.transactions == 12
    assert service.queries.data_version() == version + 12
    assert service.maintenance.prune_plan(timedelta(hours=100)).observations == 0
    assert sum(r.count for r in service.queries.rows()) == 12000
    _assert_exact(service)


def test_series_are_counted_once_however_many_slices_they_take(service: Handlers) -> None:
    """Every series holds more than a transaction takes: each is pruned in four slices."""
    steps: list[int] = []
    result = service.maintenance.prune(timedelta(hours=1), steps.append, rows_per_transaction=50)
    assert (result.observations, result.series) == (24000 - 120, 120)
    assert result.transactions == 120 * 4
    assert (result.oldest, result.newest) == (FIRST, FIRST + timedelta(hours=198))
    deleted = [b - a for a, b in zip([0, *steps], steps, strict=False)]
    assert max(deleted) == 50 and sum(deleted) == result.observations
    assert {r.count for r in service.queries.rows()} == {1}
    _assert_exact(service)


def test_transactions_are_bounded_by_rows_not_by_days(service: Handlers) -> None:
    """Whole histories go together while they fit: 23,880 rows in 100,000 is one transaction;
    with 10,000 a transaction takes 50 whole series of 199 hours (9,950 rows)."""
    steps: list[int] = []
    result = service.maintenance.prune(
        timedelta(hours=1), steps.append, rows_per_transaction=10_000
    )
    assert (result.observations, result.series, result.transactions) == (23880, 120, 3)
    assert steps == [9950, 19900, 23880]


def test_the_steady_state_retention_run_is_one_transaction(service: Handlers) -> None:
    """An hour of every series, as a retention pass finds it: one transaction, one version."""
    version = service.queries.data_version()
    result = service.maintenance.prune(timedelta(hours=199))
    assert (result.observations, result.series, result.transactions) == (120, 120, 1)
    assert service.queries.data_version() == version + 1
    assert result.oldest == result.newest == FIRST
    nothing = service.maintenance.prune(timedelta(hours=199))
    assert (nothing.observations, nothing.series, nothing.transactions) == (0, 0, 0)
    assert (nothing.oldest, nothing.newest) == (None, None)
    assert service.queries.data_version() == version + 1
    _assert_exact(service)


def test_a_whole_prune_empties_every_series_and_counts_them_once(service: Handlers) -> None:
    """The case that reported "1080 series" for a store of 120 (a day per transaction)."""
    result = service.maintenance.prune(timedelta(0))
    assert (result.observations, result.series, result.transactions) == (24000, 120, 1)
    assert (
        service.queries.rows() == []
        and service.maintenance.prune_plan(timedelta(0)).observations == 0
    )
