"""Use cases: ingest, prices, analytics, costs, report and refresh, over domain and ports."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from usagelens.documents import load_price_list
from usagelens.domain.analytics import AnalyticsRow, analyse
from usagelens.domain.errors import InvalidInput, PushEventError, SummaryFormatError, UsageLensError
from usagelens.domain.model import ALL_TIME, IngestResult, Observation, SeriesKey, Window
from usagelens.domain.money import CostSummary, DeletedCosts, deleted_costs, total_costs
from usagelens.domain.policy import Policy
from usagelens.domain.prices import PriceList, merge_price_lists
from usagelens.domain.push import DEFAULT_LATENCY_BOUNDS, parse_push_events
from usagelens.domain.report import Report, build_report, row_from_dict
from usagelens.domain.snapshot import (
    EMPTY_SNAPSHOT,
    Snapshot,
    build_snapshot,
    snapshot_from_json,
    snapshot_to_json,
)
from usagelens.domain.summary import parse_records, parse_summary_bytes, render_summary
from usagelens.ports import (
    Clock,
    PullTarget,
    PushState,
    Repository,
    TableSource,
    UsageSource,
)


def utc_now() -> datetime:
    """Return the current moment in UTC (the default clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class MetricsState:
    """What a scrape shows: the snapshot, pushed events and counters, as stored."""

    snapshot: Snapshot
    version: int
    computed_at: datetime | None
    push: PushState
    counters: dict[str, int]
    refresh: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PullOutcome:
    """What one pull of a refresh did: usage of one branch, or a source's prices."""

    source: str
    kind: str
    """``usage`` or ``prices``."""
    branch: int | None
    ok: bool
    detail: str
    result: IngestResult | None = None


class UsageLens:
    """The application: every use case the API and the CLI offer."""

    def __init__(
        self,
        repository: Repository,
        *,
        policy: Policy | None = None,
        currency: str = "RUB",
        clock: Clock = utc_now,
        latency_bounds: Sequence[float] = DEFAULT_LATENCY_BOUNDS,
        max_endpoints: int = 100,
    ) -> None:
        self.repository = repository
        self.policy = policy or Policy()
        self.currency = currency
        self.clock = clock
        self.latency_bounds = tuple(sorted(latency_bounds))
        self.max_endpoints = max_endpoints

    def ingest_summary(self, payload: bytes, *, source: str) -> IngestResult:
        """Parse a summary in the module's text format and store it, all or nothing."""
        return self._store(parse_summary_bytes(payload), payload, source)

    def ingest_json(self, payload: bytes, *, source: str) -> IngestResult:
        """Parse the JSON form of a summary (a list of observations) and store it."""
        try:
            document = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SummaryFormatError(f"payload is not valid JSON ({exc})") from None
        return self._store(parse_records(document), payload, source)

    def ingest(self, payload: bytes, *, source: str, json_form: bool | None = None) -> IngestResult:
        """Store a summary in either form; ``json_form=None`` tells them apart by content.

        A rejected payload stores nothing but is counted (``batches_rejected``).
        """
        if json_form is None:
            json_form = payload.lstrip()[:1] == b"["
        try:
            if json_form:
                return self.ingest_json(payload, source=source)
            return self.ingest_summary(payload, source=source)
        except InvalidInput:
            self.repository.increment("batches_rejected")
            raise

    def _store(self, batch: Sequence[Observation], payload: bytes, source: str) -> IngestResult:
        return self.repository.store_observations(
            batch,
            source=source,
            sha256=hashlib.sha256(payload).hexdigest(),
            received_at=self.clock(),
            rebuild=self._snapshot,
        )

    def _snapshot(self, series: list[tuple[SeriesKey, list[float]]], prices: PriceList) -> str:
        return snapshot_to_json(build_snapshot(series, self.policy, prices))

    def replace_prices(self, payload: bytes | str) -> PriceList:
        """Parse a price list (YAML or JSON) and make it the whole stored list."""
        price_list = load_price_list(payload)
        self.repository.replace_prices(price_list, rebuild=self._snapshot)
        return price_list

    def rebuild_snapshot(self) -> None:
        """Rebuild what scrapes show from all stored data (at start-up, after a policy change)."""
        self.repository.rebuild_snapshot(self._snapshot)

    def push(self, payload: bytes) -> int:
        """Count pushed request events (one object or a list); all or nothing.

        Returns how many events were counted.
        """
        try:
            document = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self.repository.increment("push_rejected")
            raise PushEventError(f"body is not valid JSON ({exc})") from None
        try:
            events = parse_push_events(document)
        except PushEventError:
            self.repository.increment("push_rejected")
            raise
        self.repository.record_push(events, self.latency_bounds, self.max_endpoints)
        return len(events)

    def refresh_status(self) -> dict[str, Any]:
        """Return the last refresh: started_at, finished_at, ok, failed, running, pulls."""
        status = self.repository.refresh_status() or {}
        outcome = status.get("outcome")
        return {
            "running": status.get("holder") is not None,
            "started_at": status.get("started_at"),
            "finished_at": status.get("finished_at"),
            "ok": status.get("ok", 0),
            "failed": status.get("failed", 0),
            "pulls": list(json.loads(outcome)) if outcome else [],
        }

    def metrics_state(self) -> MetricsState:
        """Read what a scrape shows; nothing is recomputed from raw rows."""
        stored = self.repository.snapshot()
        return MetricsState(
            snapshot=snapshot_from_json(stored.payload) if stored else EMPTY_SNAPSHOT,
            version=stored.version if stored else 0,
            computed_at=stored.computed_at if stored else None,
            push=self.repository.push_state(),
            counters=self.repository.counters(),
            refresh=self.repository.refresh_status(),
        )

    def prices(self) -> PriceList:
        """Return the stored price list."""
        return self.repository.prices()

    def rows(self, window: Window = ALL_TIME) -> list[AnalyticsRow]:
        """Return every analytics row of the window, classified and priced.

        Over all stored data the rows come from the snapshot that every write keeps
        current; a narrower window computes them from the raw observations.
        """
        if window == ALL_TIME:
            stored = self.repository.snapshot()
            if stored is not None:
                return [row_from_dict(row) for row in snapshot_from_json(stored.payload).rows]
        return analyse(self.repository.series(window), self.policy, self.repository.prices())

    def costs_total(self, window: Window = ALL_TIME) -> CostSummary:
        """Return total cost per resource, per team and overall."""
        return total_costs(self.rows(window))

    def costs_deleted(self, window: Window = ALL_TIME) -> DeletedCosts:
        """Return the money spent on what is to be deleted."""
        return deleted_costs(self.rows(window))

    def report(self, window: Window = ALL_TIME) -> Report:
        """Return the full report of the window."""
        return build_report(self.rows(window), self.currency, self.clock(), window)

    def ready(self) -> None:
        """Raise StorageError unless the database answers."""
        self.repository.ping()

    def ingest_observations(self, batch: Sequence[Observation], *, source: str) -> IngestResult:
        """Store observations read from a table source (already validated)."""
        return self._store(batch, render_summary(batch).encode(), source)

    def store_prices(self, price_list: PriceList) -> None:
        """Make a validated price list the whole stored list."""
        self.repository.replace_prices(price_list, rebuild=self._snapshot)

    def source_position(self, source: str) -> datetime | None:
        """Return how far a table source has been read."""
        return self.repository.source_position(source)

    def set_source_position(self, source: str, position: datetime) -> None:
        """Move a table source's read position forward."""
        self.repository.set_source_position(source, position)

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
        recorded as the last refresh's state.
        """
        taken = await asyncio.to_thread(
            self.repository.lease_refresh, holder, self.clock(), lease_seconds, min_interval
        )
        if not taken:
            return None
        outcomes: list[PullOutcome] = []
        try:
            outcomes = await pull_into(
                self, sources, branches, tables=tables, concurrency=concurrency
            )
        finally:
            ok = sum(o.ok for o in outcomes)
            record = json.dumps([_outcome_dict(o) for o in outcomes], ensure_ascii=False)
            await asyncio.to_thread(
                self.repository.finish_refresh,
                holder,
                self.clock(),
                ok,
                len(outcomes) - ok,
                record,
            )
        return outcomes


async def pull_into(
    target: PullTarget,
    sources: Sequence[UsageSource],
    branches: Sequence[int],
    *,
    tables: Sequence[TableSource] = (),
    concurrency: int | None = None,
    progress: Callable[[PullOutcome], None] | None = None,
) -> list[PullOutcome]:
    """Pull every branch and the prices of every source, and every table, concurrently.

    At most ``concurrency`` pulls are in flight (None: all at once). Each branch's
    summary is its own batch: one that fails is reported and the rest still land.
    Price lists are merged in source order (the later source wins) and replace the
    stored list if at least one source answered. Tables are read from where the last
    read stopped. ``progress`` sees each outcome as it happens.
    """
    jobs = len(sources) * (len(branches) + 1) + len(tables)
    gate = asyncio.Semaphore(concurrency or jobs or 1)

    def report(outcome: PullOutcome) -> PullOutcome:
        if progress is not None:
            progress(outcome)
        return outcome

    async def usage(source: UsageSource, branch: int) -> PullOutcome:
        async with gate:
            try:
                payload = await source.fetch_summary(branch)
                result = await asyncio.to_thread(
                    target.ingest_summary, payload, source=f"{source.name} branch {branch}"
                )
            except UsageLensError as exc:
                return report(PullOutcome(source.name, "usage", branch, False, _describe(exc)))
        return report(PullOutcome(source.name, "usage", branch, True, _counts(result), result))

    async def table(source: TableSource) -> PullOutcome:
        async with gate:
            try:
                position = await asyncio.to_thread(target.source_position, source.name)
                batch = await asyncio.to_thread(source.fetch_since, position)
                if not batch:
                    return report(PullOutcome(source.name, "usage", None, True, "no new rows"))
                result = await asyncio.to_thread(
                    target.ingest_observations, batch, source=source.name
                )
                newest = max(obs.collected_at for obs in batch)
                await asyncio.to_thread(target.set_source_position, source.name, newest)
            except UsageLensError as exc:
                return report(PullOutcome(source.name, "usage", None, False, _describe(exc)))
        return report(PullOutcome(source.name, "usage", None, True, _counts(result), result))

    async def prices(source: UsageSource) -> PriceList | str:
        async with gate:
            try:
                return load_price_list(await source.fetch_prices())
            except UsageLensError as exc:
                return _describe(exc)

    usage_pulls = asyncio.gather(
        *(usage(s, b) for s in sources for b in branches), *(table(t) for t in tables)
    )
    price_pulls = asyncio.gather(*(prices(s) for s in sources))
    usage_outcomes, price_results = await asyncio.gather(usage_pulls, price_pulls)
    outcomes = list(usage_outcomes)
    lists = list(zip(sources, price_results, strict=True))
    fetched = [r for _, r in lists if isinstance(r, PriceList)]
    if fetched:
        try:
            await asyncio.to_thread(target.store_prices, merge_price_lists(fetched))
        except UsageLensError as exc:
            lists = [(s, r if isinstance(r, str) else f"storing prices: {exc}") for s, r in lists]
    for source, result in lists:
        if isinstance(result, PriceList):
            detail = f"{len(result.values)} resources priced"
            outcomes.append(report(PullOutcome(source.name, "prices", None, True, detail)))
        else:
            outcomes.append(report(PullOutcome(source.name, "prices", None, False, result)))
    return outcomes


def _counts(result: IngestResult) -> str:
    return (
        f"{result.observations} observations: {result.inserted} inserted, "
        f"{result.updated} updated, {result.duplicates} duplicates"
    )


def _outcome_dict(outcome: PullOutcome) -> dict[str, object]:
    return {
        "source": outcome.source,
        "kind": outcome.kind,
        "branch": outcome.branch,
        "ok": outcome.ok,
        "detail": outcome.detail,
    }


def _describe(exc: UsageLensError) -> str:
    url = getattr(exc, "url", None)
    return f"{url}: {exc}" if url else str(exc)
