"""One contract for every store: the in-memory fake, a real SQLite file and a real PostgreSQL
database pass the same cases, port by port, so use-case tests on the fake say something
about the real stores."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.memory_store import MemoryStore
from usagelens.app import build
from usagelens.domain.batch import to_micros
from usagelens.domain.distribution import Distribution
from usagelens.domain.model import Decision, Dimension, IngestResult, Window
from usagelens.domain.policy import Policy
from usagelens.domain.prices import OriginPrices, PriceList
from usagelens.ports import BatchRecord, PushTally, Store
from usagelens.storage import SqlStore, create_engine_for, migrate

CPU, RAM = Dimension.CPU, Dimension.RAM
T0 = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = to_micros(T0 + timedelta(hours=1)) - to_micros(T0)


def _t(hour: int) -> int:
    return to_micros(T0) + hour * HOUR


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """The same store ports: in memory, on a SQLite file, on PostgreSQL."""
    if request.param == "memory":
        yield MemoryStore()
        return
    url = str(
        request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    )
    engine = create_engine_for(url)
    migrate(engine)
    yield SqlStore(engine)
    engine.dispose()


def _series(
    store: Store, *keys: tuple[str, str, Dimension]
) -> dict[tuple[str, str, Dimension], int]:
    with store.write() as uow:
        ids = uow.series.ensure(list(keys))
        uow.commit()
    return ids


def _insert(store: Store, rows: list[tuple[int, int, float]]) -> None:
    with store.write() as uow:
        uow.observations.insert(rows)
        uow.commit()


def test_series_ids_are_stable_and_only_committed_writes_stay(store: Store) -> None:
    ids = _series(store, ("t", "a", CPU), ("t", "b", RAM))
    assert _series(store, ("t", "b", RAM), ("t", "a", CPU)) == ids
    assert len(set(ids.values())) == 2
    with store.write() as uow:  # not committed: rolled back
        uow.series.ensure([("u", "c", CPU)])
        uow.observations.insert([(ids[("t", "a", CPU)], _t(0), 5.0)])
    with store.read() as queries:
        assert set(queries.keys().values()) == {("t", "a", CPU), ("t", "b", RAM)}
        assert queries.observation_count() == 0


def test_observations_are_compared_inserted_replaced_and_read_in_time_order(store: Store) -> None:
    sid = _series(store, ("t", "a", CPU))[("t", "a", CPU)]
    _insert(store, [(sid, _t(2), 30.0), (sid, _t(0), 10.0), (sid, _t(1), 20.0)])
    with store.write() as uow:
        found = uow.observations.differing({sid: {_t(0): 10.0, _t(1): 25.0, _t(3): 40.0}})
        assert found == {sid: {_t(1): 20.0, _t(3): None}}  # equal keys are left out
        uow.observations.replace([(sid, _t(1), 25.0)])
        uow.commit()
    with store.read() as queries:
        assert queries.readings(sid) == [(_t(0), 10.0), (_t(1), 25.0), (_t(2), 30.0)]
        assert queries.observation_count() == 3


def test_distributions_of_a_window_and_of_everything(store: Store) -> None:
    """Stored through the ingest use case, which keeps the aggregates a window read uses."""
    hours = [f"(a,CPU,2026-11-01 0{h}:00:00,{10 * h})" for h in range(6)]
    summary = "t|" + ";".join(hours) + "$u|(b,CPU,2026-11-01 09:00:00,50)"
    build(store).ingest.ingest_summary(summary.encode(), source="test")
    window = Window(since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=5))
    for wide in (window, Window(since=T0 + timedelta(hours=1))):  # either side of half
        with store.read() as queries:
            keys = queries.keys()
            inside = {keys[sid]: d for sid, d in queries.distributions(wide)}
        hours_in = range(2, 5) if wide is window else range(1, 6)
        expected = {("t", "a", CPU): Distribution.of([10.0 * h for h in hours_in])}
        if wide is not window:
            expected[("u", "b", CPU)] = Distribution.of([50.0])
        assert inside == expected
    with store.read() as queries:
        keys = queries.keys()
        everything = {keys[sid]: (d, f, last) for sid, d, f, last in queries.all_distributions()}
    assert everything[("t", "a", CPU)] == (
        Distribution.of([0.0, 10.0, 20.0, 30.0, 40.0, 50.0]), _t(0), _t(5),
    )  # fmt: skip
    assert everything[("u", "b", CPU)] == (Distribution.of([50.0]), _t(9), _t(9))


def test_rows_appended_after_a_time_and_which_changes_were_not_appends(store: Store) -> None:
    """What a kept window view reads: the rows after the latest time it knew, and whether a
    series' changes since were appends only (``rewritten``)."""
    ingest = build(store).ingest

    def send(team: str, hours: range, usage: int = 0) -> None:
        records = ";".join(f"(a,CPU,2026-11-01 {h:02d}:00:00,{usage + h})" for h in hours)
        ingest.ingest_summary(f"{team}|{records}".encode(), source="test")

    send("t", range(0, 4))
    send("u", range(0, 2))
    with store.read() as queries:
        version = queries.state().data_version
        ids = {key[0]: span.id for key, span in queries.spans().items()}
    send("t", range(4, 7))  # appended after the latest: still not rewritten
    send("u", range(0, 2), usage=50)  # updated
    window = Window(since=T0 + timedelta(hours=5), until=T0 + timedelta(hours=20))
    with store.read() as queries:
        spans = {key[0]: span for key, span in queries.spans(version).items()}
        assert spans["t"].rewritten <= version < spans["u"].rewritten
        appended = queries.appended(window, {ids["t"]: _t(3), ids["u"]: _t(1)})
        assert appended == {ids["t"]: [5.0, 6.0]}  # hour 4 is before the window
        assert queries.appended(Window(), {ids["t"]: _t(3)}) == {ids["t"]: [4.0, 5.0, 6.0]}
        only = dict(queries.distributions(Window(), version, only={ids["u"]}))
    assert only == {ids["u"]: Distribution.of([50.0, 51.0])}


def test_aggregates_are_saved_summarised_and_ordered_by_their_oldest(store: Store) -> None:
    ids = _series(store, ("t", "late", CPU), ("t", "early", CPU), ("t", "empty", CPU))
    late, early = ids[("t", "late", CPU)], ids[("t", "early", CPU)]
    with store.write() as uow:
        aggregates = uow.series.load([late, early])
        for sid, first in ((late, _t(5)), (early, _t(1))):
            aggregates[sid].distribution = Distribution.of([10.0, 20.0])
            aggregates[sid].first, aggregates[sid].last = first, first + HOUR
            aggregates[sid].judge(Policy())
            aggregates[sid].version = 7
        uow.series.save(aggregates.values())
        uow.commit()
    with store.read() as queries:
        summaries = {s.key: s for _, s in queries.summaries_changed(-1) if s is not None}
    assert set(summaries) == {("t", "late", CPU), ("t", "early", CPU)}  # empty ones are not rows
    assert summaries[("t", "early", CPU)].stats.median == 15.0
    with store.write() as uow:
        assert [sid for sid, _ in uow.series.oldest(_t(9), 10)] == [early, late]
        assert uow.series.oldest(_t(3), 10) == [(early, _t(1))]
        assert uow.series.load([late])[late].version == 7


def test_old_observations_are_counted_then_deleted_with_what_remains(store: Store) -> None:
    summary = "t|" + ";".join(f"(a,CPU,2026-11-01 0{h}:00:00,10)" for h in range(4))
    summary += ";(b,CPU,2026-11-01 00:00:00,30);(b,CPU,2026-11-01 08:00:00,40)"
    build(store).ingest.ingest_summary(summary.encode(), source="test")
    with store.read() as queries:
        ids = {key: sid for sid, key in queries.keys().items()}
        before = queries.rows_before(_t(2))
    a, b = ids[("t", "a", CPU)], ids[("t", "b", CPU)]
    assert (before.observations, before.series, before.oldest, before.newest) == (
        3, 2, _t(0), _t(1),
    )  # fmt: skip
    with store.write() as uow:
        assert uow.observations.count_before([a, b], _t(2)) == {a: (2, _t(1)), b: (1, _t(0))}
        assert uow.observations.nth_time(a, 1) == _t(1)
        assert uow.observations.nth_time(a, 9) is None
        removed = uow.observations.delete_before([a, b], _t(2))
        uow.commit()
    assert removed == {a: (Counter({10.0: 2}), _t(2), _t(3)), b: (Counter({30.0: 1}), _t(8), _t(8))}
    with store.read() as queries:
        assert queries.observation_count() == 3


def test_price_lists_are_kept_per_origin_with_their_arrival(store: Store) -> None:
    at = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
    with store.write() as uow:
        uow.prices.put_list(OriginPrices("http://a", PriceList({"r": {CPU: 1.5}})), at)
        uow.prices.put_list(OriginPrices("manual", PriceList({"r": {RAM: 2.0}})), at)
        uow.commit()
    with store.write() as uow:
        uow.prices.put_list(OriginPrices("http://a", PriceList({"s": {CPU: 3.0}})), at)
        assert uow.prices.drop_list("manual") and not uow.prices.drop_list("nobody")
        uow.commit()
    with store.read() as queries:
        (entry,) = queries.price_lists()
    assert (entry.origin, entry.prices, entry.updated_at) == (
        "http://a", PriceList({"s": {CPU: 3.0}}), at,
    )  # fmt: skip


def test_pushes_counters_and_batches_add_up(store: Store) -> None:
    tally = PushTally()
    tally.statuses.update({200: 2, 500: 1})
    tally.sums["/a"], tally.counts["/a"] = 1.5, 3
    tally.buckets[("/a", "1.0")] = 3
    result = IngestResult(0, 10, 8, 1, 1, 1, 2)
    with store.write() as uow:
        uow.pushes.add(tally)
        uow.pushes.add(tally)
        uow.counters.add({"seen": 2, "zero": 0})
        first = uow.batches.add(BatchRecord(T0, "one", "f" * 64, result, 3))
        second = uow.batches.add(BatchRecord(T0, "two", "f" * 64, result, 5))
        assert uow.pushes.endpoints() == {"/a"}
        assert uow.batches.version_of("f" * 64) == 5 and uow.batches.version_of("0" * 64) is None
        assert uow.batches.unchanged_since("f" * 64, 5) is None  # it updated a reading
        clean = IngestResult(0, 10, 10, 0, 0, 1, 2)
        uow.batches.add(BatchRecord(T0, "three", "e" * 64, clean, 5))
        assert uow.batches.unchanged_since("e" * 64, 4) is None  # not at that version
        assert uow.batches.unchanged_since("e" * 64, 5) == IngestResult(0, 10, 0, 0, 10, 1, 2)
        uow.commit()
    with store.read() as queries:
        pushes, counters, batches = queries.push_state(), queries.counters(), queries.batches(5)
        unchanged = queries.unchanged_since("e" * 64, 5), queries.unchanged_since("f" * 64, 5)
    assert unchanged == (IngestResult(0, 10, 0, 0, 10, 1, 2), None)
    assert second > first
    assert pushes.statuses == {200: 4, 500: 2}
    assert pushes.endpoints == {"/a": (3.0, 6)} and pushes.latency == {"/a": {"1.0": 6}}
    assert counters == {"seen": 2}
    assert [b.source for b in batches] == ["three", "two", "one"]
    assert batches[1].result.batch_id == second and batches[1].result.inserted == 8


def test_the_state_moves_forward_and_keeps_the_policy(store: Store) -> None:
    with store.read() as queries:
        start = queries.state()
    with store.write() as uow:
        assert uow.state.bump() == start.data_version + 1
        uow.state.set_policy("abc", '{"x": 1}')
        uow.state.set_stale(True)
        uow.commit()
    state = store.state()
    assert (state.data_version, state.policy_fingerprint, state.policy_document, state.stale) == (
        start.data_version + 1, "abc", '{"x": 1}', True,
    )  # fmt: skip


def test_the_refresh_lease_is_exclusive_fenced_and_positions_only_move_on(store: Store) -> None:
    with store.write() as uow:
        token = uow.refresh.lease("one", 600, None)
        assert token is not None
        assert uow.refresh.lease("two", 600, None) is None  # held
        assert uow.refresh.holds(token) and not uow.refresh.holds(token + 1)
        assert uow.refresh.finish(token, 2, 1, "[]")
        assert not uow.refresh.holds(token)
        assert uow.refresh.lease("three", 600, 3600) is None  # one ran too recently
        uow.refresh.set_position("src", T0 + timedelta(hours=5))
        uow.refresh.set_position("src", T0)  # never back
        uow.commit()
    with store.read() as queries:
        status = queries.refresh_status()
        assert queries.position("src") == T0 + timedelta(hours=5)
        assert queries.position("other") is None
    assert status is not None and (status.holder, status.ok, status.failed) == (None, 2, 1)


def test_a_snapshot_does_not_see_a_later_commit(store: Store) -> None:
    sid = _series(store, ("t", "a", CPU))[("t", "a", CPU)]
    with store.read() as queries:
        assert queries.observation_count() == 0
        _insert(store, [(sid, _t(0), 1.0)])
        assert queries.readings(sid) == []
    with store.read() as queries:
        assert queries.readings(sid) == [(_t(0), 1.0)]


def test_the_use_cases_give_the_same_numbers_on_every_store(
    store: Store, sample_summary: bytes, sample_prices: bytes
) -> None:
    from tests import independent
    from usagelens.documents import load_document

    handlers = build(store, clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    first = handlers.ingest.ingest(sample_summary, source="sample")
    again = handlers.ingest.ingest(sample_summary, source="again")
    handlers.prices.replace_prices(sample_prices)
    assert (first.inserted, again.duplicates) == (24000, 24000)
    rows = handlers.queries.rows()
    prices = load_document(sample_prices)["values"]  # type: ignore[index]
    expected = independent.rows(independent.parse(sample_summary.decode()), prices)
    assert {(r.team, r.resource, r.dimension.value): (r.decision.value, r.cost) for r in rows} == {
        (e["team"], e["resource"], e["dimension"]): (e["decision"], e["cost"]) for e in expected
    }
    money = independent.money(expected)
    deleted = handlers.queries.costs_deleted()
    assert deleted.by_dimension == pytest.approx(money["deleted"])
    assert handlers.queries.costs_total().total == pytest.approx(money["total"])


def test_recommendation_states_history_exclusions_and_digests(store: Store) -> None:
    from usagelens.domain.recommendations import State, StoredState
    from usagelens.ports import RecommendationEvent

    ids = _series(store, ("t", "a", CPU), ("t", "b", RAM))
    a, b = ids[("t", "a", CPU)], ids[("t", "b", RAM)]
    at = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    claimed = StoredState(Decision.DELETE, State.CLAIMED, "on it", None, "ann", at)
    snoozed = StoredState(Decision.EXTEND, State.DISMISSED, "later", at + timedelta(days=2), "", at)
    with store.write() as uow:
        uow.recommendations.set_state(a, claimed)
        uow.recommendations.set_state(b, snoozed)
        uow.recommendations.set_state(b, snoozed)  # replaced, not added
        events = [
            RecommendationEvent(a, at + timedelta(seconds=i), "state", None, f"s{i}", "", "")
            for i in range(5)
        ]
        uow.recommendations.add_events(events, keep=3)
        rule = uow.recommendations.add_exclusion("web-*", "*", None, "managed elsewhere", at)
        other = uow.recommendations.add_exclusion("*", "db-?", Dimension.RAM, "", at)
        assert uow.recommendations.mark_digested([("x1", "delete"), ("x2", "delete")], at) == [
            ("x1", "delete"), ("x2", "delete"),
        ]  # fmt: skip
        assert uow.recommendations.mark_digested([("x1", "delete"), ("x3", "delete")], at) == [
            ("x3", "delete")
        ]
        version = uow.state.bump()
        uow.recommendations.set_arrivals({a: _t(7)}, version)
        uow.commit()
    with store.read() as queries:
        assert queries.recommendation_states() == {a: claimed, b: snoozed}
        assert [e.after for e in queries.recommendation_events(a)] == ["s2", "s3", "s4"]
        assert queries.recommendation_events(b) == []
        rules = queries.exclusions()
        assert [(r.id, r.team, r.resource, r.dimension) for r in rules] == [
            (rule, "web-*", "*", None), (other, "*", "db-?", Dimension.RAM),
        ]  # fmt: skip
        assert rules[0].matches(("web-1", "anything", CPU)) and not rules[1].matches(
            ("x", "db-1", CPU)
        )
        assert queries.digested() == {("x1", "delete"), ("x2", "delete"), ("x3", "delete")}
        assert queries.spans()[("t", "a", CPU)].last_arrival == _t(7)
    with store.write() as uow:
        uow.recommendations.clear_state(a)
        assert uow.recommendations.drop_exclusion(rule) and not uow.recommendations.drop_exclusion(
            rule
        )
        uow.recommendations.unmark_digested([("x2", "delete")])
        uow.commit()
    with store.read() as queries:
        assert set(queries.recommendation_states()) == {b}
        assert len(queries.exclusions()) == 1
        assert queries.digested() == {("x1", "delete"), ("x3", "delete")}
