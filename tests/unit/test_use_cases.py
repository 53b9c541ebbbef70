"""Use cases on the in-memory store (the random oracle over every store is in
tests/integration/test_oracle.py)."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests import independent
from tests.conftest import store_content
from usagelens.documents import load_document
from usagelens.domain.errors import NotConfigured, PolicyMismatch, SummaryFormatError
from usagelens.domain.model import Window
from usagelens.domain.policy import Policy, policy_from_document
from usagelens.services import UsageLens
from usagelens.storage.memory import MemoryStore

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
START = NOW - timedelta(hours=48)


def _service(policy: Policy | None = None, store: MemoryStore | None = None) -> UsageLens:
    return UsageLens(store or MemoryStore(), policy=policy, clock=lambda: NOW)


def _stamp(hour: int) -> str:
    return (START + timedelta(hours=hour)).strftime("%Y-%m-%d %H:%M:%S")


def _summary(records: list[tuple[str, str, str, int, float]]) -> bytes:
    """Render (team, resource, dimension, hour, usage) records in the text format."""
    return independent.render([(t, r, d, _stamp(h), u) for t, r, d, h, u in records]).encode()


def test_sample_gives_the_known_numbers(sample_summary: bytes, sample_prices: bytes) -> None:
    service = _service()
    result = service.ingest(sample_summary, source="test")
    assert (result.observations, result.inserted, result.teams, result.resources) == (
        24000, 24000, 4, 40,
    )  # fmt: skip
    again = service.ingest(sample_summary, source="test")
    assert (again.inserted, again.updated, again.duplicates) == (0, 0, 24000)
    service.replace_prices(sample_prices)
    assert service.costs_total().total == 33951
    assert service.costs_deleted().by_dimension == {"CPU": 5344, "RAM": 2492, "NetFlow": 1443}
    assert Counter(r.decision.value for r in service.rows()) == {
        "keep": 85, "delete": 34, "extend": 1,
    }  # fmt: skip


def test_windowed_rows_come_from_raw_observations() -> None:
    service = _service()
    service.ingest(_summary([("t", "R", "CPU", h, float(h)) for h in range(10)]), source="a")
    window = Window(START + timedelta(hours=2), START + timedelta(hours=5))
    [row] = service.rows(window)
    assert (row.count, row.mean, row.median) == (3, 3.0, 3.0)
    assert service.rows(Window(since=NOW + timedelta(days=1))) == []


def test_a_rolling_default_window_applies_when_none_is_named() -> None:
    service = UsageLens(MemoryStore(), clock=lambda: NOW, window=timedelta(hours=45))
    service.ingest(_summary([("t", "R", "CPU", h, float(h)) for h in range(10)]), source="a")
    [row] = service.rows()  # hours 3..9 are within 45 hours of NOW (hour 48)
    assert row.count == 7
    [everything] = service.rows(Window(since=START))
    assert everything.count == 10


def test_the_first_policy_is_adopted_and_a_different_one_refused() -> None:
    store = MemoryStore()
    strict = policy_from_document(load_document(b"intensity: {low: 50, medium: 70, high: 95}"))
    first = _service(strict, store)
    first.ingest(_summary([("t", "R", "CPU", 0, 45.0)]), source="a")
    assert first.rows()[0].decision.value == "delete"  # 45 is low under the strict policy

    follower = _service(None, store)  # no policy configured: the stored one applies
    assert follower.rows()[0].decision.value == "delete"
    assert follower.policy.fingerprint == strict.fingerprint

    other = _service(Policy(), store)  # the built-in default differs from what is stored
    with pytest.raises(PolicyMismatch, match="usagelens rebuild"):
        other.rows()
    stored = store_content(follower)
    with pytest.raises(PolicyMismatch):
        other.ingest(_summary([("t", "R", "CPU", 1, 45.0)]), source="b")
    assert store_content(follower) == stored  # the refused write stored nothing

    other.rebuild(Policy())  # the explicit switch
    assert other.rows()[0].decision.value == "keep"
    assert follower.rows()[0].decision.value == "keep"  # followers follow
    with pytest.raises(PolicyMismatch):
        first.rows()


def test_rebuild_from_raw_gives_what_increments_gave(sample_summary: bytes) -> None:
    service = _service()
    service.ingest(sample_summary, source="a")
    changed = sample_summary.replace(b",7);", b",93);", 50)
    service.ingest(changed, source="b")
    service.prune(timedelta(days=7, hours=12))
    before = service.view().stats, service.rows()
    service.rebuild()
    assert (service.view().stats, service.rows()) == before


def test_stale_aggregates_are_refused_until_rebuilt(sample_summary: bytes) -> None:
    service = _service()
    service.ingest(sample_summary, source="a")
    with service.store(write=True) as uow:
        uow.state.set_stale(True)
        uow.commit()
    with pytest.raises(NotConfigured, match="rebuild"):
        service.ingest(sample_summary, source="b")
    assert service.prepare() is not None  # rebuilds
    assert service.ingest(sample_summary, source="c").duplicates == 24000


def test_a_rejected_payload_stores_nothing_and_is_counted(sample_summary: bytes) -> None:
    service = _service()
    with pytest.raises(SummaryFormatError):
        service.ingest(sample_summary + b";(X,CPU,2026-11-19 10:00:00,abc)", source="bad")
    assert store_content(service) == store_content(_service())  # as new
    with service.store() as uow:
        assert uow.observations.count() == 0
        assert uow.counters.all() == {"batches_rejected": 1}


def test_pushes_past_the_endpoint_limit_go_to_other() -> None:
    service = UsageLens(MemoryStore(), clock=lambda: NOW, max_endpoints=2)
    events = b'[{"status": 200, "endpoint": "/a", "time": 0.5},' \
        b'{"status": 200, "endpoint": "/b", "time": 1},' \
        b'{"status": 500, "endpoint": "/c", "time": 11}]'  # fmt: skip
    assert service.push(events) == 3
    state = service.metrics_state()
    assert set(state.push.endpoints) == {"/a", "/b", "other"}
    assert state.push.statuses == {200: 2, 500: 1}
    assert state.counters["push_endpoint_overflow"] == 1


def test_an_identical_resend_is_all_duplicates_until_its_series_change() -> None:
    service = _service()
    first = _summary([("t", "r", "CPU", h, 10.0 + h) for h in range(6)])
    other = _summary([("t", "r2", "RAM", h, 50.0) for h in range(3)])
    service.ingest(first, source="a")
    service.ingest(other, source="b")  # changes another series only
    version = service.data_version()
    again = service.ingest(first, source="a")
    assert (again.inserted, again.updated, again.duplicates) == (0, 0, 6)
    assert service.data_version() == version  # nothing recomputed

    # Another payload changes one of its values: the same bytes are no longer all stored.
    service.ingest(_summary([("t", "r", "CPU", 2, 99.0)]), source="c")
    back = service.ingest(first, source="a")
    assert (back.inserted, back.updated, back.duplicates) == (0, 1, 5)
    [row] = [r for r in service.rows() if r.resource == "r"]
    assert row.median == statistics.median([10.0 + h for h in range(6)])

    # A time repeated within the payload counts as an update every time.
    repeated = _summary([("t", "r", "CPU", 1, 11.0), ("t", "r", "CPU", 1, 40.0)])
    service.ingest(repeated, source="d")
    twice = service.ingest(repeated, source="d")
    assert (twice.inserted, twice.updated, twice.duplicates) == (0, 1, 1)
    batches = service.batches(limit=1)
    assert batches[0].result.duplicates == 1
