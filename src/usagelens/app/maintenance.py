"""Maintenance: getting a store ready, rebuilding under a policy, retention, export and import."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from usagelens.app.ingest import Ingest, PayloadReader
from usagelens.app.policy import PolicyGuard
from usagelens.app.prices import Prices
from usagelens.app.queries import Queries
from usagelens.app.recommendations import export_document, record_decisions, restore_document
from usagelens.domain.batch import from_micros, to_micros
from usagelens.domain.errors import InvalidInput
from usagelens.domain.ids import check_locator
from usagelens.domain.model import IngestResult, Observation
from usagelens.domain.policy import Policy, policy_from_document
from usagelens.domain.prices import (
    MANUAL_ORIGIN,
    OriginPrices,
    price_list_from_document,
    prices_in_force,
)
from usagelens.domain.series import SeriesAggregate
from usagelens.domain.summary import render_summary
from usagelens.domain.times import as_utc
from usagelens.ports import Clock, PushTally, Store, StoreQueries, UnitOfWork

EXPORT_VERSION = 1
"""The format of ``Maintenance.export`` documents."""
PRUNE_ROWS_PER_TRANSACTION = 100_000
"""A prune deletes at most this many observations per transaction."""
_PRUNE_COUNT_CHUNK = 1000
"""Series whose old observations are counted at a time while a prune step fills up."""


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What a prune removed, or what it would remove (``prune_plan``: no transactions)."""

    observations: int
    series: int
    """Distinct series that lost observations."""
    transactions: int
    cutoff: datetime
    """Observations collected before this moment go."""
    oldest: datetime | None
    newest: datetime | None
    """When the oldest and the newest of the observations that go were collected."""


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What an ``export`` document holds, and whether the store can take it."""

    observations: int
    series: int
    price_lists: dict[str, int]
    """Resources priced, per origin."""
    pushes: int
    """Pushed request events counted."""
    store_empty: bool
    """Only an empty store takes an import."""


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What a rebuild recomputed."""

    series: int
    observations: int
    policy: str
    """The fingerprint of the policy now in force."""


class Maintenance:
    """Whole-store work: prepare, rebuild, prune, export and import."""

    def __init__(
        self,
        store: Store,
        guard: PolicyGuard,
        clock: Clock,
        *,
        ingest: Ingest,
        prices: Prices,
        queries: Queries,
    ) -> None:
        self.store = store
        self.guard = guard
        self.clock = clock
        self._ingest = ingest
        self._prices = prices
        self._queries = queries

    def prepare(self) -> RebuildResult | None:
        """Get the store ready to serve: check the policy, adopt it, rebuild if stale.

        Returns what a rebuild did, or None when none was needed.
        """
        state = self.store.state()
        if state.stale:
            return self.rebuild(self.guard.configured)
        self.guard.in_force(state)
        if state.policy_fingerprint is None:
            with self.store.write() as uow:
                self.guard.writable(uow)
                uow.commit()
        return None

    def rebuild(self, policy: Policy | None = None) -> RebuildResult:
        """Recompute every series' aggregates from the raw observations, in one transaction.

        ``policy`` becomes the policy in force (None: keep the stored one, or the
        default for a store without one). This is the explicit way to change policy.
        """
        with self.store.write() as uow:
            state = uow.state.get()
            if policy is None:
                policy = (
                    policy_from_document(json.loads(state.policy_document))
                    if state.policy_document
                    else Policy()
                )
            spans = uow.read.spans()
            changed = uow.read.summaries_changed(-1)  # every series
            before = {s.key: s.verdict.decision for _, s in changed if s is not None}
            aggregates = {
                span.id: SeriesAggregate(
                    span.id, key, stored_decision=before.get(key), last_arrival=span.last_arrival
                )
                for key, span in spans.items()
            }
            observations = 0
            for sid, distribution, first, last in uow.read.all_distributions():
                aggregate = aggregates[sid]
                aggregate.distribution, aggregate.first, aggregate.last = distribution, first, last
                observations += distribution.count
            version = uow.state.bump()
            for aggregate in aggregates.values():
                aggregate.judge(policy)
                aggregate.version = aggregate.rewritten = version
            record_decisions(uow, aggregates.values(), self.clock())
            uow.series.save(aggregates.values())
            uow.state.set_policy(policy.fingerprint, json.dumps(policy.to_document()))
            uow.state.set_stale(False)
            uow.commit()
        self._queries.forget()
        return RebuildResult(len(aggregates), observations, policy.fingerprint)

    # Retention -----------------------------------------------------------------------

    def prune_plan(self, older_than: timedelta) -> PruneResult:
        """Tell what ``prune(older_than)`` would delete now, changing nothing."""
        cutoff = self.clock() - older_than
        with self.store.read() as queries:
            rows = queries.rows_before(to_micros(cutoff))
        return PruneResult(
            rows.observations, rows.series, 0, cutoff, _moment(rows.oldest), _moment(rows.newest)
        )

    def prune(
        self,
        older_than: timedelta,
        progress: Callable[[int], None] | None = None,
        *,
        rows_per_transaction: int = PRUNE_ROWS_PER_TRANSACTION,
    ) -> PruneResult:
        """Delete observations collected more than ``older_than`` ago (see ``prune_before``)."""
        return self.prune_before(
            self.clock() - older_than, progress, rows_per_transaction=rows_per_transaction
        )

    def prune_before(
        self,
        cutoff: datetime,
        progress: Callable[[int], None] | None = None,
        *,
        rows_per_transaction: int = PRUNE_ROWS_PER_TRANSACTION,
    ) -> PruneResult:
        """Delete the observations collected before ``cutoff``, in bounded transactions.

        Each transaction deletes at most ``rows_per_transaction`` observations: whole old
        histories of the series whose stored span starts earliest, or a slice of one series
        that alone holds more. A prune of an hour of every series is one transaction. The
        aggregates of every touched series move by what was deleted and stay exact; each
        transaction advances the data version once. ``progress`` sees the running count.
        """
        before = to_micros(cutoff)
        removed_total = transactions = 0
        touched: set[int] = set()
        oldest: int | None = None
        newest: int | None = None
        while True:
            with self.store.write() as uow:
                policy = self.guard.writable(uow)
                step = _prune_step(uow, before, rows_per_transaction)
                if step is None:
                    break
                ids, bound, step_newest = step
                aggregates = uow.series.load(ids)
                if oldest is None:
                    oldest = min(a.first for a in aggregates.values() if a.first is not None)
                removed = uow.observations.delete_before(ids, bound)
                count = 0
                version = uow.state.bump()
                for sid, (values, first, last) in removed.items():
                    aggregates[sid].remove(values, first, last, version)
                    aggregates[sid].judge(policy)
                    count += sum(values.values())
                record_decisions(uow, aggregates.values(), self.clock())
                uow.series.save(aggregates.values())
                uow.counters.add({"observations_pruned": count})
                uow.commit()
            removed_total += count
            touched.update(ids)
            transactions += 1
            if step_newest is not None:
                newest = step_newest if newest is None else max(newest, step_newest)
            if progress is not None:
                progress(removed_total)
        return PruneResult(
            removed_total, len(touched), transactions, cutoff, _moment(oldest), _moment(newest)
        )

    # Export and import ---------------------------------------------------------------

    def export(self) -> dict[str, object]:
        """Return everything stored, read in one snapshot, as one plain document:
        observations in the summary text format, price lists, pushed counts and the policy."""
        with self.store.read() as queries:
            state = queries.state()
            observations = [
                Observation(team, resource, dimension, from_micros(t), usage)
                for sid, (team, resource, dimension) in sorted(queries.keys().items())
                for t, usage in queries.readings(sid)
            ]
            pushes = queries.push_state()
            recommendations = export_document(queries)
            lists = queries.price_lists()
        return {
            "usagelens_export": EXPORT_VERSION,
            "exported_at": self.clock().isoformat(),
            "policy": json.loads(state.policy_document) if state.policy_document else None,
            "prices": prices_in_force(lists, self._prices.source_order).to_document(),
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
            "recommendations": recommendations,
        }

    def import_plan(self, document: object) -> ImportPlan:
        """Read an ``export`` as ``import_`` would, storing nothing: what it holds, and
        whether the store is empty. Raises InvalidInput where ``import_`` would."""
        export = _export_document(document)
        text = str(export.get("observations") or "")
        observations = series = 0
        if text:
            reader = PayloadReader(json_form=False)
            reader.feed(text.encode())
            batch, _ = reader.close()
            observations, series = batch.observations, len(batch.series)
        lists = {e.origin: len(e.prices.values) for e in _import_price_lists(export)}
        pushes = sum(_import_pushes(export).statuses.values())
        with self.store.read() as queries:
            empty = _store_empty(queries)
        return ImportPlan(observations, series, lists, pushes, empty)

    def import_(self, document: object) -> IngestResult:
        """Restore an ``export`` into an empty store: the same rows, money and metrics.

        Raises InvalidInput if the document is not an export, or the store is not empty.
        """
        export = _export_document(document)
        with self.store.read() as queries:
            if not _store_empty(queries):
                raise InvalidInput("the store is not empty: import only into a new database")
        policy = policy_from_document(export["policy"]) if export.get("policy") else Policy()
        entries = _import_price_lists(export)
        tally = _import_pushes(export)
        text = str(export.get("observations") or "")
        result = (
            self._ingest.ingest(text.encode(), source="import", json_form=False) if text else None
        )
        self._prices.store_price_lists(entries)
        with self.store.write() as uow:
            uow.pushes.add(tally)
            uow.commit()
        self.rebuild(policy)
        with self.store.write() as uow:
            restore_document(uow, export.get("recommendations"), self.clock(), uow.state.bump())
            uow.commit()
        return result or IngestResult(0, 0, 0, 0, 0, 0, 0)


def _prune_step(
    uow: UnitOfWork, before: int, budget: int
) -> tuple[list[int], int, int | None] | None:
    """Choose what one prune transaction deletes: (series ids, bound, newest time deleted).

    The series whose stored span starts earliest go whole (everything before ``before``)
    while their old observations fit in ``budget``; if the first alone holds more, the
    oldest ``budget`` of its observations go (the newest time is then left to a later
    step). None when nothing is older than ``before``.
    """
    candidates = [sid for sid, _ in uow.series.oldest(before, budget)]  # each holds ≥ 1
    if not candidates:
        return None

    def counted() -> Iterator[tuple[int, tuple[int, int | None]]]:
        for start in range(0, len(candidates), _PRUNE_COUNT_CHUNK):
            chunk = candidates[start : start + _PRUNE_COUNT_CHUNK]
            counts = uow.observations.count_before(chunk, before)
            yield from ((sid, counts.get(sid, (0, None))) for sid in chunk)

    chosen: list[int] = []
    rows = 0
    newest: int | None = None
    for sid, (count, last) in counted():  # counted lazily: a chunk past the budget at most
        if rows + count > budget:
            break
        chosen.append(sid)
        rows += count
        if last is not None:
            newest = last if newest is None else max(newest, last)
    if chosen:
        return chosen, before, newest
    first = candidates[0]
    bound = uow.observations.nth_time(first, budget)
    return [first], before if bound is None else min(bound, before), None


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _export_document(document: object) -> dict[str, object]:
    """Return the document if it is an ``export`` of this version; raise InvalidInput."""
    if not isinstance(document, dict) or document.get("usagelens_export") != EXPORT_VERSION:
        raise InvalidInput(f"not a usagelens export (version {EXPORT_VERSION})")
    return document


def _store_empty(queries: StoreQueries) -> bool:
    """Tell whether a store holds no observations, prices or pushed counts."""
    return not (
        queries.observation_count() or queries.price_lists() or queries.push_state().endpoints
    )


def _import_pushes(document: dict[str, object]) -> PushTally:
    """Read an export's pushed counts."""
    pushes = document.get("pushes") or {}
    tally = PushTally()
    if not isinstance(pushes, dict):
        raise InvalidInput("pushes: not the counts an export holds")
    try:
        for status, count in (pushes.get("statuses") or {}).items():
            tally.statuses[int(status)] = int(count)
        for endpoint, (total, count) in (pushes.get("endpoints") or {}).items():
            tally.sums[endpoint], tally.counts[endpoint] = float(total), int(count)
        for endpoint, buckets in (pushes.get("latency") or {}).items():
            for label, count in buckets.items():
                tally.buckets[(endpoint, label)] = int(count)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidInput(f"pushes: not the counts an export holds ({exc})") from None
    return tally


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
                at = as_utc(datetime.fromisoformat(str(arrived)))
            else:
                at = epoch + timedelta(seconds=int(entry.get("rank", 0)))
            values = price_list_from_document({"values": entry.get("values") or {}})
            entries.append(OriginPrices(check_locator(str(entry["origin"]), "origin"), values, at))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"price_lists: not a list of origin lists ({exc})") from None
    return entries


__all__ = ["EXPORT_VERSION", "ImportPlan", "Maintenance", "PruneResult", "RebuildResult"]
