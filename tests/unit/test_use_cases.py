"""Use cases on the in-memory store (the random oracle over every store is in
tests/integration/test_oracle.py)."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests import independent
from tests.conftest import store_content
from tests.memory_store import MemoryStore
from usagelens.app import Handlers, build
from usagelens.documents import load_document
from usagelens.domain.errors import NotConfigured, PolicyMismatch, SummaryFormatError
from usagelens.domain.model import Window
from usagelens.domain.policy import Policy, policy_from_document

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
START = NOW - timedelta(hours=48)


def _service(policy: Policy | None = None, store: MemoryStore | None = None) -> Handlers:
    return build(store or MemoryStore(), policy=policy, clock=lambda: NOW)


def _stamp(hour: int) -> str:
    return (START + timedelta(hours=hour)).strftime("%Y-%m-%d %H:%M:%S")


def _summary(records: list[tuple[str, str, str, int, float]]) -> bytes:
    """Render (team, resource, dimension, hour, usage) records in the text format."""
    return independent.render([(t, r, d, _stamp(h), u) for t, r, d, h, u in records]).encode()


def test_sample_gives_the_known_numbers(sample_summary: bytes, sample_prices: bytes) -> None:
    service = _service()
    result = service.ingest.ingest(sample_summary, source="test")
    assert (result.observations, result.inserted, result.teams, result.resources) == (
        24000, 24000, 4, 40,
    )  # fmt: skip
    again = service.ingest.ingest(sample_summary, source="test")
    assert (again.inserted, again.updated, again.duplicates) == (0, 0, 24000)
    service.prices.replace_prices(sample_prices)
    assert service.queries.costs_total().total == 33951
    assert service.queries.costs_deleted().by_dimension == {
        "CPU": 5344,
        "RAM": 2492,
        "NetFlow": 1443,
    }
    assert Counter(r.decision.value for r in service.queries.rows()) == {
        "keep": 85, "delete": 34, "extend": 1,
    }  # fmt: skip


def test_windowed_rows_come_from_raw_observations() -> None:
    service = _service()
    service.ingest.ingest(_summary([("t", "R", "CPU", h, float(h)) for h in range(10)]), source="a")
    window = Window(START + timedelta(hours=2), START + timedelta(hours=5))
    [row] = service.queries.rows(window)
    assert (row.count, row.mean, row.median) == (3, 3.0, 3.0)
    assert service.queries.rows(Window(since=NOW + timedelta(days=1))) == []


def test_a_rolling_default_window_applies_when_none_is_named() -> None:
    service = build(MemoryStore(), clock=lambda: NOW, window=timedelta(hours=45))
    service.ingest.ingest(_summary([("t", "R", "CPU", h, float(h)) for h in range(10)]), source="a")
    [row] = service.queries.rows()  # hours 3..9 are within 45 hours of NOW (hour 48)
    assert row.count == 7
    [everything] = service.queries.rows(Window(since=START))
    assert everything.count == 10


def test_the_first_policy_is_adopted_and_a_different_one_refused() -> None:
    store = MemoryStore()
    strict = policy_from_document(load_document(b"intensity: {low: 50, medium: 70, high: 95}"))
    first = _service(strict, store)
    first.ingest.ingest(_summary([("t", "R", "CPU", 0, 45.0)]), source="a")
    assert first.queries.rows()[0].decision.value == "delete"  # 45 is low under the strict policy

    follower = _service(None, store)  # no policy configured: the stored one applies
    assert follower.queries.rows()[0].decision.value == "delete"
    assert follower.policy.current().fingerprint == strict.fingerprint

    other = _service(Policy(), store)  # the built-in default differs from what is stored
    with pytest.raises(PolicyMismatch, match="usagelens rebuild"):
        other.queries.rows()
    stored = store_content(follower)
    with pytest.raises(PolicyMismatch):
        other.ingest.ingest(_summary([("t", "R", "CPU", 1, 45.0)]), source="b")
    assert store_content(follower) == stored  # the refused write stored nothing

    other.maintenance.rebuild(Policy())  # the explicit switch
    assert other.queries.rows()[0].decision.value == "keep"
    assert follower.queries.rows()[0].decision.value == "keep"  # followers follow
    with pytest.raises(PolicyMismatch):
        first.queries.rows()


def test_rebuild_from_raw_gives_what_increments_gave(sample_summary: bytes) -> None:
    service = _service()
    service.ingest.ingest(sample_summary, source="a")
    changed = sample_summary.replace(b",7);", b",93);", 50)
    service.ingest.ingest(changed, source="b")
    service.maintenance.prune(timedelta(days=7, hours=12))
    before = service.queries.view().stats, service.queries.rows()
    service.maintenance.rebuild()
    assert (service.queries.view().stats, service.queries.rows()) == before


def test_a_prune_plan_is_what_the_prune_then_removes() -> None:
    """Series of different lengths, at most 5 rows a transaction (three series are cut in
    slices): the plan, the result and the rows left agree; each series counts once."""
    service = _service()
    records = [("t", f"R{n}", "CPU", h, float(h % 10)) for n in range(5) for h in range(4 * n + 1)]
    service.ingest.ingest(_summary(records), source="a")
    span = NOW - (START + timedelta(hours=6))  # hours 0..5 go
    plan = service.maintenance.prune_plan(span)
    assert (plan.observations, plan.series, plan.transactions) == (1 + 5 + 6 + 6 + 6, 5, 0)
    assert (plan.oldest, plan.newest) == (START, START + timedelta(hours=5))
    steps: list[int] = []
    result = service.maintenance.prune(span, steps.append, rows_per_transaction=5)
    assert (result.observations, result.series, result.oldest, result.newest) == (
        plan.observations, plan.series, plan.oldest, plan.newest,
    )  # fmt: skip
    assert steps == [1, 6, 11, 16, 21, 24] and result.transactions == 6
    assert sorted(r.count for r in service.queries.rows()) == [4 * n + 1 - 6 for n in range(2, 5)]


def test_stale_aggregates_are_refused_until_rebuilt(sample_summary: bytes) -> None:
    service = _service()
    service.ingest.ingest(sample_summary, source="a")
    with service.store.write() as uow:
        uow.state.set_stale(True)
        uow.commit()
    with pytest.raises(NotConfigured, match="rebuild"):
        service.ingest.ingest(sample_summary, source="b")
    assert service.maintenance.prepare() is not None  # rebuilds
    assert service.ingest.ingest(sample_summary, source="c").duplicates == 24000


def test_a_rejected_payload_stores_nothing_and_is_counted(sample_summary: bytes) -> None:
    service = _service()
    with pytest.raises(SummaryFormatError):
        service.ingest.ingest(sample_summary + b";(X,CPU,2026-11-19 10:00:00,abc)", source="bad")
    assert store_content(service) == store_content(_service())  # as new
    with service.store.read() as queries:
        assert queries.observation_count() == 0
        assert queries.counters() == {"batches_rejected": 1}


def test_pushes_past_the_endpoint_limit_go_to_other() -> None:
    service = build(MemoryStore(), clock=lambda: NOW, max_endpoints=2)
    events = b'[{"status": 200, "endpoint": "/a", "time": 0.5},' \
        b'{"status": 200, "endpoint": "/b", "time": 1},' \
        b'{"status": 500, "endpoint": "/c", "time": 11}]'  # fmt: skip
    parsed = service.pushes.parse_push(events)
    assert len(parsed) == 3
    assert service.pushes.record_pushes(parsed) == 1  # the third endpoint went to other
    state = service.queries.metrics_state()
    assert set(state.push.endpoints) == {"/a", "/b", "other"}
    assert state.push.statuses == {200: 2, 500: 1}
    assert state.counters["push_endpoint_overflow"] == 1


def test_a_resend_into_an_unchanged_store_is_recognised_by_its_digest_unparsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from usagelens.app import ingest as ingest_module

    parsed: list[int] = []

    class CountingParser(ingest_module.SummaryParser):
        def close(self) -> Any:
            batch = super().close()
            parsed.append(batch.observations)
            return batch

    monkeypatch.setattr(ingest_module, "SummaryParser", CountingParser)
    service = _service()
    first = _summary([("t", "r", "CPU", h, 10.0 + h) for h in range(6)])
    stored = service.ingest.ingest(first, source="a")
    again = service.ingest.ingest(first, source="b", json_form=False)
    assert parsed == [6]  # the re-send was not parsed
    assert (again.observations, again.inserted, again.updated, again.duplicates) == (6, 0, 0, 6)
    assert (again.teams, again.resources) == (stored.teams, stored.resources)
    assert again.batch_id > stored.batch_id
    assert [b.source for b in service.queries.batches(limit=2)] == ["b", "a"]
    assert service.queries.metrics_state().counters["observations_duplicate"] == 6

    # A payload that updated a reading proves nothing about its own repeats: parsed again.
    repeated = _summary([("t", "r", "CPU", 1, 11.0), ("t", "r", "CPU", 1, 40.0)])
    service.ingest.ingest(repeated, source="c")
    twice = service.ingest.ingest(repeated, source="c")
    assert (twice.updated, twice.duplicates) == (1, 1) and parsed == [6, 2, 2]

    # A price list advances the version: the digest alone no longer proves it, so parsed.
    service.prices.replace_prices(b"values:\n  r: {CPU: 2}\n")
    third = service.ingest.ingest(first, source="d")
    assert (third.updated, third.duplicates) == (1, 5) and parsed == [6, 2, 2, 6]
    # ...and that re-send, having updated a reading, does not prove the next one either,
    # but the one after the next does.
    service.ingest.ingest(first, source="e")
    service.ingest.ingest(first, source="f")
    assert parsed == [6, 2, 2, 6, 6]


def test_an_identical_resend_is_all_duplicates_until_its_series_change() -> None:
    service = _service()
    first = _summary([("t", "r", "CPU", h, 10.0 + h) for h in range(6)])
    other = _summary([("t", "r2", "RAM", h, 50.0) for h in range(3)])
    service.ingest.ingest(first, source="a")
    service.ingest.ingest(other, source="b")  # changes another series only
    version = service.queries.data_version()
    again = service.ingest.ingest(first, source="a")
    assert (again.inserted, again.updated, again.duplicates) == (0, 0, 6)
    assert service.queries.data_version() == version  # nothing recomputed

    # Another payload changes one of its values: the same bytes are no longer all stored.
    service.ingest.ingest(_summary([("t", "r", "CPU", 2, 99.0)]), source="c")
    back = service.ingest.ingest(first, source="a")
    assert (back.inserted, back.updated, back.duplicates) == (0, 1, 5)
    [row] = [r for r in service.queries.rows() if r.resource == "r"]
    assert row.median == statistics.median([10.0 + h for h in range(6)])

    # A time repeated within the payload counts as an update every time.
    repeated = _summary([("t", "r", "CPU", 1, 11.0), ("t", "r", "CPU", 1, 40.0)])
    service.ingest.ingest(repeated, source="d")
    twice = service.ingest.ingest(repeated, source="d")
    assert (twice.inserted, twice.updated, twice.duplicates) == (0, 1, 1)
    batches = service.queries.batches(limit=1)
    assert batches[0].result.duplicates == 1
