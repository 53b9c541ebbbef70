"""Use cases: ingest, prices, analytics, costs, report, pushes, prune, rebuild, refresh.

Each use case opens a unit of work on the store, drives the narrow repositories and the
pure domain, and commits. A write changes only the series its batch touches: the stored
aggregates move by what the batch adds or replaces. Reads of all stored data come from
those aggregates; a time window is computed set-wise from the raw observations. Both are
cached per data version, which every change advances.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TypeVar

from usagelens.cache import VersionedCache
from usagelens.documents import load_price_list
from usagelens.domain.analytics import AnalyticsRow, price_rows
from usagelens.domain.batch import UsageBatch, from_micros, to_micros
from usagelens.domain.distribution import SeriesStats
from usagelens.domain.errors import (
    InvalidInput,
    LeaseLost,
    NotConfigured,
    PolicyMismatch,
    PushEventError,
    SummaryFormatError,
)
from usagelens.domain.ids import LABEL_MAX, check_locator, check_name
from usagelens.domain.model import ALL_TIME, IngestResult, Observation, SeriesKey, Window
from usagelens.domain.money import CostSummary, DeletedCosts, deleted_costs, total_costs
from usagelens.domain.policy import Policy, policy_from_document
from usagelens.domain.prices import (
    MANUAL_ORIGIN,
    OriginPrices,
    PriceList,
    precedence,
    price_list_from_document,
    prices_in_force,
)
from usagelens.domain.push import (
    DEFAULT_LATENCY_BOUNDS,
    OVERFLOW_ENDPOINT,
    PushEvent,
    latency_bucket,
    parse_push_body,
)
from usagelens.domain.report import Report, build_report
from usagelens.domain.series import SeriesAggregate, SeriesMerge, merge
from usagelens.domain.summary import RecordsParser, SummaryParser, render_summary
from usagelens.domain.whatif import PolicyDiff, diff_policy
from usagelens.ports import (
    BatchRecord,
    Clock,
    PushState,
    PushTally,
    RefreshStatus,
    StoreState,
    TableSource,
    UnitOfWork,
    UnitOfWorkFactory,
    UsageSource,
)
from usagelens.pulls import PullOutcome, outcome_dict, pull_into

T = TypeVar("T")

PRUNE_SERIES_PER_TRANSACTION = 500
EXPORT_VERSION = 1
"""The format of ``UsageLens.export`` documents."""
INTERRUPTED = "interrupted by a shutdown: every batch stored is whole; the next refresh pulls again"
PRUNE_SLICE = timedelta(days=1)
"""A prune deletes at most this much of each series' history per transaction."""


def utc_now() -> datetime:
    """Return the current moment in UTC (the default clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class DataView:
    """Everything reads show for one window at one data version."""

    version: int
    window: Window
    stats: list[tuple[SeriesKey, SeriesStats]]
    rows: list[AnalyticsRow]

    @cached_property
    def costs(self) -> CostSummary:
        """Return the total cost per resource, per team and overall."""
        return total_costs(self.rows)

    @cached_property
    def deleted(self) -> DeletedCosts:
        """Return the money spent on what is to be deleted."""
        return deleted_costs(self.rows)


@dataclass(frozen=True, slots=True)
class MetricsState:
    """What a scrape shows beside the data: pushed events, counters, the last refresh."""

    push: PushState
    counters: dict[str, int]
    refresh: RefreshStatus | None


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What a prune removed."""

    observations: int
    series: int
    transactions: int


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What a rebuild recomputed."""

    series: int
    observations: int
    policy: str
    """The fingerprint of the policy now in force."""


class PayloadReader:
    """Take a summary chunk by chunk (text format or its JSON form) into a batch.

    ``json_form=None`` tells the forms apart by the first byte that is not whitespace.
    """

    def __init__(self, json_form: bool | None = None) -> None:
        self._json_form = json_form
        self._parser: SummaryParser | RecordsParser | None = None
        self._head = b""
        self._digest = hashlib.sha256()

    def feed(self, chunk: bytes) -> None:
        """Take the next piece of the payload."""
        self._digest.update(chunk)
        if self._parser is None:
            self._head += chunk
            start = self._head.lstrip()
            if not start and self._json_form is None:
                return
            if self._json_form is None:
                self._json_form = start[:1] == b"["
            self._parser = RecordsParser() if self._json_form else SummaryParser()
            chunk, self._head = self._head, b""
        self._parser.feed(chunk)

    def close(self) -> tuple[UsageBatch, str]:
        """Return the parsed batch and the payload's SHA-256 (raises SummaryFormatError)."""
        if self._parser is None:
            self._parser = RecordsParser() if self._json_form else SummaryParser()
            self._parser.feed(self._head)
        return self._parser.close(), self._digest.hexdigest()


class UsageLens:
    """The application: every use case the API and the CLI offer."""

    def __init__(
        self,
        store: UnitOfWorkFactory,
        *,
        policy: Policy | None = None,
        currency: str = "RUB",
        clock: Clock = utc_now,
        latency_bounds: Sequence[float] = DEFAULT_LATENCY_BOUNDS,
        max_endpoints: int = 100,
        window: timedelta | None = None,
        source_order: Sequence[str] = (),
    ) -> None:
        """Serve use cases on a store.

        ``policy`` is the policy this process was configured with; None follows the
        policy stored with the data (the default policy for a new store). ``window`` is
        the rolling window reads use when they name none (None: all stored data).
        ``source_order`` is the configured sources' order, which decides whose price
        list wins (a later source over an earlier one; see ``domain.prices.precedence``).
        """
        self.store = store
        self.configured_policy = policy
        self.currency = currency
        self.clock = clock
        self.latency_bounds = tuple(sorted(latency_bounds))
        self.max_endpoints = max_endpoints
        self.window = window
        self.source_order = tuple(source_order)
        self._cache = VersionedCache()
        self._stored_policy: tuple[str, Policy] | None = None

    # The policy in force -------------------------------------------------------------

    def policy_in_force(self, state: StoreState) -> Policy:
        """Return the policy verdicts are made under, refusing one that disagrees.

        A process configured with a policy that differs from the one the store's
        aggregates were built under raises PolicyMismatch: it must neither show nor
        write numbers made under another policy.
        """
        wanted = self.configured_policy
        if state.policy_fingerprint is None or state.policy_document is None:
            return wanted or Policy()
        if wanted is not None:
            if wanted.fingerprint != state.policy_fingerprint:
                raise PolicyMismatch(state.policy_fingerprint, wanted.fingerprint)
            return wanted
        cached = self._stored_policy
        if cached is None or cached[0] != state.policy_fingerprint:
            policy = policy_from_document(json.loads(state.policy_document))
            cached = self._stored_policy = (state.policy_fingerprint, policy)
        return cached[1]

    @property
    def policy(self) -> Policy:
        """Return the policy in force for the store as it is now."""
        with self.store() as uow:
            return self.policy_in_force(uow.state.get())

    def _writable(self, uow: UnitOfWork) -> Policy:
        """Check a write may proceed; adopt the policy into a store that has none."""
        state = uow.state.get()
        if state.stale:
            raise NotConfigured(
                "the stored aggregates predate this version of usagelens: "
                "run `usagelens rebuild` (serve and the CLI do it when they open the store)"
            )
        policy = self.policy_in_force(state)
        if state.policy_fingerprint is None:
            uow.state.set_policy(policy.fingerprint, json.dumps(policy.to_document()))
        return policy

    def prepare(self) -> RebuildResult | None:
        """Get the store ready to serve: check the policy, adopt it, rebuild if stale.

        Returns what a rebuild did, or None when none was needed.
        """
        with self.store() as uow:
            state = uow.state.get()
        if state.stale:
            return self.rebuild(self.configured_policy)
        self.policy_in_force(state)
        if state.policy_fingerprint is None:
            with self.store(write=True) as uow:
                self._writable(uow)
                uow.commit()
        return None

    # Ingest --------------------------------------------------------------------------

    def ingest(self, payload: bytes, *, source: str, json_form: bool | None = None) -> IngestResult:
        """Store a summary in either form, all or nothing.

        ``json_form=None`` tells the forms apart by content. A rejected payload stores
        nothing but is counted (``batches_rejected``).
        """
        reader = self.reader(json_form)
        try:
            reader.feed(payload)
        except InvalidInput:  # refused as it is read (not UTF-8, say): counted all the same
            self.count_rejected("batches_rejected")
            raise
        return self.ingest_read(reader, source=source)

    def reader(self, json_form: bool | None = None) -> PayloadReader:
        """Start reading a payload chunk by chunk (finish with ``ingest_read``)."""
        return PayloadReader(json_form)

    def ingest_read(self, reader: PayloadReader, *, source: str) -> IngestResult:
        """Parse what a reader took and store it; count it as rejected if malformed."""
        try:
            batch, sha256 = reader.close()
        except InvalidInput:
            self.count_rejected("batches_rejected")
            raise
        return self.store_batch(batch, sha256=sha256, source=source)

    def ingest_summary(self, payload: bytes, *, source: str) -> IngestResult:
        """Parse a summary in the module's text format and store it, all or nothing."""
        return self.ingest(payload, source=source, json_form=False)

    def ingest_observations(self, batch: Sequence[Observation], *, source: str) -> IngestResult:
        """Store observations read from a table source (already validated)."""
        sha256 = hashlib.sha256(render_summary(batch).encode()).hexdigest()
        return self.store_batch(UsageBatch.of(batch), sha256=sha256, source=source)

    def store_batch(self, batch: UsageBatch, *, sha256: str, source: str) -> IngestResult:
        """Store a parsed payload in one transaction, updating the series it touches.

        Every reading counts once: inserted, updated or duplicate. Only the keys the
        batch names are compared with the store, and only where a series' stored span
        could hold them (appending new times to a series needs no lookup).
        """
        if not batch.series:
            raise SummaryFormatError("payload is empty")
        check_name(source, "the batch's source label", LABEL_MAX)
        with self.store(write=True) as uow:
            policy = self._writable(uow)
            ids = uow.series.ensure(list(batch.series))
            aggregates = uow.series.load(set(ids.values()))
            if _stored_already(batch, aggregates.values(), uow.batches.version_of(sha256)):
                return self._record_resend(uow, batch, sha256, source)
            wanted = {
                ids[key]: readings.latest()
                for key, readings in batch.series.items()
                if _may_overlap(aggregates[ids[key]], readings.times)
            }
            differing = uow.observations.differing(wanted) if wanted else {}
            merges = {
                sid: merge(readings, differing.get(sid, {}), wanted[sid])
                if sid in wanted
                else merge(readings, None)
                for key, readings in batch.series.items()
                for sid in (ids[key],)
            }
            result = _result(batch, merges.values())
            uow.observations.insert((sid, t, u) for sid, m in merges.items() for t, u in m.inserts)
            uow.observations.replace((sid, t, u) for sid, m in merges.items() for t, u in m.updates)
            changed = [aggregates[sid] for sid, change in merges.items() if change.changed]
            version = uow.state.bump() if changed else uow.state.get().data_version
            for aggregate in changed:
                aggregate.add(merges[aggregate.id])
                aggregate.judge(policy)
                aggregate.version = version
            uow.series.save(changed)
            batch_id = uow.batches.add(BatchRecord(self.clock(), source, sha256, result, version))
            uow.counters.add(
                {
                    "batches_accepted": 1,
                    "observations_inserted": result.inserted,
                    "observations_updated": result.updated,
                    "observations_duplicate": result.duplicates,
                }
            )
            uow.commit()
        return IngestResult(
            batch_id, result.observations, result.inserted, result.updated,
            result.duplicates, result.teams, result.resources,
        )  # fmt: skip

    def _record_resend(
        self, uow: UnitOfWork, batch: UsageBatch, sha256: str, source: str
    ) -> IngestResult:
        """Record a payload known to hold exactly what is stored: all duplicates."""
        readings = batch.observations
        teams, resources = batch.teams, batch.resources
        result = IngestResult(0, readings, 0, 0, readings, teams, resources)
        version = uow.state.get().data_version
        batch_id = uow.batches.add(BatchRecord(self.clock(), source, sha256, result, version))
        uow.counters.add({"batches_accepted": 1, "observations_duplicate": readings})
        uow.commit()
        return IngestResult(batch_id, readings, 0, 0, readings, teams, resources)

    def count_rejected(self, name: str) -> None:
        """Count a refused payload (``batches_rejected``, ``push_rejected``)."""
        with self.store(write=True) as uow:
            uow.counters.add({name: 1})
            uow.commit()

    # Prices --------------------------------------------------------------------------

    def replace_prices(self, payload: bytes | str, *, origin: str = MANUAL_ORIGIN) -> PriceList:
        """Parse a price list (YAML or JSON) and make it the whole list of its origin.

        The default origin is the hand-set list; another origin is a source's URL (what
        ``collect --url`` sends, one list at a time from older clients).
        """
        check_locator(origin, "origin")
        price_list = load_price_list(payload)
        self.store_price_lists([OriginPrices(origin, price_list)])
        return price_list

    def store_price_lists(
        self, lists: Sequence[OriginPrices], *, fence: int | None = None
    ) -> list[str]:
        """Replace these origins' lists in one transaction and leave the others; return
        the origins whose list is now stored.

        An entry's ``updated_at`` is when it was fetched (None: now). A list fetched
        before the one stored for its origin is stale and left out, so a slow pull
        cannot overwrite a newer one. ``fence`` is a refresh's lease token: the whole
        write is refused (LeaseLost) once that lease has run out or been taken over.
        """
        for entry in lists:
            check_locator(entry.origin, "origin")
        now = self.clock()
        with self.store(write=True) as uow:
            self._writable(uow)
            if fence is not None and not uow.refresh.holds(fence):
                raise LeaseLost("the refresh lease ran out: its price lists were not stored")
            arrived = {entry.origin: entry.updated_at for entry in uow.prices.lists()}
            stored = []
            for entry in lists:
                at = entry.updated_at or now
                previous = arrived.get(entry.origin)
                if previous is not None and previous > at:
                    continue
                uow.prices.put_list(entry, at)
                stored.append(entry.origin)
            if stored:
                uow.state.bump()
                uow.commit()
        return stored

    def store_source_prices(self, lists: Sequence[OriginPrices]) -> list[str]:
        """Replace the lists of the sources that answered a refresh, in one transaction."""
        return self.store_price_lists(lists)

    def drop_prices(self, origin: str) -> bool:
        """Forget one origin's list (a retired source, or the hand-set list); tell if it was."""
        check_locator(origin, "origin")
        with self.store(write=True) as uow:
            self._writable(uow)
            dropped = uow.prices.drop_list(origin)
            if dropped:
                uow.state.bump()
                uow.commit()
        return dropped

    def prices(self, origin: str | None = None) -> PriceList:
        """Return the prices in force, or one origin's list (empty if it has none)."""
        if origin is not None:
            check_locator(origin, "origin")
        with self.store() as uow:
            lists = uow.prices.lists()
        if origin is None:
            return prices_in_force(lists, self.source_order)
        return next((e.prices for e in lists if e.origin == origin), PriceList({}))

    def price_lists(self) -> list[OriginPrices]:
        """Return every origin's list, the one that wins first (see ``precedence``)."""
        with self.store() as uow:
            return precedence(uow.prices.lists(), self.source_order)

    # Reads ---------------------------------------------------------------------------

    def resolve(self, window: Window | None = None) -> Window:
        """Return the window a read covers: the one named, else the configured default.

        A rolling default window starts on a whole minute, so that reads within the
        same minute share cached results.
        """
        if window is not None and window != ALL_TIME:
            return window
        if self.window is None:
            return ALL_TIME
        now = self.clock().replace(second=0, microsecond=0)
        return Window(since=now - self.window)

    def view(self, window: Window | None = None) -> DataView:
        """Return rows, statistics and money of a window, cached per data version.

        A warm read is one cheap query for the store's state; on a miss the view is
        computed in a read transaction and cached under the version read inside it.
        """
        window = self.resolve(window)
        state = self.store.state()
        self.policy_in_force(state)
        cached: DataView | None = self._cache.peek(("view", window), state.data_version)
        if cached is not None:
            return cached
        with self.store() as uow:
            state = uow.state.get()
            policy = self.policy_in_force(state)
            return self._cache.get(
                ("view", window),
                state.data_version,
                lambda: self._compute_view(uow, state.data_version, window, policy),
            )

    def _compute_view(
        self, uow: UnitOfWork, version: int, window: Window, policy: Policy
    ) -> DataView:
        prices = prices_in_force(uow.prices.lists(), self.source_order)
        if window == ALL_TIME:
            summaries = uow.series.summaries()
            stats = [(s.key, s.stats) for s in summaries]
            rows = price_rows(((s.key, s.verdict) for s in summaries), prices)
        else:
            keys = uow.series.keys()
            stats = [(keys[sid], d.stats()) for sid, d in uow.observations.distributions(window)]
            verdicts = ((key, policy.judge(s.count, s.mean, s.median)) for key, s in stats)
            rows = price_rows(verdicts, prices)
        return DataView(version, window, stats, rows)

    def rows(self, window: Window | None = None) -> list[AnalyticsRow]:
        """Return every analytics row of the window, classified and priced."""
        return self.view(window).rows

    def costs_total(self, window: Window | None = None) -> CostSummary:
        """Return total cost per resource, per team and overall."""
        return self.view(window).costs

    def costs_deleted(self, window: Window | None = None) -> DeletedCosts:
        """Return the money spent on what is to be deleted."""
        return self.view(window).deleted

    def report(self, window: Window | None = None) -> Report:
        """Return the full report of the window."""
        return self.report_of(self.view(window))

    def policy_diff(self, candidate: Policy, window: Window | None = None) -> PolicyDiff:
        """Tell which rows ``candidate`` would decide otherwise, and the money; store nothing."""
        return diff_policy(self.view(window).rows, candidate)

    def report_of(self, view: DataView) -> Report:
        """Return the full report of a view."""
        return build_report(view.rows, self.currency, self.clock(), view.window)

    def data_version(self) -> int:
        """Return the store's data version (it grows with every change)."""
        with self.store() as uow:
            return uow.state.get().data_version

    def cached(
        self, key: Hashable, compute: Callable[[DataView], T], window: Window | None = None
    ) -> T:
        """Return something derived from a window's view (a rendering), cached per version."""
        window = self.resolve(window)
        state = self.store.state()
        self.policy_in_force(state)
        hit: T | None = self._cache.peek((key, window), state.data_version)
        if hit is not None:
            return hit
        view = self.view(window)
        return self._cache.get((key, view.window), view.version, lambda: compute(view))

    def ready(self) -> None:
        """Raise StorageError unless the database answers."""
        self.store.ping()

    def metrics_state(self) -> MetricsState:
        """Read what a scrape shows besides the data: pushes, counters, last refresh."""
        with self.store() as uow:
            return MetricsState(uow.pushes.state(), uow.counters.all(), uow.refresh.status())

    def batches(self, limit: int = 20) -> list[BatchRecord]:
        """Return the newest ingest batches (the audit trail), newest first."""
        with self.store() as uow:
            return uow.batches.recent(limit)

    # Pushes --------------------------------------------------------------------------

    def parse_push(self, payload: bytes) -> list[PushEvent]:
        """Validate pushed request events (one object or a list); count a refusal."""
        try:
            return parse_push_body(payload)
        except PushEventError:
            self.count_rejected("push_rejected")
            raise

    def push(self, payload: bytes) -> int:
        """Count pushed request events in their own transaction; return how many."""
        events = self.parse_push(payload)
        self.record_pushes(events)
        return len(events)

    def record_pushes(self, events: Sequence[PushEvent]) -> int:
        """Count validated events in one transaction; return how many went to ``other``.

        Past ``max_endpoints`` distinct endpoints, events of new endpoints are counted
        under the endpoint ``other``.
        """
        with self.store(write=True) as uow:
            known = uow.pushes.endpoints()
            tally, overflow = _tally(events, known, self.latency_bounds, self.max_endpoints)
            uow.pushes.add(tally)
            if overflow:
                uow.counters.add({"push_endpoint_overflow": overflow})
            uow.commit()
        return overflow

    # Maintenance ---------------------------------------------------------------------

    def export(self) -> dict[str, object]:
        """Return everything stored, read in one transaction, as one plain document:
        observations in the summary text format, prices, pushed counts and the policy."""
        with self.store() as uow:
            state = uow.state.get()
            observations = [
                Observation(team, resource, dimension, from_micros(t), usage)
                for sid, (team, resource, dimension) in sorted(uow.series.keys().items())
                for t, usage in uow.observations.readings(sid)
            ]
            pushes = uow.pushes.state()
            lists = uow.prices.lists()
            return {
                "usagelens_export": EXPORT_VERSION,
                "exported_at": self.clock().isoformat(),
                "policy": json.loads(state.policy_document) if state.policy_document else None,
                "prices": prices_in_force(lists, self.source_order).to_document(),
                "price_lists": [
                    {
                        "origin": e.origin,
                        "updated_at": e.updated_at.isoformat() if e.updated_at else None,
                        **e.prices.to_document(),
                    }
                    for e in lists
                ],
                "pushes": {
                    "statuses": {str(s): n for s, n in pushes.statuses.items()},
                    "endpoints": {e: [t, n] for e, (t, n) in pushes.endpoints.items()},
                    "latency": pushes.latency,
                },
                "observations": render_summary(observations),
            }

    def import_(self, document: object) -> IngestResult:
        """Restore an ``export`` into an empty store: the same rows, money and metrics.

        Raises InvalidInput if the document is not an export, or the store is not empty.
        """
        if not isinstance(document, dict) or document.get("usagelens_export") != EXPORT_VERSION:
            raise InvalidInput(f"not a usagelens export (version {EXPORT_VERSION})")
        with self.store() as uow:
            if uow.observations.count() or uow.prices.lists() or uow.pushes.endpoints():
                raise InvalidInput("the store is not empty: import only into a new database")
        policy = policy_from_document(document["policy"]) if document.get("policy") else Policy()
        entries = _import_price_lists(document)
        text = str(document.get("observations") or "")
        result = self.ingest(text.encode(), source="import", json_form=False) if text else None
        self.store_price_lists(entries)
        pushes = document.get("pushes") or {}
        tally = PushTally()
        for status, count in (pushes.get("statuses") or {}).items():
            tally.statuses[int(status)] = int(count)
        for endpoint, (total, count) in (pushes.get("endpoints") or {}).items():
            tally.sums[endpoint], tally.counts[endpoint] = float(total), int(count)
        for endpoint, buckets in (pushes.get("latency") or {}).items():
            for label, count in buckets.items():
                tally.buckets[(endpoint, label)] = int(count)
        with self.store(write=True) as uow:
            uow.pushes.add(tally)
            uow.commit()
        self.rebuild(policy)
        return result or IngestResult(0, 0, 0, 0, 0, 0, 0)

    def rebuild(self, policy: Policy | None = None) -> RebuildResult:
        """Recompute every series' aggregates from the raw observations, in one transaction.

        ``policy`` becomes the policy in force (None: keep the stored one, or the
        default for a store without one). This is the explicit way to change policy.
        """
        with self.store(write=True) as uow:
            state = uow.state.get()
            if policy is None:
                policy = (
                    policy_from_document(json.loads(state.policy_document))
                    if state.policy_document
                    else Policy()
                )
            keys = uow.series.keys()
            aggregates = {sid: SeriesAggregate(sid, key) for sid, key in keys.items()}
            observations = 0
            for sid, distribution, first, last in uow.observations.all_distributions():
                aggregate = aggregates[sid]
                aggregate.distribution, aggregate.first, aggregate.last = distribution, first, last
                observations += distribution.count
            version = uow.state.bump()
            for aggregate in aggregates.values():
                aggregate.judge(policy)
                aggregate.version = version
            uow.series.save(aggregates.values())
            uow.state.set_policy(policy.fingerprint, json.dumps(policy.to_document()))
            uow.state.set_stale(False)
            uow.commit()
        self._cache.clear()
        return RebuildResult(len(aggregates), observations, policy.fingerprint)

    def prune(
        self, older_than: timedelta, progress: Callable[[int], None] | None = None
    ) -> PruneResult:
        """Delete observations collected more than ``older_than`` ago, in small transactions.

        Each transaction takes at most PRUNE_SERIES_PER_TRANSACTION series and one
        PRUNE_SLICE of their oldest history, so ingest is never held up for long; the
        aggregates of every touched series move by what was deleted and stay exact.
        ``progress`` sees the running count of deleted observations.
        """
        cutoff = to_micros(self.clock() - older_than)
        removed_total = series_total = transactions = 0
        slice_micros = to_micros(datetime(1970, 1, 1, tzinfo=UTC) + PRUNE_SLICE)
        while True:
            with self.store(write=True) as uow:
                policy = self._writable(uow)
                oldest = uow.series.oldest(cutoff, PRUNE_SERIES_PER_TRANSACTION)
                if not oldest:
                    break
                bound = min(cutoff, oldest[0][1] + slice_micros)
                ids = [sid for sid, first in oldest if first < bound]
                aggregates = uow.series.load(ids)
                removed = uow.observations.delete_before(ids, bound)
                count = 0
                version = uow.state.bump()
                for sid, (values, first, last) in removed.items():
                    aggregates[sid].remove(values, first, last)
                    aggregates[sid].judge(policy)
                    aggregates[sid].version = version
                    count += sum(values.values())
                uow.series.save(aggregates.values())
                uow.counters.add({"observations_pruned": count})
                uow.commit()
            removed_total += count
            series_total += len(ids)
            transactions += 1
            if progress is not None:
                progress(removed_total)
        return PruneResult(removed_total, series_total, transactions)

    # Refresh -------------------------------------------------------------------------

    def source_position(self, source: str) -> datetime | None:
        """Return how far a table source has been read."""
        check_locator(source, "source")
        with self.store() as uow:
            return uow.refresh.position(source)

    def set_source_position(
        self, source: str, position: datetime, *, fence: int | None = None
    ) -> None:
        """Move a table source's read position forward (refused once ``fence``'s lease is lost)."""
        check_locator(source, "source")
        with self.store(write=True) as uow:
            if fence is not None and not uow.refresh.holds(fence):
                raise LeaseLost("the refresh lease ran out: the read position was not moved")
            uow.refresh.set_position(source, position)
            uow.commit()

    def refresh_status(self) -> dict[str, object]:
        """Return the last refresh: started_at, finished_at, ok, failed, running, pulls."""
        with self.store() as uow:
            status = uow.refresh.status()
        if status is None:
            return {"running": False, "started_at": None, "finished_at": None,
                    "ok": 0, "failed": 0, "pulls": []}  # fmt: skip
        return {
            "running": status.holder is not None,
            "started_at": status.started_at,
            "finished_at": status.finished_at,
            "ok": status.ok,
            "failed": status.failed,
            "pulls": list(json.loads(status.outcome)) if status.outcome else [],
        }

    def _lease(self, holder: str, lease_seconds: float, min_interval: float | None) -> int | None:
        with self.store(write=True) as uow:
            token = uow.refresh.lease(holder, lease_seconds, min_interval)
            uow.commit()
        return token

    def _finish(self, token: int, outcomes: list[PullOutcome]) -> bool:
        ok = sum(o.ok for o in outcomes)
        record = json.dumps([outcome_dict(o) for o in outcomes], ensure_ascii=False)
        with self.store(write=True) as uow:
            finished = uow.refresh.finish(token, ok, len(outcomes) - ok, record)
            uow.commit()
        return finished

    async def refresh_exclusive(
        self,
        sources: Sequence[UsageSource],
        branches: Sequence[int],
        *,
        holder: str,
        tables: Sequence[TableSource] = (),
        min_interval: float | None = None,
        lease_seconds: float = 600.0,
        concurrency: int | None = None,
    ) -> list[PullOutcome] | None:
        """Refresh unless another process is refreshing (or one did within min_interval).

        Returns None when the lease was not taken; otherwise the outcomes, which are also
        recorded as the last refresh's state. The lease is fenced: once it has run out,
        this refresh can no longer replace price lists, move read positions or record its
        outcome (each summary it pulled is still stored whole, like any other ingest).
        """
        token = await asyncio.to_thread(self._lease, holder, lease_seconds, min_interval)
        if token is None:
            return None
        outcomes: list[PullOutcome] = []
        try:
            outcomes = await pull_into(
                FencedTarget(self, token), sources, branches, tables=tables,
                concurrency=concurrency,
            )  # fmt: skip
        except asyncio.CancelledError:  # shutting down: whole batches stay, the rest waits
            outcomes = [PullOutcome("", "refresh", None, False, INTERRUPTED)]
            raise
        finally:
            await asyncio.shield(asyncio.to_thread(self._finish, token, outcomes))
        return outcomes

    def series_readings(
        self, key: SeriesKey, window: Window | None = None
    ) -> list[tuple[datetime, float]]:
        """Return one series' observations within a window in time order (none if unknown)."""
        window = self.resolve(window)
        with self.store() as uow:
            ids = [sid for sid, known in uow.series.keys().items() if known == key]
            readings = uow.observations.readings(ids[0]) if ids else []
        since = None if window.since is None else to_micros(window.since)
        until = None if window.until is None else to_micros(window.until)
        return [
            (from_micros(t), usage)
            for t, usage in readings
            if (since is None or t >= since) and (until is None or t < until)
        ]


def _import_price_lists(document: dict[str, object]) -> list[OriginPrices]:
    """Read an export's price lists (or, from an older export, its one list as hand-set).

    A list keeps when it arrived. An export from before lists carried that time ranked
    them instead; the ranks become arrival times in the same order.
    """
    lists = document.get("price_lists")
    if not isinstance(lists, list) or not lists:
        old = price_list_from_document(document.get("prices") or {"values": {}})
        return [OriginPrices(MANUAL_ORIGIN, old)] if old.values else []
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    try:
        entries = []
        for entry in lists:
            arrived = entry.get("updated_at")
            if arrived is not None:
                at = datetime.fromisoformat(str(arrived))
                at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
            else:
                at = epoch + timedelta(seconds=int(entry.get("rank", 0)))
            values = price_list_from_document({"values": entry.get("values") or {}})
            entries.append(OriginPrices(check_locator(str(entry["origin"]), "origin"), values, at))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"price_lists: not a list of origin lists ({exc})") from None
    return entries


class FencedTarget:
    """The service as a refresh's target: its lasting writes hold only while its lease does."""

    def __init__(self, service: UsageLens, token: int) -> None:
        self._service = service
        self._token = token

    def ingest_summary(self, payload: bytes, *, source: str) -> IngestResult:
        """Store a pulled summary (whole or not at all, fenced or not: it is data)."""
        return self._service.ingest_summary(payload, source=source)

    def ingest_observations(self, batch: Sequence[Observation], *, source: str) -> IngestResult:
        """Store rows read from a table source."""
        return self._service.ingest_observations(batch, source=source)

    def store_source_prices(self, lists: Sequence[OriginPrices]) -> list[str]:
        """Replace the answering sources' lists while the lease holds."""
        return self._service.store_price_lists(lists, fence=self._token)

    def source_position(self, source: str) -> datetime | None:
        """Return how far a table source has been read."""
        return self._service.source_position(source)

    def set_source_position(self, source: str, position: datetime) -> None:
        """Move a table source's read position while the lease holds."""
        self._service.set_source_position(source, position, fence=self._token)


def _stored_already(
    batch: UsageBatch, aggregates: Iterable[SeriesAggregate], seen_at: int | None
) -> bool:
    """Tell whether a payload is one already stored, unchanged since, so all duplicates.

    True when a payload with the same SHA-256 was committed at data version ``seen_at``,
    none of the payload's series has changed since (each series records the version of
    its last change), and no time repeats within a series (a repeat counts as an update).
    Then every reading equals the stored value of its key, and nothing need be read.
    """
    if seen_at is None:
        return False
    if any(a.first is None or a.version > seen_at for a in aggregates):
        return False
    return not any(readings.repeats() for readings in batch.series.values())


def _may_overlap(aggregate: SeriesAggregate, times: Sequence[int]) -> bool:
    """Tell whether a series' stored span reaches any of these times."""
    if aggregate.first is None or aggregate.last is None or not times:
        return False
    return min(times) <= aggregate.last and max(times) >= aggregate.first


def _result(batch: UsageBatch, merges: Iterable[SeriesMerge]) -> IngestResult:
    inserted = updated = duplicates = 0
    for change in merges:
        inserted += change.inserted
        updated += change.updated
        duplicates += change.duplicates
    return IngestResult(
        0, batch.observations, inserted, updated, duplicates, batch.teams, batch.resources
    )


def _tally(
    events: Iterable[PushEvent], known: set[str], bounds: Sequence[float], max_endpoints: int
) -> tuple[PushTally, int]:
    """Sum events up by status, endpoint and latency bucket, capping distinct endpoints."""
    tally = PushTally()
    named = len(known - {OVERFLOW_ENDPOINT})
    overflow = 0
    for event in events:
        endpoint = event.endpoint
        if endpoint not in known:
            if named >= max_endpoints and endpoint != OVERFLOW_ENDPOINT:
                endpoint = OVERFLOW_ENDPOINT
                overflow += 1
            else:
                known.add(endpoint)
                named += endpoint != OVERFLOW_ENDPOINT
        tally.statuses[event.status] += 1
        tally.sums[endpoint] = tally.sums.get(endpoint, 0.0) + event.time
        tally.counts[endpoint] += 1
        tally.buckets[(endpoint, latency_bucket(event.time, bounds))] += 1
    return tally, overflow


__all__ = [
    "DataView",
    "FencedTarget",
    "MetricsState",
    "PayloadReader",
    "PruneResult",
    "RebuildResult",
    "UsageLens",
    "utc_now",
]
