"""An in-memory store with the same ports as the SQL one (cosmicpython's fake repository),
for use-case tests; the contract suite (tests/contract) holds it to the SQL stores.

Writers take turns (one lock) and work on a copy of the data that replaces the shared
data only when they commit, so a failed or abandoned unit of work leaves nothing
behind, exactly like a rolled-back transaction. A snapshot reads the data as it was
when it began (a commit replaces the data, never changes it in place).
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType

from usagelens.domain.batch import to_micros
from usagelens.domain.distribution import Distribution
from usagelens.domain.model import Dimension, IngestResult, SeriesKey, Window
from usagelens.domain.prices import OriginPrices
from usagelens.domain.recommendations import Exclusion, StoredState
from usagelens.domain.series import SeriesAggregate, SeriesSummary, differences
from usagelens.ports import (
    BatchRecord,
    PushState,
    PushTally,
    RecommendationEvent,
    RefreshStatus,
    RowsBefore,
    SeriesSpan,
    StoreState,
)


@dataclass
class _Data:
    """Everything a store holds."""

    series: dict[int, SeriesAggregate] = field(default_factory=dict)
    ids: dict[SeriesKey, int] = field(default_factory=dict)
    observations: dict[int, dict[int, float]] = field(default_factory=dict)
    """series id → time → usage."""
    price_lists: dict[str, OriginPrices] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    endpoints: dict[str, tuple[float, int]] = field(default_factory=dict)
    latency: dict[str, Counter[str]] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    batches: list[BatchRecord] = field(default_factory=list)
    state: StoreState = field(default_factory=lambda: StoreState(1, None, None, False))
    refresh: RefreshStatus | None = None
    refresh_token: int = 0
    positions: dict[str, datetime] = field(default_factory=dict)
    states: dict[int, StoredState] = field(default_factory=dict)
    events: list[RecommendationEvent] = field(default_factory=list)
    exclusions: dict[int, Exclusion] = field(default_factory=dict)
    exclusion_ids: int = 0
    digested: set[tuple[str, str]] = field(default_factory=set)


class _Series:
    def __init__(self, data: _Data) -> None:
        self._data = data

    def ensure(self, keys: Collection[SeriesKey]) -> dict[SeriesKey, int]:
        ids = self._data.ids
        for key in keys:
            if key not in ids:
                sid = ids[key] = len(ids) + 1
                self._data.series[sid] = SeriesAggregate(sid, key)
        return {key: ids[key] for key in keys}

    def load(self, ids: Collection[int]) -> dict[int, SeriesAggregate]:
        return {sid: self._data.series[sid] for sid in ids}

    def save(self, aggregates: Iterable[SeriesAggregate]) -> None:
        for aggregate in aggregates:
            self._data.series[aggregate.id] = aggregate

    def oldest(self, micros: int, limit: int) -> list[tuple[int, int]]:
        found = [
            (a.first, sid)
            for sid, a in self._data.series.items()
            if a.first is not None and a.first < micros
        ]
        return [(sid, first) for first, sid in sorted(found)[:limit]]


class _Observations:
    def __init__(self, data: _Data) -> None:
        self._data = data

    def differing(
        self, wanted: Mapping[int, Mapping[int, float]]
    ) -> dict[int, dict[int, float | None]]:
        found: dict[int, dict[int, float | None]] = {}
        for sid, values in wanted.items():
            held = self._data.observations.get(sid, {})
            stored = {t: held[t] for t in values if t in held}
            found[sid] = differences(values, stored)
        return found

    def insert(self, rows: Iterable[tuple[int, int, float]]) -> None:
        for sid, t, usage in rows:
            held = self._data.observations.setdefault(sid, {})
            if t in held:
                raise KeyError(f"observation ({sid}, {t}) is already stored")
            held[t] = usage

    def replace(self, rows: Iterable[tuple[int, int, float]]) -> None:
        for sid, t, usage in rows:
            self._data.observations[sid][t] = usage

    def count_before(self, ids: Collection[int], micros: int) -> dict[int, tuple[int, int]]:
        found = {}
        for sid in ids:
            old = [t for t in self._data.observations.get(sid, {}) if t < micros]
            if old:
                found[sid] = (len(old), max(old))
        return found

    def nth_time(self, series_id: int, n: int) -> int | None:
        times = sorted(self._data.observations.get(series_id, {}))
        return times[n] if n < len(times) else None

    def delete_before(
        self, ids: Collection[int], micros: int
    ) -> dict[int, tuple[Counter[float], int | None, int | None]]:
        result = {}
        for sid in ids:
            held = self._data.observations.get(sid, {})
            removed: Counter[float] = Counter()
            for t in [t for t in held if t < micros]:
                removed[held.pop(t)] += 1
            result[sid] = (removed, min(held, default=None), max(held, default=None))
        return result


class _Prices:
    def __init__(self, data: _Data) -> None:
        self._data = data

    def put_list(self, entry: OriginPrices, at: datetime) -> None:
        self._data.price_lists[entry.origin] = OriginPrices(entry.origin, entry.prices, at)
        self._bump()

    def drop_list(self, origin: str) -> bool:
        gone = self._data.price_lists.pop(origin, None) is not None
        if gone:
            self._bump()
        return gone

    def _bump(self) -> None:
        state = self._data.state
        self._data.state = replace(state, prices_version=state.prices_version + 1)


class _Pushes:
    def __init__(self, data: _Data) -> None:
        self._data = data

    def endpoints(self) -> set[str]:
        return set(self._data.endpoints)

    def add(self, tally: PushTally) -> None:
        data = self._data
        data.statuses.update(tally.statuses)
        for endpoint, count in tally.counts.items():
            total, before = data.endpoints.get(endpoint, (0.0, 0))
            data.endpoints[endpoint] = (total + tally.sums[endpoint], before + count)
        for (endpoint, le), count in tally.buckets.items():
            data.latency.setdefault(endpoint, Counter())[le] += count


class _Counters:
    def __init__(self, data: _Data) -> None:
        self._data = data

    def add(self, amounts: Mapping[str, int]) -> None:
        self._data.counters.update({k: v for k, v in amounts.items() if v})


class _Batches:
    def __init__(self, data: _Data) -> None:
        self._data = data

    def add(self, record: BatchRecord) -> int:
        batch_id = len(self._data.batches) + 1
        result: IngestResult = replace(record.result, batch_id=batch_id)
        self._data.batches.append(replace(record, result=result))
        return batch_id

    def version_of(self, sha256: str) -> int | None:
        versions = [
            b.data_version
            for b in self._data.batches
            if b.sha256 == sha256 and b.data_version is not None
        ]
        return max(versions, default=None)

    def unchanged_since(self, sha256: str, data_version: int) -> IngestResult | None:
        for b in self._data.batches:
            if b.sha256 == sha256 and b.data_version == data_version and b.result.updated == 0:
                n = b.result.observations
                return IngestResult(0, n, 0, 0, n, b.result.teams, b.result.resources)
        return None


class _State:
    def __init__(self, data: _Data) -> None:
        self._data = data

    def get(self) -> StoreState:
        return self._data.state

    def bump(self) -> int:
        state = self._data.state
        self._data.state = replace(state, data_version=state.data_version + 1)
        return self._data.state.data_version

    def set_policy(self, fingerprint: str, document: str) -> None:
        self._data.state = replace(
            self._data.state, policy_fingerprint=fingerprint, policy_document=document
        )

    def set_stale(self, stale: bool) -> None:
        self._data.state = replace(self._data.state, stale=stale)


class _Refresh:
    def __init__(self, data: _Data) -> None:
        self._data = data

    def lease(self, holder: str, lease_seconds: float, min_interval: float | None) -> int | None:
        now = datetime.now(UTC)
        status = self._data.refresh
        until = now + timedelta(seconds=lease_seconds)
        if status is not None:
            if status.lease_until is not None and status.lease_until > now:
                return None
            started = status.started_at
            if (
                min_interval is not None
                and started is not None
                and (now - started).total_seconds() < min_interval
            ):
                return None
            self._data.refresh = replace(status, holder=holder, lease_until=until, started_at=now)
        else:
            self._data.refresh = RefreshStatus(holder, until, now, None, 0, 0, None)
        self._data.refresh_token += 1
        return self._data.refresh_token

    def holds(self, token: int) -> bool:
        status = self._data.refresh
        return (
            status is not None
            and token == self._data.refresh_token
            and status.lease_until is not None
            and status.lease_until > datetime.now(UTC)
        )

    def finish(self, token: int, ok: int, failed: int, outcome: str) -> bool:
        status = self._data.refresh
        if status is None or not self.holds(token):
            return False
        self._data.refresh = replace(
            status, holder=None, lease_until=None, finished_at=datetime.now(UTC), ok=ok,
            failed=failed, outcome=outcome,
        )  # fmt: skip
        return True

    def set_position(self, source: str, position: datetime) -> None:
        before = self._data.positions.get(source)
        if before is None or before < position:
            self._data.positions[source] = position.astimezone(UTC)


class _Recommendations:
    def __init__(self, data: _Data) -> None:
        self._data = data

    def set_state(self, series_id: int, state: StoredState) -> None:
        self._data.states[series_id] = state

    def clear_state(self, series_id: int) -> None:
        self._data.states.pop(series_id, None)

    def add_events(self, events: Sequence[RecommendationEvent], *, keep: int) -> None:
        self._data.events.extend(events)
        for series_id in {e.series_id for e in events}:
            mine = [e for e in self._data.events if e.series_id == series_id]
            for old in mine[: max(0, len(mine) - keep)]:
                self._data.events.remove(old)

    def add_exclusion(
        self, team: str, resource: str, dimension: Dimension | None, reason: str, at: datetime
    ) -> int:
        self._data.exclusion_ids += 1
        rule = Exclusion(self._data.exclusion_ids, team, resource, dimension, reason)
        self._data.exclusions[rule.id] = rule
        return rule.id

    def drop_exclusion(self, rule_id: int) -> bool:
        return self._data.exclusions.pop(rule_id, None) is not None

    def mark_digested(
        self, items: Sequence[tuple[str, str]], at: datetime
    ) -> list[tuple[str, str]]:
        new = [pair for pair in dict.fromkeys(items) if pair not in self._data.digested]
        self._data.digested.update(new)
        return new

    def clear_history(self) -> None:
        self._data.events.clear()

    def set_arrivals(self, arrivals: Mapping[int, int], version: int) -> None:
        for series_id, micros in arrivals.items():
            self._data.series[series_id].last_arrival = micros
            self._data.series[series_id].version = version

    def unmark_digested(self, items: Sequence[tuple[str, str]]) -> None:
        self._data.digested.difference_update(items)


class _Queries:
    """The read side on one version of the data."""

    def __init__(self, data: _Data) -> None:
        self._data = data

    def state(self) -> StoreState:
        return self._data.state

    def summaries_changed(self, after: int) -> list[tuple[int, SeriesSummary | None]]:
        return [
            (
                sid,
                SeriesSummary(a.key, a.stats, a.verdict, a.first, a.last)
                if a.stats is not None and a.verdict is not None and a.stats.count
                else None,
            )
            for sid, a in self._data.series.items()
            if a.version > after
        ]

    def keys(self) -> dict[int, SeriesKey]:
        return {sid: a.key for sid, a in self._data.series.items()}

    def distributions(
        self, window: Window, after: int = -1, only: Collection[int] | None = None
    ) -> Iterator[tuple[int, Distribution]]:
        since = to_micros(window.since) if window.since else None
        until = to_micros(window.until) if window.until else None
        for sid in sorted(self._data.observations):
            if self._data.series[sid].version <= after or (only is not None and sid not in only):
                continue
            usages = [
                usage
                for t, usage in self._data.observations[sid].items()
                if (since is None or t >= since) and (until is None or t < until)
            ]
            if usages:
                yield sid, Distribution.of(usages)

    def appended(self, window: Window, after: Mapping[int, int]) -> dict[int, list[float]]:
        since = to_micros(window.since) if window.since else None
        until = to_micros(window.until) if window.until else None
        found: dict[int, list[float]] = {}
        for sid, low in after.items():
            usages = [
                usage
                for t, usage in sorted(self._data.observations.get(sid, {}).items())
                if t > low and (since is None or t >= since) and (until is None or t < until)
            ]
            if usages:
                found[sid] = usages
        return found

    def all_distributions(self) -> Iterator[tuple[int, Distribution, int, int]]:
        for sid, held in sorted(self._data.observations.items()):
            if held:
                usages = list(held.values())
                yield sid, Distribution.of(usages), min(held), max(held)

    def readings(self, series_id: int) -> list[tuple[int, float]]:
        held = self._data.observations.get(series_id, {})
        return [(t, held[t]) for t in sorted(held)]

    def observation_count(self) -> int:
        return sum(len(held) for held in self._data.observations.values())

    def rows_before(self, micros: int) -> RowsBefore:
        old = [[t for t in held if t < micros] for held in self._data.observations.values()]
        times = [t for series_times in old for t in series_times]
        series = sum(1 for series_times in old if series_times)
        return RowsBefore(len(times), series, min(times, default=None), max(times, default=None))

    def price_lists(self) -> list[OriginPrices]:
        return [self._data.price_lists[o] for o in sorted(self._data.price_lists)]

    def push_state(self) -> PushState:
        data = self._data
        return PushState(
            dict(data.statuses),
            dict(data.endpoints),
            {endpoint: dict(buckets) for endpoint, buckets in data.latency.items()},
        )

    def counters(self) -> dict[str, int]:
        return dict(self._data.counters)

    def unchanged_since(self, sha256: str, data_version: int) -> IngestResult | None:
        return _Batches(self._data).unchanged_since(sha256, data_version)

    def batches(self, limit: int = 20) -> list[BatchRecord]:
        return list(reversed(self._data.batches))[:limit]

    def refresh_status(self) -> RefreshStatus | None:
        return self._data.refresh

    def position(self, source: str) -> datetime | None:
        return self._data.positions.get(source)

    def spans(self, after: int = -1) -> dict[SeriesKey, SeriesSpan]:
        return {
            a.key: SeriesSpan(sid, a.first, a.last, a.last_arrival, a.rewritten)
            for sid, a in self._data.series.items()
            if a.version > after
        }

    def recommendation_states(self) -> dict[int, StoredState]:
        return dict(self._data.states)

    def recommendation_events(self, series_id: int) -> list[RecommendationEvent]:
        return [e for e in self._data.events if e.series_id == series_id]

    def exclusions(self) -> list[Exclusion]:
        return [self._data.exclusions[i] for i in sorted(self._data.exclusions)]

    def digested(self) -> set[tuple[str, str]]:
        return set(self._data.digested)


class MemoryUnitOfWork:
    """A writing unit of work on a MemoryStore: a private copy, swapped in on commit."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._data: _Data | None = None

    def __enter__(self) -> MemoryUnitOfWork:
        self._store.lock.acquire()
        self._data = data = copy.deepcopy(self._store.data)
        self.series = _Series(data)
        self.observations = _Observations(data)
        self.prices = _Prices(data)
        self.pushes = _Pushes(data)
        self.counters = _Counters(data)
        self.batches = _Batches(data)
        self.state = _State(data)
        self.refresh = _Refresh(data)
        self.recommendations = _Recommendations(data)
        self.read = _Queries(data)
        return self

    def commit(self) -> None:
        """Make the copy the store's data."""
        if self._data is None:
            raise RuntimeError("only an open unit of work can commit")
        self._store.data = self._data

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._store.lock.release()
        self._data = None


class MemorySnapshot:
    """A snapshot of a MemoryStore: the data as it was when it began."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def __enter__(self) -> _Queries:
        return _Queries(self._store.data)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pass


class MemoryStore:
    """Open units of work and snapshots on data held in this process (a ``Store``)."""

    def __init__(self) -> None:
        self.data = _Data()
        self.lock = threading.RLock()

    def write(self) -> MemoryUnitOfWork:
        """Open a writing unit of work; it holds the store's lock until it ends."""
        return MemoryUnitOfWork(self)

    def read(self) -> MemorySnapshot:
        """Open a snapshot."""
        return MemorySnapshot(self)

    def state(self) -> StoreState:
        """Return the store's state."""
        return self.data.state

    def ping(self) -> None:
        """Answer: memory is always there."""
