"""The interfaces the use cases need; storage and sources implement them.

Storage is split by side. Writes go through a unit of work (``Store.write``): the use
case opens one, calls the narrow repositories it holds (one per aggregate: series,
observations, prices, pushes, counters, batches, the store's state, refresh
bookkeeping), and commits. Reads go through ``StoreQueries`` on a read-only snapshot
(``Store.read``), or on the unit of work's own transaction (``uow.read``). Nothing here
calls back into the domain; values crossing these ports are typed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import (
    AsyncIterator,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Protocol

from usagelens.domain.batch import UsageBatch
from usagelens.domain.distribution import Distribution
from usagelens.domain.model import Dimension, IngestResult, SeriesKey, Window
from usagelens.domain.prices import OriginPrices
from usagelens.domain.recommendations import Exclusion, StoredState
from usagelens.domain.series import SeriesAggregate, SeriesSummary

__all__ = [
    "BAD_ROWS_NAMED",
    "BatchRecord",
    "BatchRepository",
    "Clock",
    "CounterRepository",
    "ObservationRepository",
    "PriceRepository",
    "PullTarget",
    "PushRepository",
    "PushState",
    "PushTally",
    "RangeSource",
    "RecommendationEvent",
    "RecommendationRepository",
    "RefreshRepository",
    "RefreshStatus",
    "RowsBefore",
    "SeriesRepository",
    "SeriesSpan",
    "Snapshot",
    "SourcePage",
    "StateRepository",
    "Store",
    "StoreQueries",
    "StoreState",
    "TableSource",
    "UnitOfWork",
    "UsageSource",
]

Clock = Callable[[], datetime]
"""Return the current moment, aware and in UTC."""


@dataclass(frozen=True, slots=True)
class StoreState:
    """The store's version of its data and the policy its verdicts were made under."""

    data_version: int
    """Grows with every change a read could see (observations, prices, policy)."""
    policy_fingerprint: str | None
    policy_document: str | None
    """The policy in force, as JSON; None until the first write adopts one."""
    stale: bool
    """The aggregates must be rebuilt from the observations (after a schema upgrade)."""
    prices_version: int = 0
    """Grows with every change of a price list (a read re-reads prices only then)."""


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One accepted payload in the audit trail."""

    received_at: datetime
    source: str
    sha256: str
    result: IngestResult
    """Its counts; ``result.batch_id`` is the record's id once stored."""
    data_version: int | None = None
    """The store's data version once the payload was committed (None: not recorded)."""


@dataclass(frozen=True, slots=True)
class PushState:
    """Everything pushed so far: requests by status, latency per endpoint."""

    statuses: dict[int, int]
    endpoints: dict[str, tuple[float, int]]
    """Per endpoint: (sum of seconds, count)."""
    latency: dict[str, dict[str, int]]
    """Per endpoint: per bucket bound label, events in that bucket (not cumulative)."""


@dataclass(slots=True)
class PushTally:
    """Pushed events summed up, ready to be added to the stored counts in one go."""

    statuses: Counter[int] = field(default_factory=Counter)
    sums: dict[str, float] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    buckets: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(endpoint, bucket label) → events."""


@dataclass(frozen=True, slots=True)
class RefreshStatus:
    """The refresh lease and the last refresh's outcome."""

    holder: str | None
    lease_until: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    ok: int
    failed: int
    outcome: str | None
    """The pulls of the last refresh, as JSON."""


@dataclass(frozen=True, slots=True)
class RowsBefore:
    """The observations older than a time: how many, of how many series, and their span."""

    observations: int
    series: int
    oldest: int | None
    newest: int | None
    """Times of the oldest and newest of them, µs since the epoch (None: there are none)."""


@dataclass(frozen=True, slots=True)
class SeriesSpan:
    """A series' id, stored time span and when data last arrived for it (µs)."""

    id: int
    first: int | None
    last: int | None
    """Earliest and latest collected_at stored (the data's clock)."""
    last_arrival: int | None
    """When a write last added observations to it (the server's clock); None: never."""
    rewritten: int = 0
    """The data version of its last change other than appending after its latest time."""


@dataclass(frozen=True, slots=True)
class RecommendationEvent:
    """One change in a recommendation's history: its state, or its series' decision."""

    series_id: int
    at: datetime
    kind: str
    """``state`` or ``decision``."""
    before: str | None
    after: str
    reason: str
    by: str


class SeriesRepository(Protocol):
    """Series (team, resource, dimension) and the aggregates kept for each."""

    def ensure(self, keys: Collection[SeriesKey]) -> dict[SeriesKey, int]:
        """Return the id of every key, creating the series that do not exist yet."""
        ...

    def load(self, ids: Collection[int]) -> dict[int, SeriesAggregate]:
        """Return the aggregates of these series, locked until the unit of work ends."""
        ...

    def save(self, aggregates: Iterable[SeriesAggregate]) -> None:
        """Store aggregates (distribution, span, statistics and verdict)."""
        ...

    def oldest(self, micros: int, limit: int) -> list[tuple[int, int]]:
        """Return up to ``limit`` (id, earliest time) of series holding data older than a time.

        Oldest first.
        """
        ...


class ObservationRepository(Protocol):
    """Observations keyed by (series id, time in microseconds)."""

    def differing(
        self, wanted: Mapping[int, Mapping[int, float]]
    ) -> dict[int, dict[int, float | None]]:
        """Compare (series id → time → usage) with the store, set-wise.

        Returns per series the times whose stored usage differs from the one given:
        the stored usage, or None where the time is not stored. Equal keys are left out,
        so a re-sent payload comes back empty.
        """
        ...

    def insert(self, rows: Iterable[tuple[int, int, float]]) -> None:
        """Add (series id, time, usage) rows whose keys are not stored yet."""
        ...

    def replace(self, rows: Iterable[tuple[int, int, float]]) -> None:
        """Change the usage of stored (series id, time) keys."""
        ...

    def count_before(self, ids: Collection[int], micros: int) -> dict[int, tuple[int, int]]:
        """Return per series how many of its observations are older than a time, and the
        newest of those (series with none are left out)."""
        ...

    def nth_time(self, series_id: int, n: int) -> int | None:
        """Return the time of a series' n-th oldest observation (0: the oldest; None: fewer)."""
        ...

    def delete_before(
        self, ids: Collection[int], micros: int
    ) -> dict[int, tuple[Counter[float], int | None, int | None]]:
        """Delete these series' observations older than a time.

        Returns per series the removed usages (value → count) and the remaining span
        (earliest, latest; None when nothing remains).
        """
        ...


class PriceRepository(Protocol):
    """The price lists of every origin (the use cases merge them when they read)."""

    def put_list(self, entry: OriginPrices, at: datetime) -> None:
        """Make this the whole list of its origin, arrived at ``at``; other lists stay."""
        ...

    def drop_list(self, origin: str) -> bool:
        """Forget an origin's list; tell whether there was one."""
        ...


class PushRepository(Protocol):
    """Counts of pushed request events."""

    def endpoints(self) -> set[str]:
        """Return the endpoints counted so far."""
        ...

    def add(self, tally: PushTally) -> None:
        """Add a tally to the stored counts."""
        ...


class RecommendationRepository(Protocol):
    """The states people set, the history, exclusion rules and what digests posted."""

    def set_state(self, series_id: int, state: StoredState) -> None:
        """Store the state set for a series' recommendation (replacing one before)."""
        ...

    def clear_state(self, series_id: int) -> None:
        """Forget a series' stored state (it is active again)."""
        ...

    def add_events(self, events: Sequence[RecommendationEvent], *, keep: int) -> None:
        """Append to the history, keeping the newest ``keep`` events of each series."""
        ...

    def add_exclusion(
        self, team: str, resource: str, dimension: Dimension | None, reason: str, at: datetime
    ) -> int:
        """Store an exclusion rule; return its id."""
        ...

    def drop_exclusion(self, rule_id: int) -> bool:
        """Forget an exclusion rule; tell whether there was one."""
        ...

    def mark_digested(
        self, items: Sequence[tuple[str, str]], at: datetime
    ) -> list[tuple[str, str]]:
        """Remember (recommendation id, decision) pairs a digest posts; return those not
        marked before."""
        ...

    def unmark_digested(self, items: Sequence[tuple[str, str]]) -> None:
        """Forget pairs a digest could not post after all."""
        ...

    def clear_history(self) -> None:
        """Forget every event (an import then writes the exported ones)."""
        ...

    def set_arrivals(self, arrivals: Mapping[int, int], version: int) -> None:
        """Set series' last arrival times (µs), as an import restores them, as a change of
        those series at data ``version`` (so that what reads by changed version sees it)."""
        ...


class CounterRepository(Protocol):
    """Named counters (accepted and rejected batches, observations by outcome, …)."""

    def add(self, amounts: Mapping[str, int]) -> None:
        """Add to named counters, creating missing ones."""
        ...


class BatchRepository(Protocol):
    """The audit trail of accepted payloads."""

    def add(self, record: BatchRecord) -> int:
        """Store a batch record; return its id."""
        ...

    def version_of(self, sha256: str) -> int | None:
        """Return the newest data version at which a payload with this digest was stored."""
        ...

    def unchanged_since(self, sha256: str, data_version: int) -> IngestResult | None:
        """Return the counts of a payload with this digest stored at ``data_version`` that
        updated nothing (so held no time twice with two values), or None if there is none."""
        ...


class StateRepository(Protocol):
    """The store's data version and policy in force."""

    def get(self) -> StoreState:
        """Return the store's state."""
        ...

    def bump(self) -> int:
        """Advance the data version (in the writing transaction); return the new one."""
        ...

    def set_policy(self, fingerprint: str, document: str) -> None:
        """Record the policy the verdicts are now made under."""
        ...

    def set_stale(self, stale: bool) -> None:
        """Mark the aggregates as needing a rebuild, or as rebuilt."""
        ...


class RefreshRepository(Protocol):
    """The refresh lease, the last refresh's outcome and table sources' read positions.

    Lease times come from the store's own clock, so that processes on hosts whose clocks
    disagree still agree on whether a lease has run out.
    """

    def lease(self, holder: str, lease_seconds: float, min_interval: float | None) -> int | None:
        """Take the lease unless another holder has it or a refresh ran too recently.

        Returns the lease's fencing token (it grows with every lease taken), or None.
        """
        ...

    def holds(self, token: int) -> bool:
        """Tell whether the lease with this token is still held and has not run out."""
        ...

    def finish(self, token: int, ok: int, failed: int, outcome: str) -> bool:
        """Record a refresh's outcome and release its lease, unless the lease was lost.

        Returns False, recording nothing, when the token's lease ran out or was taken over.
        """
        ...

    def set_position(self, source: str, position: datetime) -> None:
        """Move a table source's read position forward (never back)."""
        ...


class StoreQueries(Protocol):
    """The read side: every query the read model asks, within one snapshot.

    Opened on its own by ``Store.read`` (a read-only snapshot), or inside a writing unit
    of work as ``uow.read`` for the reads a write needs.
    """

    def state(self) -> StoreState:
        """Return the store's state."""
        ...

    def summaries_changed(self, after: int) -> list[tuple[int, SeriesSummary | None]]:
        """Return, by id, every series changed at a data version after ``after``: its
        summary, or None for one that holds no observations now; ``-1`` gives every series."""
        ...

    def keys(self) -> dict[int, SeriesKey]:
        """Return every series' key by id."""
        ...

    def distributions(
        self, window: Window, after: int = -1, only: Collection[int] | None = None
    ) -> Iterator[tuple[int, Distribution]]:
        """Yield the distribution of usages within a window of every series changed at a
        data version after ``after`` (every series by default), or only of the ids in
        ``only`` (which must be among those) when it is given that has any there."""
        ...

    def appended(self, window: Window, after: Mapping[int, int]) -> dict[int, list[float]]:
        """Return, per series named, the usages within a window of its observations
        collected later than the time (µs) given for it; series with none are left out."""
        ...

    def all_distributions(self) -> Iterator[tuple[int, Distribution, int, int]]:
        """Yield (series id, distribution, earliest, latest) of every series from raw rows."""
        ...

    def readings(self, series_id: int) -> list[tuple[int, float]]:
        """Return one series' (time, usage) in time order."""
        ...

    def observation_count(self) -> int:
        """Return how many observations are stored."""
        ...

    def rows_before(self, micros: int) -> RowsBefore:
        """Count the observations collected before a time (what a prune would remove)."""
        ...

    def price_lists(self) -> list[OriginPrices]:
        """Return every origin's price list, with when it arrived."""
        ...

    def push_state(self) -> PushState:
        """Return every pushed count."""
        ...

    def counters(self) -> dict[str, int]:
        """Return every named counter."""
        ...

    def batches(self, limit: int = 20) -> list[BatchRecord]:
        """Return the newest ingest records, newest first."""
        ...

    def unchanged_since(self, sha256: str, data_version: int) -> IngestResult | None:
        """As ``BatchRepository.unchanged_since``, on this snapshot (no write lock)."""
        ...

    def refresh_status(self) -> RefreshStatus | None:
        """Return the refresh lease and last outcome, None before the first refresh."""
        ...

    def position(self, source: str) -> datetime | None:
        """Return how far a table source has been read."""
        ...

    def spans(self, after: int = -1) -> dict[SeriesKey, SeriesSpan]:
        """Return the id, stored span and last arrival, by key, of every series changed at
        a data version after ``after`` (every series by default; an index range)."""
        ...

    def recommendation_states(self) -> dict[int, StoredState]:
        """Return the states people set, by series id."""
        ...

    def recommendation_events(self, series_id: int) -> list[RecommendationEvent]:
        """Return a series' history, oldest first."""
        ...

    def exclusions(self) -> list[Exclusion]:
        """Return every exclusion rule, in the order they were made."""
        ...

    def digested(self) -> set[tuple[str, str]]:
        """Return the (recommendation id, decision) pairs digests have posted."""
        ...


class UnitOfWork(Protocol):
    """The write side: one transaction over every repository, rolled back unless committed."""

    @property
    def series(self) -> SeriesRepository: ...

    @property
    def observations(self) -> ObservationRepository: ...

    @property
    def prices(self) -> PriceRepository: ...

    @property
    def pushes(self) -> PushRepository: ...

    @property
    def counters(self) -> CounterRepository: ...

    @property
    def batches(self) -> BatchRepository: ...

    @property
    def state(self) -> StateRepository: ...

    @property
    def refresh(self) -> RefreshRepository: ...

    @property
    def recommendations(self) -> RecommendationRepository: ...

    @property
    def read(self) -> StoreQueries:
        """Return the read side within this transaction (it sees this unit's own writes)."""
        ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None:
        """Make everything done in this unit of work durable."""
        ...


class Snapshot(Protocol):
    """A reading transaction: entered, it gives the store's queries on one snapshot."""

    def __enter__(self) -> StoreQueries: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class Store(Protocol):
    """Open units of work (writes) and snapshots (reads) on one store."""

    def write(self) -> UnitOfWork:
        """Open a writing unit of work; it takes the store's write lock at its start."""
        ...

    def read(self) -> Snapshot:
        """Open a read-only snapshot: every query in it sees the same committed state."""
        ...

    def state(self) -> StoreState:
        """Read the store's state on its own, cheaply (the check before a cached read)."""
        ...

    def ping(self) -> None:
        """Raise StorageUnavailable unless the store answers."""
        ...


BAD_ROWS_NAMED = 5
"""Bad rows (or series) of a positioned source named in its outcome (all are counted)."""


@dataclass(frozen=True, slots=True)
class SourcePage:
    """One page read from a positioned source (a table, a PromQL server): its valid
    readings as a batch, and what was refused or corrected on the way."""

    batch: UsageBatch
    bad: int = 0
    """Rows or series refused (skipped)."""
    problems: tuple[str, ...] = ()
    """What was wrong with the first few of them (at most BAD_ROWS_NAMED)."""
    clamped: int = 0
    """Values outside 0..100 brought to the nearest bound (rate artefacts)."""
    position: datetime | None = None
    """Where the source has been read to once this page is stored (None: it does not
    move, e.g. a page that holds one dimension of a step range whose others are to come)."""


class TableSource(Protocol):
    """A table of observations read incrementally (the course's usage_stats.resources)."""

    name: str

    def pages(self, position: datetime | None) -> Iterator[SourcePage]:
        """Yield the rows collected from a position (less the source's lookback), in pages
        of bounded size, validated row by row (all rows when None)."""
        ...


class RangeSource(Protocol):
    """A time-series database read step by step from a position (a PromQL HTTP API)."""

    name: str

    def pages(self, position: datetime | None) -> AsyncIterator[SourcePage]:
        """Yield the readings of every step from a position (the last step stored, read
        again for late samples), in pages of bounded size."""
        ...


class PullTarget(Protocol):
    """Where pulled data lands: the local store, or a server reached over HTTP."""

    def ingest_summary(self, payload: bytes, *, source: str) -> IngestResult: ...

    def ingest_batch(self, batch: UsageBatch, *, source: str, clamped: int = 0) -> IngestResult:
        """Store readings a source gave already parsed (a table's rows, PromQL samples);
        ``clamped`` of them were brought into 0..100 (counted with the batch)."""
        ...

    def store_source_prices(self, lists: Sequence[OriginPrices]) -> list[str]:
        """Replace the lists of the sources that answered, all in one go; return the
        origins stored (a list fetched before the one stored is left out)."""
        ...

    def source_position(self, source: str) -> datetime | None: ...

    def set_source_position(self, source: str, position: datetime) -> None: ...


class UsageSource(Protocol):
    """A course-compatible monitoring source (SPEC 1.3)."""

    @property
    def name(self) -> str:
        """Return a name for reports and the audit trail (its base URL)."""
        ...

    async def fetch_summary(self, branch: int) -> bytes:
        """Return a branch's usage summary as sent."""
        ...

    async def fetch_prices(self) -> bytes:
        """Return the source's price list as sent."""
        ...
