"""The read side in SQL: every query the read model asks, on one snapshot's connection.

A ``SqlQueries`` is bound to one transaction: a reading one (REPEATABLE READ, READ ONLY
on PostgreSQL; a deferred transaction in WAL mode on SQLite), or the writing unit of
work's own, for the reads a write needs. Hot reads go to the driver's cursor.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from usagelens.domain.batch import to_micros
from usagelens.domain.distribution import Distribution, SeriesStats
from usagelens.domain.model import Decision, Dimension, IngestResult, SeriesKey, Window
from usagelens.domain.policy import Classification
from usagelens.domain.prices import OriginPrices, PriceList
from usagelens.domain.recommendations import Exclusion, State, StoredState
from usagelens.domain.series import SeriesSummary
from usagelens.domain.times import as_utc
from usagelens.ports import (
    BatchRecord,
    PushState,
    RecommendationEvent,
    RefreshStatus,
    RowsBefore,
    SeriesSpan,
    StoreState,
)
from usagelens.storage.observations import (
    _DECISIONS,
    _DIMENSIONS,
    _INTENSITIES,
    _SUMMARY_COLUMNS,
    _USAGE_TYPES,
    _array,
    _grouped,
    series_key,
)
from usagelens.storage.records import SqlBatches, _aware
from usagelens.storage.tables import (
    counters,
    digest_sent,
    exclusions,
    ingest_batches,
    price_lists,
    push_endpoints,
    push_latency,
    push_statuses,
    recommendation_events,
    recommendation_states,
    refresh_state,
    source_cursors,
    store_state,
)

_APPENDED_CHUNK = 10_000
"""Series per ``appended`` query (SQLite binds at most 32,766 values)."""


class SqlQueries:
    """Read what the read model shows, set-wise, within one transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self._postgres = conn.dialect.name == "postgresql"
        self._mark = "%s" if self._postgres else "?"

    def state(self) -> StoreState:
        """Return the store's state."""
        row = self._conn.execute(select(store_state).where(store_state.c.id == 1)).one()
        return StoreState(
            data_version=int(row.data_version),
            policy_fingerprint=row.policy_fingerprint,
            policy_document=row.policy_document,
            stale=bool(row.stale),
            prices_version=int(row.prices_version),
        )

    def summaries_changed(self, after: int) -> list[tuple[int, SeriesSummary | None]]:
        """Return, by id, every series changed at a data version after ``after``: its
        summary, or None for one that holds no observations now (an index range)."""
        self._cursor.execute(
            f"SELECT {_SUMMARY_COLUMNS} FROM series WHERE changed_version > {self._mark}",
            (after,),
        )
        return [(row[0], _summary(row) if row[4] else None) for row in self._cursor.fetchall()]

    def keys(self) -> dict[int, SeriesKey]:
        """Return every series' key by id."""
        self._cursor.execute("SELECT id, team, resource, dimension FROM series")
        return {
            sid: series_key(team, resource, dim)
            for sid, team, resource, dim in self._cursor.fetchall()
        }

    def distributions(
        self, window: Window, after: int = -1, only: Collection[int] | None = None
    ) -> Iterator[tuple[int, Distribution]]:
        """Yield the distribution of usages within a window of every series changed at a
        data version after ``after`` (every series by default), or only of the ids in
        ``only`` (which must be among those) when it is given, computed set-wise.

        PostgreSQL groups the whole window in one query (a hash aggregate; only the changed
        series' key ranges when ``after`` names a version). SQLite reads per series
        whichever side of the window is smaller, by its stored time span: the rows inside,
        grouped by usage; or the rows outside, subtracted from the stored distribution
        (read in the same transaction, so the two agree). A series wholly inside the window
        is its stored distribution; a 7-day window over 200 hours reads a sixth of the
        rows. Each read is a range of the primary key.
        """
        since = to_micros(window.since) if window.since is not None else -(2**62)
        until = to_micros(window.until) if window.until is not None else 2**62
        if self._postgres:
            changed = "" if after < 0 and only is None else " AND series_id = ANY(%s::int[])"
            params: tuple[Any, ...] = (since, until)
            if only is not None:
                params += (_array(only),)
            elif after >= 0:
                self._cursor.execute("SELECT id FROM series WHERE changed_version > %s", (after,))
                params += (_array(sid for (sid,) in self._cursor.fetchall()),)
            self._cursor.execute(
                "SELECT series_id, usage, count(*) FROM observations "
                f"WHERE t >= %s AND t < %s{changed} "
                "GROUP BY series_id, usage ORDER BY series_id, usage",
                params,
            )
            yield from _grouped(self._cursor)
            return
        self._cursor.execute(
            "SELECT id, first_at, last_at, distribution FROM series WHERE changed_version > ?"
            " AND count > 0 AND first_at < ? AND last_at >= ? ORDER BY id",
            (after, until, since),
        )
        for sid, first, last, blob in self._cursor.fetchall():
            if only is not None and sid not in only:
                continue
            inside = min(last, until - 1) - max(first, since)
            if inside == last - first:
                yield sid, Distribution.from_bytes(bytes(blob))
            elif 2 * inside > last - first:
                stored = Distribution.from_bytes(bytes(blob))
                distribution = stored.without(self._outside(sid, since, until))
                if distribution.count:
                    yield sid, distribution
            else:
                self._cursor.execute(
                    "SELECT usage, count(*) FROM observations WHERE series_id = ? AND t >= ? "
                    "AND t < ? GROUP BY usage ORDER BY usage",
                    (sid, since, until),
                )
                if rows := self._cursor.fetchall():
                    values = array("d", [usage for usage, _ in rows])
                    counts = array("q", [count for _, count in rows])
                    yield sid, Distribution.from_sorted(values, counts)

    def appended(self, window: Window, after: Mapping[int, int]) -> dict[int, list[float]]:
        """Return, per series named, the usages within a window of its observations
        collected later than the time (µs) given for it; series with none are left out.

        One primary-key range per series: what a kept window view needs of series that
        only had times appended since it was shown.
        """
        since = to_micros(window.since) if window.since is not None else -(2**62)
        until = to_micros(window.until) if window.until is not None else 2**62
        lows = [(sid, max(t, since - 1)) for sid, t in after.items() if max(t, since - 1) < until]
        found: dict[int, list[float]] = {}
        for start in range(0, len(lows), _APPENDED_CHUNK):
            chunk = lows[start : start + _APPENDED_CHUNK]
            if self._postgres:
                self._cursor.execute(
                    "SELECT k.sid, o.usage FROM unnest(%s::int[], %s::bigint[]) AS k(sid, low)"
                    " JOIN observations o ON o.series_id = k.sid AND o.t > k.low AND o.t < %s",
                    (_array(sid for sid, _ in chunk), _array(low for _, low in chunk), until),
                )
            else:  # CROSS JOIN: the named series outside, one key range each inside
                values = ", ".join(["(?, ?)"] * len(chunk))
                self._cursor.execute(
                    f"WITH k(sid, low) AS (VALUES {values}) SELECT k.sid, o.usage FROM k"
                    " CROSS JOIN observations o ON o.series_id = k.sid AND o.t > k.low"
                    " AND o.t < ?",
                    [*(n for pair in chunk for n in pair), until],
                )
            for sid, usage in self._cursor.fetchall():
                found.setdefault(sid, []).append(usage)
        return found

    def _outside(self, sid: int, since: int, until: int) -> list[tuple[float, int]]:
        """(usage, count) of a series' rows before ``since`` or from ``until`` on (SQLite)."""
        self._cursor.execute(
            "SELECT usage, count(*) FROM (SELECT usage FROM observations"
            " WHERE series_id = ? AND t < ? UNION ALL SELECT usage FROM observations"
            " WHERE series_id = ? AND t >= ?) GROUP BY usage",
            (sid, since, sid, until),
        )
        return [(usage, count) for usage, count in self._cursor.fetchall()]

    def all_distributions(self) -> Iterator[tuple[int, Distribution, int, int]]:
        """Yield (series id, distribution, earliest, latest) of every series from raw rows.

        Reads nothing but the observations (the aggregates may be stale: this rebuilds them).
        """
        spans: dict[int, tuple[int, int]] = {}
        self._cursor.execute(
            "SELECT series_id, min(t), max(t) FROM observations GROUP BY series_id"
        )
        for sid, first, last in self._cursor.fetchall():
            spans[sid] = (first, last)
        self._cursor.execute(
            "SELECT series_id, usage, count(*) FROM observations "
            "GROUP BY series_id, usage ORDER BY series_id, usage"
        )
        for sid, distribution in _grouped(self._cursor):
            first, last = spans[sid]
            yield sid, distribution, first, last

    def rows_before(self, micros: int) -> RowsBefore:
        """Count the observations older than a time and their series, in one query.

        Only series whose stored span starts earlier are read, each a range of the key.
        """
        mark = self._mark
        self._cursor.execute(
            "SELECT count(*), count(DISTINCT o.series_id), min(o.t), max(o.t) FROM series s"
            f" JOIN observations o ON o.series_id = s.id AND o.t < {mark}"
            f" WHERE s.first_at < {mark}",
            (micros, micros),
        )
        count, series, oldest, newest = self._cursor.fetchone()
        return RowsBefore(int(count), int(series), oldest, newest)

    def readings(self, series_id: int) -> list[tuple[int, float]]:
        """Return one series' (time, usage) in time order."""
        self._cursor.execute(
            f"SELECT t, usage FROM observations WHERE series_id = {self._mark} ORDER BY t",
            (series_id,),
        )
        return [(t, usage) for t, usage in self._cursor.fetchall()]

    def observation_count(self) -> int:
        """Return how many observations are stored."""
        self._cursor.execute("SELECT count(*) FROM observations")
        return int(self._cursor.fetchone()[0])

    def price_lists(self) -> list[OriginPrices]:
        """Return every origin's list, with when it arrived."""
        arrived = {
            row.origin: _aware(row.updated_at)
            for row in self._conn.execute(select(price_lists.c.origin, price_lists.c.updated_at))
        }
        values: dict[str, dict[str, dict[Dimension, float]]] = {o: {} for o in arrived}
        cursor = self._conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SELECT origin, resource, dimension, price FROM origin_prices")
        for origin, resource, dim, amount in cursor.fetchall():
            values.setdefault(origin, {}).setdefault(resource, {})[_DIMENSIONS[dim]] = amount
        return [
            OriginPrices(origin, PriceList(values[origin]), arrived.get(origin))
            for origin in sorted(values)
        ]

    def push_state(self) -> PushState:
        """Return every pushed count."""
        conn = self._conn
        statuses = {int(s): int(n) for s, n in conn.execute(select(push_statuses))}
        endpoints = {e: (float(t), int(n)) for e, t, n in conn.execute(select(push_endpoints))}
        latency: dict[str, dict[str, int]] = {}
        for endpoint, le, n in conn.execute(select(push_latency)):
            latency.setdefault(endpoint, {})[le] = int(n)
        return PushState(statuses, endpoints, latency)

    def counters(self) -> dict[str, int]:
        """Return every named counter."""
        return {name: int(value) for name, value in self._conn.execute(select(counters))}

    def unchanged_since(self, sha256: str, data_version: int) -> IngestResult | None:
        """As ``BatchRepository.unchanged_since``, on this snapshot (no write lock)."""
        return SqlBatches(self._conn).unchanged_since(sha256, data_version)

    def batches(self, limit: int = 20) -> list[BatchRecord]:
        """Return the newest records, newest first."""
        query = select(ingest_batches).order_by(ingest_batches.c.id.desc()).limit(limit)
        return [
            BatchRecord(
                received_at=as_utc(row.received_at),
                source=row.source,
                sha256=row.sha256,
                result=IngestResult(
                    batch_id=row.id,
                    observations=row.observations,
                    inserted=row.inserted,
                    updated=row.updated,
                    duplicates=row.duplicates,
                    teams=row.teams,
                    resources=row.resources,
                ),
                data_version=row.data_version,
            )
            for row in self._conn.execute(query)
        ]

    def refresh_status(self) -> RefreshStatus | None:
        """Return the lease and last outcome, None before the first refresh."""
        row = self._conn.execute(select(refresh_state).where(refresh_state.c.id == 1)).first()
        if row is None:
            return None
        return RefreshStatus(
            holder=row.holder,
            lease_until=_aware(row.lease_until),
            started_at=_aware(row.started_at),
            finished_at=_aware(row.finished_at),
            ok=int(row.ok),
            failed=int(row.failed),
            outcome=row.outcome,
        )

    def position(self, source: str) -> datetime | None:
        """Return how far a table source has been read (its newest collect_date taken)."""
        position = self._conn.execute(
            select(source_cursors.c.position).where(source_cursors.c.source == source)
        ).scalar()
        return _aware(position)

    def spans(self, after: int = -1) -> dict[SeriesKey, SeriesSpan]:
        """Return the id, stored span and last arrival, by key, of every series changed at
        a data version after ``after`` (every series by default; an index range)."""
        self._cursor.execute(
            "SELECT id, team, resource, dimension, first_at, last_at, last_arrival,"
            f" rewritten_version FROM series WHERE changed_version > {self._mark}",
            (after,),
        )
        return {
            series_key(team, resource, dim): SeriesSpan(sid, first, last, arrival, rewritten)
            for sid, team, resource, dim, first, last, arrival, rewritten in self._cursor.fetchall()
        }

    def recommendation_states(self) -> dict[int, StoredState]:
        """Return the states people set, by series id."""
        table = recommendation_states
        return {
            row.series_id: StoredState(
                decision=Decision(row.decision),
                state=State(row.state),
                reason=row.reason,
                until=_aware(row.until),
                by=row.by,
                changed_at=as_utc(row.changed_at),
            )
            for row in self._conn.execute(select(table))
        }

    def recommendation_events(self, series_id: int) -> list[RecommendationEvent]:
        """Return a series' history, oldest first."""
        table = recommendation_events
        query = select(table).where(table.c.series_id == series_id).order_by(table.c.id)
        return [
            RecommendationEvent(
                row.series_id,
                as_utc(row.at),
                row.kind,
                row.from_value,
                row.to_value,
                row.reason,
                row.by,
            )
            for row in self._conn.execute(query)
        ]

    def exclusions(self) -> list[Exclusion]:
        """Return every exclusion rule, oldest first."""
        return [
            Exclusion(
                row.id,
                row.team,
                row.resource,
                None if row.dimension is None else Dimension(row.dimension),
                row.reason,
            )
            for row in self._conn.execute(select(exclusions).order_by(exclusions.c.id))
        ]

    def digested(self) -> set[tuple[str, str]]:
        """Return the (recommendation id, decision) pairs digests have posted."""
        query = select(digest_sent.c.recommendation, digest_sent.c.decision)
        return {(row.recommendation, row.decision) for row in self._conn.execute(query)}


__all__ = ["SqlQueries"]


def _summary(row: Sequence[Any]) -> SeriesSummary:
    """Make a series' summary of a row of ``_SUMMARY_COLUMNS``."""
    _, team, resource, dim, count, total, mean, median = row[:8]
    usage_type, intensity, decision, reason, first, last = row[19:25]
    return SeriesSummary(
        key=series_key(team, resource, dim),
        stats=SeriesStats(count, total, mean, median, tuple(row[8:19])),
        verdict=Classification(
            count=count,
            mean=mean,
            median=median,
            usage_type=_USAGE_TYPES[usage_type],
            intensity=_INTENSITIES[intensity],
            decision=_DECISIONS[decision],
            reason=reason,
        ),
        first=first,
        last=last,
    )
