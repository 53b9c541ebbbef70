"""The repository: observations, ingest batches and prices over SQLAlchemy Core."""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Select, Table, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from usagelens.domain.errors import StorageError
from usagelens.domain.model import ALL_TIME, Dimension, IngestResult, Observation, SeriesKey, Window
from usagelens.domain.prices import PriceList
from usagelens.domain.push import OVERFLOW_ENDPOINT, PushEvent, latency_bucket
from usagelens.ports import PushState, SnapshotBuilder, StoredSnapshot
from usagelens.storage.engine import WRITE
from usagelens.storage.tables import (
    counters,
    ingest_batches,
    metrics_snapshot,
    observations,
    prices,
    push_endpoints,
    push_latency,
    push_statuses,
    refresh_state,
    source_cursors,
)

_KEY = (
    observations.c.team,
    observations.c.resource,
    observations.c.dimension,
    observations.c.collected_at,
)
_DIMENSIONS = {d.value: d for d in Dimension}


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class SqlRepository:
    """Keep observations, batches and prices in SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def store_observations(
        self,
        batch: Sequence[Observation],
        *,
        source: str,
        sha256: str,
        received_at: datetime,
        rebuild: SnapshotBuilder | None = None,
    ) -> IngestResult:
        """Store one payload in one transaction: new keys inserted, changed values replaced.

        Counts every observation of the payload once: inserted (new key), updated (a key
        that already held another value, in the store or earlier in the payload) or
        duplicate (the same value again).
        """
        latest: dict[tuple[str, str, str, datetime], float] = {}
        updated = duplicates = 0
        for obs in batch:
            key = (obs.team, obs.resource, obs.dimension.value, _naive_utc(obs.collected_at))
            previous = latest.get(key)
            if previous is not None:
                duplicates += previous == obs.usage
                updated += previous != obs.usage
            latest[key] = obs.usage
        with self._writing() as conn:
            stored = self._stored_values(conn, latest)
            changes = []
            inserted = 0
            for key, usage in latest.items():
                before = stored.get(key)
                if before is None:
                    inserted += 1
                elif before == usage:
                    duplicates += 1
                    continue
                else:
                    updated += 1
                changes.append((*key, usage))
            result = IngestResult(
                batch_id=0,
                observations=len(batch),
                inserted=inserted,
                updated=updated,
                duplicates=duplicates,
                teams=len({k[0] for k in latest}),
                resources=len({(k[0], k[1]) for k in latest}),
            )
            batch_id = self._insert_batch(conn, result, source, sha256, received_at)
            if changes:
                self._upsert(conn, changes, batch_id)
            _add(
                conn,
                counters,
                "name",
                "value",
                {
                    "batches_accepted": 1,
                    "observations_inserted": result.inserted,
                    "observations_updated": result.updated,
                    "observations_duplicate": result.duplicates,
                },
            )
            if rebuild is not None and (changes or self._snapshot_missing(conn)):
                self._write_snapshot(conn, rebuild, received_at)
        return dataclasses.replace(result, batch_id=batch_id)

    @staticmethod
    def _snapshot_missing(conn: Connection) -> bool:
        query = select(metrics_snapshot.c.version).where(metrics_snapshot.c.id == 1)
        return conn.execute(query).first() is None

    def _stored_values(
        self, conn: Connection, keys: dict[tuple[str, str, str, datetime], float]
    ) -> dict[tuple[str, str, str, datetime], float]:
        if not keys:
            return {}
        teams = sorted({k[0] for k in keys})
        moments = [k[3] for k in keys]
        query = select(*_KEY, observations.c.usage).where(
            observations.c.team.in_(teams),
            observations.c.collected_at >= min(moments),
            observations.c.collected_at <= max(moments),
        )
        return {(r[0], r[1], r[2], r[3]): r[4] for r in conn.execute(query)}

    @staticmethod
    def _insert_batch(
        conn: Connection, result: IngestResult, source: str, sha256: str, received_at: datetime
    ) -> int:
        row = conn.execute(
            insert(ingest_batches)
            .values(
                received_at=_naive_utc(received_at),
                source=source[:500],
                sha256=sha256,
                observations=result.observations,
                inserted=result.inserted,
                updated=result.updated,
                duplicates=result.duplicates,
                teams=result.teams,
                resources=result.resources,
            )
            .returning(ingest_batches.c.id)
        ).one()
        return int(row[0])

    @staticmethod
    def _upsert(conn: Connection, changes: list[tuple[Any, ...]], batch_id: int) -> None:
        stmt = _insert_for(conn)(observations)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={"usage": stmt.excluded.usage, "batch_id": stmt.excluded.batch_id},
        )
        rows = [
            {
                "team": team,
                "resource": resource,
                "dimension": dimension,
                "collected_at": moment,
                "usage": usage,
                "batch_id": batch_id,
            }
            for team, resource, dimension, moment, usage in changes
        ]
        for start in range(0, len(rows), 5000):
            conn.execute(stmt, rows[start : start + 5000])

    def series(self, window: Window = ALL_TIME) -> list[tuple[SeriesKey, list[float]]]:
        """Return the usages of every (team, resource, dimension) within the window."""
        with self.engine.connect() as conn:
            return _series(conn, window)

    def replace_prices(self, price_list: PriceList, rebuild: SnapshotBuilder | None = None) -> None:
        """Replace the whole price list in one transaction."""
        rows = [
            {"resource": resource, "dimension": dim.value, "price": amount}
            for resource, dims in price_list.values.items()
            for dim, amount in dims.items()
        ]
        with self._writing() as conn:
            conn.execute(delete(prices))
            if rows:
                conn.execute(insert(prices), rows)
            if rebuild is not None:
                self._write_snapshot(conn, rebuild, datetime.now(UTC))

    def prices(self) -> PriceList:
        """Return the stored price list."""
        with self.engine.connect() as conn:
            return _prices(conn)

    def rebuild_snapshot(self, rebuild: SnapshotBuilder) -> None:
        """Rebuild the metrics snapshot from everything stored (e.g. after a policy change)."""
        with self._writing() as conn:
            self._write_snapshot(conn, rebuild, datetime.now(UTC))

    def snapshot(self) -> StoredSnapshot | None:
        """Return the stored metrics snapshot, or None before the first write."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    metrics_snapshot.c.version,
                    metrics_snapshot.c.computed_at,
                    metrics_snapshot.c.payload,
                ).where(metrics_snapshot.c.id == 1)
            ).first()
        if row is None:
            return None
        return StoredSnapshot(row[0], row[1].replace(tzinfo=UTC), row[2])

    @staticmethod
    def _write_snapshot(conn: Connection, rebuild: SnapshotBuilder, moment: datetime) -> None:
        payload = rebuild(_series(conn, ALL_TIME), _prices(conn))
        current = conn.execute(
            select(metrics_snapshot.c.version).where(metrics_snapshot.c.id == 1)
        ).scalar()
        values = {"computed_at": _naive_utc(moment), "payload": payload}
        if current is None:
            conn.execute(insert(metrics_snapshot).values(id=1, version=1, **values))
        else:
            conn.execute(
                update(metrics_snapshot)
                .where(metrics_snapshot.c.id == 1)
                .values(version=current + 1, **values)
            )

    def record_push(
        self, events: Sequence[PushEvent], bounds: Sequence[float], max_endpoints: int
    ) -> int:
        """Count pushed events in one transaction; return how many went to the overflow.

        Past ``max_endpoints`` distinct endpoints, events of new endpoints are counted
        under the endpoint ``other``.
        """
        with self._writing() as conn:
            known = set(conn.execute(select(push_endpoints.c.endpoint)).scalars())
            named = len(known - {OVERFLOW_ENDPOINT})
            statuses: Counter[int] = Counter()
            sums: dict[str, float] = {}
            counts: Counter[str] = Counter()
            buckets: Counter[tuple[str, str]] = Counter()
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
                statuses[event.status] += 1
                sums[endpoint] = sums.get(endpoint, 0.0) + event.time
                counts[endpoint] += 1
                buckets[(endpoint, latency_bucket(event.time, bounds))] += 1
            _add(conn, push_statuses, "status", "count", statuses)
            _add_many(
                conn,
                push_endpoints,
                ["endpoint"],
                [{"endpoint": e, "sum": sums[e], "count": n} for e, n in counts.items()],
                ["sum", "count"],
            )
            _add_many(
                conn,
                push_latency,
                ["endpoint", "le"],
                [{"endpoint": e, "le": le, "count": n} for (e, le), n in buckets.items()],
                ["count"],
            )
            if overflow:
                _add(conn, counters, "name", "value", {"push_endpoint_overflow": overflow})
        return overflow

    def push_state(self) -> PushState:
        """Return every pushed count."""
        with self.engine.connect() as conn:
            statuses = {int(s): int(n) for s, n in conn.execute(select(push_statuses))}
            endpoints = {e: (float(t), int(n)) for e, t, n in conn.execute(select(push_endpoints))}
            latency: dict[str, dict[str, int]] = {}
            for endpoint, le, n in conn.execute(select(push_latency)):
                latency.setdefault(endpoint, {})[le] = int(n)
        return PushState(statuses, endpoints, latency)

    def increment(self, name: str, by: int = 1) -> None:
        """Add to a named counter (e.g. rejected batches) in its own transaction."""
        with self._writing() as conn:
            _add(conn, counters, "name", "value", {name: by})

    def counters(self) -> dict[str, int]:
        """Return every named counter."""
        with self.engine.connect() as conn:
            return {name: int(value) for name, value in conn.execute(select(counters))}

    def source_position(self, source: str) -> datetime | None:
        """Return how far a table source has been read (its newest collect_date taken)."""
        with self.engine.connect() as conn:
            position = conn.execute(
                select(source_cursors.c.position).where(source_cursors.c.source == source[:500])
            ).scalar()
        return position.replace(tzinfo=UTC) if position is not None else None

    def set_source_position(self, source: str, position: datetime) -> None:
        """Move a table source's read position forward (never back)."""
        moment = _naive_utc(position)
        with self._writing() as conn:
            stmt = _insert_for(conn)(source_cursors).values(source=source[:500], position=moment)
            stmt = stmt.on_conflict_do_update(
                index_elements=["source"],
                set_={"position": stmt.excluded.position},
                where=source_cursors.c.position < stmt.excluded.position,
            )
            conn.execute(stmt)

    def lease_refresh(
        self, holder: str, now: datetime, lease_seconds: float, min_interval: float | None
    ) -> bool:
        """Take the refresh lease unless another holder has it or one ran too recently.

        One row in the store is the lock: with several workers or hosts only one refresh
        runs at a time, and a crashed holder's lease simply expires.
        """
        moment = _naive_utc(now)
        with self._writing() as conn:
            row = conn.execute(select(refresh_state).where(refresh_state.c.id == 1)).first()
            values = {
                "holder": holder[:200],
                "lease_until": moment + timedelta(seconds=lease_seconds),
                "started_at": moment,
            }
            if row is None:
                conn.execute(insert(refresh_state).values(id=1, ok=0, failed=0, **values))
                return True
            if row.lease_until is not None and row.lease_until > moment:
                return False
            if (
                min_interval is not None
                and row.started_at is not None
                and (moment - row.started_at).total_seconds() < min_interval
            ):
                return False
            conn.execute(update(refresh_state).where(refresh_state.c.id == 1).values(**values))
            return True

    def finish_refresh(
        self, holder: str, now: datetime, ok: int, failed: int, outcome: str
    ) -> None:
        """Record a refresh's outcome and release the lease."""
        with self._writing() as conn:
            conn.execute(
                update(refresh_state)
                .where(refresh_state.c.id == 1, refresh_state.c.holder == holder[:200])
                .values(
                    holder=None,
                    lease_until=None,
                    finished_at=_naive_utc(now),
                    ok=ok,
                    failed=failed,
                    outcome=outcome,
                )
            )

    def refresh_status(self) -> dict[str, Any] | None:
        """Return the last refresh's state: times, counts, outcome, and who runs one now."""
        with self.engine.connect() as conn:
            row = conn.execute(select(refresh_state).where(refresh_state.c.id == 1)).first()
        if row is None:
            return None
        status = dict(row._mapping)
        for name in ("lease_until", "started_at", "finished_at"):
            if status[name] is not None:
                status[name] = status[name].replace(tzinfo=UTC)
        return status

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**WRITE)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"database write failed: {exc.__class__.__name__}") from exc

    def batches(self, limit: int = 20) -> list[dict[str, Any]]:
        """Return the newest ingest batches (the audit trail), newest first."""
        query = select(ingest_batches).order_by(ingest_batches.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def count_observations(self) -> int:
        """Return how many observations are stored."""
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM observations")).scalar_one())

    def ping(self) -> None:
        """Check the database answers; raise StorageError if it does not."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StorageError(f"database unreachable: {exc.__class__.__name__}") from exc


def _series(conn: Connection, window: Window) -> list[tuple[SeriesKey, list[float]]]:
    query = _windowed(
        select(
            observations.c.team,
            observations.c.resource,
            observations.c.dimension,
            observations.c.usage,
        ).order_by(*_KEY),
        window,
    )
    rows = conn.execute(query).all()
    return [
        ((team, resource, _DIMENSIONS[dim]), [r[3] for r in group])
        for (team, resource, dim), group in itertools.groupby(rows, key=lambda r: r[:3])
    ]


def _prices(conn: Connection) -> PriceList:
    values: dict[str, dict[Dimension, float]] = {}
    for resource, dim, amount in conn.execute(select(prices)):
        values.setdefault(resource, {})[_DIMENSIONS[dim]] = amount
    return PriceList(values)


def _insert_for(conn: Connection) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert


def _add(conn: Connection, table: Table, key: str, column: str, amounts: Any) -> None:
    """Add amounts to a key → count table, creating missing keys."""
    rows = [{key: k, column: v} for k, v in dict(amounts).items() if v]
    _add_many(conn, table, [key], rows, [column])


def _add_many(
    conn: Connection, table: Table, keys: list[str], rows: list[dict[str, Any]], columns: list[str]
) -> None:
    """Upsert rows, adding their columns to what is stored."""
    if not rows:
        return
    stmt = _insert_for(conn)(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c: table.c[c] + stmt.excluded[c] for c in columns},
    )
    conn.execute(stmt, rows)


def _windowed(query: Select[Any], window: Window) -> Select[Any]:
    if window.since is not None:
        query = query.where(observations.c.collected_at >= _naive_utc(window.since))
    if window.until is not None:
        query = query.where(observations.c.collected_at < _naive_utc(window.until))
    return query
