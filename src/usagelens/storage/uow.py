"""The SQL unit of work and snapshot: one connection, one transaction each.

A writing unit of work (``SqlStore.write``) takes the store's write lock when it begins
(``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL), so writers take turns
and each sees what the previous one committed. A snapshot (``SqlStore.read``) is on
PostgreSQL REPEATABLE READ and READ ONLY, so every statement in it sees the same
committed state (SQLite's deferred transaction in WAL mode is one already). Every
database error leaves either classified once (``storage.errors.classify``), and an
encoding error met while binding a value is the caller's value.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Connection, Engine, RootTransaction, text

from usagelens.domain.errors import StorageUnavailable
from usagelens.domain.model import SeriesKey
from usagelens.ports import StoreState
from usagelens.storage.engine import READ, WRITE
from usagelens.storage.errors import DATABASE_ERRORS, classify
from usagelens.storage.observations import SqlObservations, SqlSeries
from usagelens.storage.queries import SqlQueries
from usagelens.storage.recommendations import SqlRecommendations
from usagelens.storage.records import (
    SqlBatches,
    SqlCounters,
    SqlPrices,
    SqlPushes,
    SqlRefresh,
    SqlState,
)


class _Transaction:
    """One connection and one transaction, rolled back unless committed; errors classified."""

    def __init__(self, engine: Engine, *, write: bool) -> None:
        self._engine = engine
        self._write = write
        self._conn: Connection | None = None
        self._transaction: RootTransaction | None = None

    def _begin(self) -> Connection:
        try:
            conn = self._engine.connect()
            conn.execution_options(**(WRITE if self._write else READ[conn.dialect.name]))
            self._transaction = conn.begin()
        except DATABASE_ERRORS as exc:
            raise classify(exc, action="connect") from exc
        self._conn = conn
        return conn

    def _end(self, exc: BaseException | None) -> None:
        conn, transaction = self._conn, self._transaction
        self._conn = self._transaction = None
        if conn is None or transaction is None:
            return
        try:
            if transaction.is_active:
                transaction.rollback()
            conn.close()
        except DATABASE_ERRORS:
            conn.invalidate()
        if exc is not None and isinstance(exc, (*DATABASE_ERRORS, UnicodeEncodeError)):
            raise classify(exc, action="write" if self._write else "read") from exc


class SqlUnitOfWork(_Transaction):
    """A writing transaction on SQLite or PostgreSQL, with every write-side repository."""

    series: SqlSeries
    observations: SqlObservations
    prices: SqlPrices
    pushes: SqlPushes
    counters: SqlCounters
    batches: SqlBatches
    state: SqlState
    refresh: SqlRefresh
    recommendations: SqlRecommendations
    read: SqlQueries

    def __init__(self, engine: Engine, known: dict[SeriesKey, int]) -> None:
        super().__init__(engine, write=True)
        self._known = known

    def __enter__(self) -> SqlUnitOfWork:
        conn = self._begin()
        self.series = SqlSeries(conn, self._known)
        self.observations = SqlObservations(conn)
        self.prices = SqlPrices(conn)
        self.pushes = SqlPushes(conn)
        self.counters = SqlCounters(conn)
        self.batches = SqlBatches(conn)
        self.state = SqlState(conn)
        self.refresh = SqlRefresh(conn)
        self.recommendations = SqlRecommendations(conn)
        self.read = SqlQueries(conn)
        return self

    def commit(self) -> None:
        """Commit the transaction; the series it created become known to later ones."""
        assert self._transaction is not None, "commit outside the unit of work"
        try:
            self._transaction.commit()
        except DATABASE_ERRORS as exc:
            raise classify(exc, action="write") from exc
        self._known.update(self.series.created)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._end(exc)


class SqlSnapshot(_Transaction):
    """A read-only snapshot on SQLite or PostgreSQL; entered, it gives the queries."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, write=False)

    def __enter__(self) -> SqlQueries:
        return SqlQueries(self._begin())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._end(exc)


class SqlStore:
    """Open units of work and snapshots on one database (the ``Store`` for SQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._known: dict[SeriesKey, int] = {}
        """Series ids seen committed; a series id never changes, so this only grows."""

    def write(self) -> SqlUnitOfWork:
        """Open a writing unit of work; it takes the write lock at its start."""
        return SqlUnitOfWork(self.engine, self._known)

    def read(self) -> SqlSnapshot:
        """Open a read-only snapshot."""
        return SqlSnapshot(self.engine)

    def state(self) -> StoreState:
        """Read the store's state on a bare pooled connection (a fraction of a snapshot)."""
        try:
            connection = self.engine.raw_connection()
        except DATABASE_ERRORS as exc:
            raise classify(exc, action="connect") from exc
        driver = connection.driver_connection
        alone = self.engine.dialect.name == "postgresql"
        try:
            if alone:  # one statement, no BEGIN and ROLLBACK round trips: 490 -> 300 µs
                driver.autocommit = True  # type: ignore[union-attr]
            try:
                cursor = connection.cursor()
                cursor.execute(
                    "SELECT data_version, policy_fingerprint, policy_document, stale,"
                    " prices_version FROM store_state WHERE id = 1"
                )
                row = cursor.fetchone()
                cursor.close()
            finally:  # the pool hands connections out in transactions, as SQLAlchemy expects
                if alone:
                    driver.autocommit = False  # type: ignore[union-attr]
            if not alone:
                connection.rollback()
        except DATABASE_ERRORS as exc:
            connection.invalidate()
            raise classify(exc, action="read") from exc
        finally:
            connection.close()
        if row is None:
            raise StorageUnavailable("the store has no state row: run `usagelens migrate`")
        version, fingerprint, document, stale, prices = row
        return StoreState(int(version), fingerprint, document, bool(stale), int(prices))

    def ping(self) -> None:
        """Raise StorageUnavailable (or another classified error) unless the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except DATABASE_ERRORS as exc:
            raise classify(exc, action="connect") from exc
