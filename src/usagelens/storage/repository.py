"""The repository: observations, ingest batches and prices over SQLAlchemy Core."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, delete, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from usagelens.domain.errors import StorageError
from usagelens.domain.model import ALL_TIME, Dimension, IngestResult, Observation, SeriesKey, Window
from usagelens.domain.prices import PriceList
from usagelens.storage.engine import WRITE
from usagelens.storage.tables import ingest_batches, observations, prices

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
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**WRITE)
                with conn.begin():
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
        except SQLAlchemyError as exc:
            raise StorageError(f"could not store the batch: {exc.__class__.__name__}") from exc
        return dataclasses.replace(result, batch_id=batch_id)

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
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(observations)
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
        query = _windowed(
            select(
                observations.c.team,
                observations.c.resource,
                observations.c.dimension,
                observations.c.usage,
            ).order_by(*_KEY),
            window,
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            ((team, resource, _DIMENSIONS[dim]), [r[3] for r in group])
            for (team, resource, dim), group in itertools.groupby(rows, key=lambda r: r[:3])
        ]

    def replace_prices(self, price_list: PriceList) -> None:
        """Replace the whole price list in one transaction."""
        rows = [
            {"resource": resource, "dimension": dim.value, "price": amount}
            for resource, dims in price_list.values.items()
            for dim, amount in dims.items()
        ]
        with self.engine.connect() as conn:
            conn.execution_options(**WRITE)
            with conn.begin():
                conn.execute(delete(prices))
                if rows:
                    conn.execute(insert(prices), rows)

    def prices(self) -> PriceList:
        """Return the stored price list."""
        values: dict[str, dict[Dimension, float]] = {}
        with self.engine.connect() as conn:
            for resource, dim, amount in conn.execute(select(prices)):
                values.setdefault(resource, {})[_DIMENSIONS[dim]] = amount
        return PriceList(values)

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


def _windowed(query: Select[Any], window: Window) -> Select[Any]:
    if window.since is not None:
        query = query.where(observations.c.collected_at >= _naive_utc(window.since))
    if window.until is not None:
        query = query.where(observations.c.collected_at < _naive_utc(window.until))
    return query
