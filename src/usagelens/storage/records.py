"""The small repositories: prices, pushes, counters, batches, the store's state, refresh."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from usagelens.domain.model import Dimension, IngestResult
from usagelens.domain.prices import OriginPrices
from usagelens.domain.times import as_utc, naive_utc
from usagelens.ports import BatchRecord, PushTally, StoreState
from usagelens.storage.tables import (
    counters,
    ingest_batches,
    origin_prices,
    price_lists,
    push_endpoints,
    push_latency,
    push_statuses,
    refresh_state,
    source_cursors,
    store_state,
)

_DIMENSIONS = {d.value: d for d in Dimension}


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def _add_many(
    conn: Connection, table: Table, keys: list[str], rows: list[dict[str, Any]], columns: list[str]
) -> None:
    """Upsert rows, adding their columns to what is stored.

    Written as plain SQL (the same on SQLite and PostgreSQL) and run on the driver's
    cursor: building and compiling the statement with SQLAlchemy cost more than running
    it, on the push path that runs it for every group commit.
    """
    if not rows:
        return
    names = list(rows[0])
    sql = _upsert_sql(table.name, tuple(names), tuple(keys), tuple(columns), _mark(conn))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.executemany(sql, [tuple(row[name] for name in names) for row in rows])


@lru_cache(maxsize=64)
def _upsert_sql(
    table: str, names: tuple[str, ...], keys: tuple[str, ...], columns: tuple[str, ...], mark: str
) -> str:
    quoted = ", ".join(f'"{name}"' for name in names)
    additions = ", ".join(f'"{c}" = {table}."{c}" + excluded."{c}"' for c in columns)
    return (
        f"INSERT INTO {table} ({quoted}) VALUES ({', '.join([mark] * len(names))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {additions}"
    )


def _insert_for(conn: Connection) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert


def _mark(conn: Connection) -> str:
    return "%s" if conn.dialect.name == "postgresql" else "?"


class SqlPrices:
    """The price lists per origin (the prices in force are merged from them when read)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def put_list(self, entry: OriginPrices, at: datetime) -> None:
        """Make this the whole list of its origin, arrived at ``at``."""
        origin = entry.origin
        self._conn.execute(delete(origin_prices).where(origin_prices.c.origin == origin))
        self._conn.execute(delete(price_lists).where(price_lists.c.origin == origin))
        self._conn.execute(insert(price_lists).values(origin=origin, updated_at=naive_utc(at)))
        rows = [
            {"origin": origin, "resource": resource, "dimension": dim.value, "price": amount}
            for resource, dims in entry.prices.values.items()
            for dim, amount in dims.items()
        ]
        if rows:
            self._conn.execute(insert(origin_prices), rows)
        self._bump()

    def drop_list(self, origin: str) -> bool:
        """Forget an origin's list."""
        self._conn.execute(delete(origin_prices).where(origin_prices.c.origin == origin))
        gone = self._conn.execute(delete(price_lists).where(price_lists.c.origin == origin))
        if gone.rowcount:
            self._bump()
        return bool(gone.rowcount)

    def _bump(self) -> None:
        """Advance the prices' version (reads re-read the lists only when it moved)."""
        self._conn.execute(
            update(store_state)
            .where(store_state.c.id == 1)
            .values(prices_version=store_state.c.prices_version + 1)
        )


class SqlPushes:
    """Counts of pushed request events."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def endpoints(self) -> set[str]:
        """Return the endpoints counted so far."""
        return set(self._conn.execute(select(push_endpoints.c.endpoint)).scalars())

    def add(self, tally: PushTally) -> None:
        """Add a tally to the stored counts."""
        conn = self._conn
        _add_many(
            conn,
            push_statuses,
            ["status"],
            [{"status": s, "count": n} for s, n in tally.statuses.items() if n],
            ["count"],
        )
        _add_many(
            conn,
            push_endpoints,
            ["endpoint"],
            [{"endpoint": e, "sum": tally.sums[e], "count": n} for e, n in tally.counts.items()],
            ["sum", "count"],
        )
        _add_many(
            conn,
            push_latency,
            ["endpoint", "le"],
            [{"endpoint": e, "le": le, "count": n} for (e, le), n in tally.buckets.items()],
            ["count"],
        )


class SqlCounters:
    """Named counters."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, amounts: Mapping[str, int]) -> None:
        """Add to named counters, creating missing ones."""
        rows = [{"name": k, "value": v} for k, v in amounts.items() if v]
        _add_many(self._conn, counters, ["name"], rows, ["value"])


class SqlBatches:
    """The audit trail of accepted payloads."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, record: BatchRecord) -> int:
        """Store a batch record; return its id."""
        result = record.result
        row = self._conn.execute(
            insert(ingest_batches)
            .values(
                received_at=naive_utc(record.received_at),
                source=record.source,
                sha256=record.sha256,
                observations=result.observations,
                inserted=result.inserted,
                updated=result.updated,
                duplicates=result.duplicates,
                teams=result.teams,
                resources=result.resources,
                data_version=record.data_version,
            )
            .returning(ingest_batches.c.id)
        ).one()
        return int(row[0])

    def version_of(self, sha256: str) -> int | None:
        """Return the newest data version at which a payload with this digest was stored."""
        row = self._conn.execute(
            select(func.max(ingest_batches.c.data_version)).where(ingest_batches.c.sha256 == sha256)
        ).one()
        return None if row[0] is None else int(row[0])

    def unchanged_since(self, sha256: str, data_version: int) -> IngestResult | None:
        """Return the counts of a payload with this digest stored at ``data_version`` that
        updated nothing (so held no time twice with two values), or None if there is none."""
        c = ingest_batches.c
        row = self._conn.execute(
            select(c.observations, c.teams, c.resources)
            .where(c.sha256 == sha256, c.data_version == data_version, c.updated == 0)
            .limit(1)
        ).first()
        if row is None:
            return None
        observations = int(row.observations)
        return IngestResult(0, observations, 0, 0, observations, int(row.teams), int(row.resources))


class SqlState:
    """The store's data version and policy in force (one row, created by the migration)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self) -> StoreState:
        """Return the store's state."""
        row = self._conn.execute(select(store_state).where(store_state.c.id == 1)).one()
        return StoreState(
            data_version=int(row.data_version),
            policy_fingerprint=row.policy_fingerprint,
            policy_document=row.policy_document,
            stale=bool(row.stale),
            prices_version=int(row.prices_version),
        )

    def bump(self) -> int:
        """Advance the data version; return the new one."""
        row = self._conn.execute(
            update(store_state)
            .where(store_state.c.id == 1)
            .values(data_version=store_state.c.data_version + 1)
            .returning(store_state.c.data_version)
        ).one()
        return int(row[0])

    def set_policy(self, fingerprint: str, document: str) -> None:
        """Record the policy the verdicts are now made under."""
        self._conn.execute(
            update(store_state)
            .where(store_state.c.id == 1)
            .values(policy_fingerprint=fingerprint, policy_document=document)
        )

    def set_stale(self, stale: bool) -> None:
        """Mark the aggregates as needing a rebuild, or as rebuilt."""
        self._conn.execute(update(store_state).where(store_state.c.id == 1).values(stale=stale))


class SqlRefresh:
    """The refresh lease, the last outcome and table sources' read positions."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def lease(self, holder: str, lease_seconds: float, min_interval: float | None) -> int | None:
        """Take the lease unless another holder has it or one ran too recently.

        One row in the store is the lock: with several workers or hosts only one refresh
        runs at a time, and a crashed holder's lease simply runs out. Times are the
        database's; the token returned fences the holder once its lease is gone.
        """
        moment = self._now()
        conn = self._conn
        row = conn.execute(select(refresh_state).where(refresh_state.c.id == 1)).first()
        values = {
            "holder": holder[:200],
            "lease_until": moment + timedelta(seconds=lease_seconds),
            "started_at": moment,
        }
        if row is None:
            conn.execute(insert(refresh_state).values(id=1, ok=0, failed=0, token=1, **values))
            return 1
        if row.lease_until is not None and row.lease_until > moment:
            return None
        if (
            min_interval is not None
            and row.started_at is not None
            and (moment - row.started_at).total_seconds() < min_interval
        ):
            return None
        token = int(row.token) + 1
        conn.execute(
            update(refresh_state).where(refresh_state.c.id == 1).values(token=token, **values)
        )
        return token

    def holds(self, token: int) -> bool:
        """Tell whether the lease with this token is still held and has not run out."""
        row = self._conn.execute(
            select(refresh_state.c.token, refresh_state.c.lease_until).where(
                refresh_state.c.id == 1
            )
        ).first()
        return (
            row is not None
            and int(row.token) == token
            and row.lease_until is not None
            and row.lease_until > self._now()
        )

    def finish(self, token: int, ok: int, failed: int, outcome: str) -> bool:
        """Record a refresh's outcome and release the lease, unless the lease was lost."""
        moment = self._now()
        done = self._conn.execute(
            update(refresh_state)
            .where(
                refresh_state.c.id == 1,
                refresh_state.c.token == token,
                refresh_state.c.lease_until > moment,
            )
            .values(
                holder=None,
                lease_until=None,
                finished_at=moment,
                ok=ok,
                failed=failed,
                outcome=outcome,
            )
        )
        return bool(done.rowcount)

    def _now(self) -> datetime:
        """Return the database's clock as naive UTC (the holders share it)."""
        if self._conn.dialect.name == "postgresql":
            sql = "SELECT CAST(clock_timestamp() AT TIME ZONE 'UTC' AS timestamp)"
            moment: datetime = self._conn.execute(text(sql)).scalar_one()
            return moment
        stamp = self._conn.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar()
        return datetime.fromisoformat(str(stamp))

    def set_position(self, source: str, position: datetime) -> None:
        """Move a table source's read position forward (never back)."""
        stmt = _insert_for(self._conn)(source_cursors).values(
            source=source, position=naive_utc(position)
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["source"],
            set_={"position": stmt.excluded.position},
            where=source_cursors.c.position < stmt.excluded.position,
        )
        self._conn.execute(stmt)
