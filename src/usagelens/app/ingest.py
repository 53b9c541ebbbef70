"""Ingest: read a payload (text summary or its JSON form), store it as one batch, spot re-sends.

A write changes only the series its batch touches: the stored aggregates move by what the
batch adds or replaces, and the data version advances in the same transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from usagelens.app.collector import collector_paused
from usagelens.app.policy import PolicyGuard
from usagelens.app.recommendations import record_decisions
from usagelens.domain.batch import UsageBatch, to_micros
from usagelens.domain.errors import InvalidInput, SummaryFormatError
from usagelens.domain.ids import LABEL_MAX, check_name
from usagelens.domain.model import IngestResult
from usagelens.domain.series import SeriesAggregate, SeriesMerge, merge
from usagelens.domain.summary import RecordsParser, SummaryParser
from usagelens.ports import BatchRecord, Clock, Store, UnitOfWork

DEFER_PARSE_BYTES = 8 << 20
"""A payload up to this size is held unparsed until it is whole, so that a re-send of a
stored one is recognised by its SHA-256 without being parsed; a larger one is parsed as it
arrives."""


class PayloadReader:
    """Take a summary chunk by chunk (text format or its JSON form) into a batch.

    ``json_form=None`` tells the forms apart by the first byte that is not whitespace.
    The first ``defer`` bytes are only hashed until more arrive or the payload is closed.
    """

    def __init__(self, json_form: bool | None = None, defer: int = DEFER_PARSE_BYTES) -> None:
        self._json_form = json_form
        self._parser: SummaryParser | RecordsParser | None = None
        self._held: list[bytes] = []
        self._held_size = 0
        self._defer = defer
        self._digest = hashlib.sha256()

    def feed(self, chunk: bytes) -> None:
        """Take the next piece of the payload."""
        self._digest.update(chunk)
        if self._parser is None:
            self._held.append(chunk)
            self._held_size += len(chunk)
            if self._held_size <= self._defer:
                return
            self._start()
        else:
            self._parser.feed(chunk)

    @property
    def sha256(self) -> str:
        """The SHA-256 of what was fed so far."""
        return self._digest.hexdigest()

    @property
    def unparsed(self) -> bool:
        """Tell whether nothing has been parsed yet (the whole payload is held)."""
        return self._parser is None

    def _start(self) -> None:
        """Pick the parser by the first byte that is not whitespace; feed it what is held."""
        held, self._held, self._held_size = b"".join(self._held), [], 0
        if self._json_form is None:
            self._json_form = held.lstrip()[:1] == b"["
        self._parser = RecordsParser() if self._json_form else SummaryParser()
        self._parser.feed(held)

    def close(self) -> tuple[UsageBatch, str]:
        """Return the parsed batch and the payload's SHA-256 (raises SummaryFormatError)."""
        if self._parser is None:
            self._start()
        assert self._parser is not None
        return self._parser.close(), self._digest.hexdigest()


def count_rejected(store: Store, name: str) -> None:
    """Count a refused payload (``batches_rejected``, ``push_rejected``) in its own write."""
    with store.write() as uow:
        uow.counters.add({name: 1})
        uow.commit()


class Ingest:
    """Store usage payloads, all or nothing, each as one batch in the audit trail."""

    def __init__(self, store: Store, guard: PolicyGuard, clock: Clock) -> None:
        self.store = store
        self.guard = guard
        self.clock = clock

    def ingest(self, payload: bytes, *, source: str, json_form: bool | None = None) -> IngestResult:
        """Store a summary in either form, all or nothing.

        ``json_form=None`` tells the forms apart by content. A rejected payload stores
        nothing but is counted (``batches_rejected``).
        """
        reader = PayloadReader(json_form)
        try:
            reader.feed(payload)
        except InvalidInput:  # refused as it is read (not UTF-8, say): counted all the same
            count_rejected(self.store, "batches_rejected")
            raise
        return self.ingest_read(reader, source=source)

    def ingest_read(self, reader: PayloadReader, *, source: str, clamped: int = 0) -> IngestResult:
        """Parse what a reader took and store it; count it as rejected if malformed.

        ``clamped``: readings a pull brought into 0..100 before sending them.
        """
        counted = {"source_values_clamped": clamped} if clamped else None
        if reader.unparsed:
            known = self._known_resend(reader.sha256, source, counted)
            if known is not None:
                return known
        with collector_paused():
            try:
                batch, sha256 = reader.close()
            except InvalidInput:
                count_rejected(self.store, "batches_rejected")
                raise
            return self.store_batch(batch, sha256=sha256, source=source, counted=counted)

    def ingest_summary(self, payload: bytes, *, source: str) -> IngestResult:
        """Parse a summary in the module's text format and store it, all or nothing."""
        return self.ingest(payload, source=source, json_form=False)

    def ingest_batch(self, batch: UsageBatch, *, source: str, clamped: int = 0) -> IngestResult:
        """Store readings a source gave already parsed (a table's rows, PromQL samples);
        ``clamped`` of them were brought into 0..100 (``source_values_clamped``)."""
        counted = {"source_values_clamped": clamped} if clamped else None
        return self.store_batch(batch, sha256=batch.digest(), source=source, counted=counted)

    def count_rejected(self, name: str) -> None:
        """Count a refused payload (``batches_rejected``)."""
        count_rejected(self.store, name)

    def store_batch(
        self,
        batch: UsageBatch,
        *,
        sha256: str,
        source: str,
        counted: Mapping[str, int] | None = None,
    ) -> IngestResult:
        """Store a parsed payload in one transaction, updating the series it touches.

        Every reading counts once: inserted, updated or duplicate. Only the keys the
        batch names are compared with the store, and only where a series' stored span
        could hold them (appending new times to a series needs no lookup). ``counted``
        adds to named counters in the same transaction.
        """
        if not batch.series:
            raise SummaryFormatError("payload is empty")
        check_name(source, "the batch's source label", LABEL_MAX)
        with collector_paused(), self.store.write() as uow:
            policy = self.guard.writable(uow)
            ids = uow.series.ensure(list(batch.series))
            aggregates = uow.series.load(set(ids.values()))
            if counted:
                uow.counters.add(counted)
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
            now = self.clock()
            for aggregate in changed:
                merged = merges[aggregate.id]
                aggregate.add(merged, version)
                aggregate.judge(policy)
                if merged.inserted:
                    aggregate.last_arrival = to_micros(now)
            record_decisions(uow, changed, now)
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

    def _known_resend(
        self, sha256: str, source: str, counted: Mapping[str, int] | None
    ) -> IngestResult | None:
        """Record an unparsed payload as a re-send if its digest proves it one; else None.

        Proof: a payload with this SHA-256 was committed at the store's current data version
        and updated nothing. Nothing has changed since (every change advances the version),
        so each of its readings equals the stored value of its key and it repeats no time
        with another value: all duplicates, as parsing and comparing would find.
        """
        check_name(source, "the batch's source label", LABEL_MAX)
        with self.store.read() as queries:  # first without the write lock: mostly no
            if queries.unchanged_since(sha256, queries.state().data_version) is None:
                return None
        with self.store.write() as uow:
            self.guard.writable(uow)
            version = uow.state.get().data_version
            earlier = uow.batches.unchanged_since(sha256, version)
            if earlier is None:  # a write came between the two looks
                return None
            readings = earlier.observations
            batch_id = uow.batches.add(BatchRecord(self.clock(), source, sha256, earlier, version))
            uow.counters.add(
                {**(counted or {}), "batches_accepted": 1, "observations_duplicate": readings}
            )
            uow.commit()
        return replace(earlier, batch_id=batch_id)

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


def _stored_already(
    batch: UsageBatch, aggregates: Iterable[SeriesAggregate], seen_at: int | None
) -> bool:
    """Tell whether a payload is one already stored, unchanged since, so all duplicates.

    True when a payload with the same SHA-256 was committed at data version ``seen_at``,
    none of the payload's series has been rewritten since (each series records the
    version of its last change other than appending times after its latest: an update,
    an insert within its span, a prune), and no time repeats within a series (a repeat
    counts as an update). Appends since leave every stored reading as it was, so every
    reading equals the stored value of its key, and nothing need be read.
    """
    if seen_at is None:
        return False
    if any(a.first is None or a.rewritten > seen_at for a in aggregates):
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


__all__ = ["Ingest", "PayloadReader", "count_rejected"]
