"""Engines for the configured URL, and migrations to the newest schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from usagelens.domain.errors import NotConfigured

WRITE = {"usagelens_write": True}
"""Execution options for a transaction that will write (SQLite takes its lock up front)."""
READ = {
    "postgresql": {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True},
    "sqlite": {},
}
"""Execution options for a reading transaction, by dialect: one snapshot for all its
statements (SQLite's deferred transaction in WAL mode is a snapshot already)."""

_MIGRATIONS = Path(__file__).parent / "migrations"


def create_engine_for(url: str) -> Engine:
    """Create an engine for ``sqlite:///…`` or ``postgresql://…`` (psycopg 3).

    Any other backend is refused (NotConfigured) before its driver is looked for.
    """
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise NotConfigured(
            f"{parsed.get_backend_name()}: usagelens stores in SQLite (sqlite:///path.db) "
            "or PostgreSQL (postgresql://…)"
        )
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed.render_as_string(hide_password=False))
    # Keep as many connections as requests usually run at once: a connection made for a
    # burst and dropped after it costs a TCP and auth handshake each time.
    engine = create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=10)

    @event.listens_for(engine, "connect")
    def _no_jit(dbapi_connection: Any, _record: Any) -> None:
        # The planner's estimates for a join on unnested ids run into millions of rows, so
        # it JIT-compiles what is an index lookup per series: 66 ms of compiling in a
        # 141 ms read of 10,000 series' appended rows. Nothing here gains from JIT.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET jit = off")
        dbapi_connection.commit()

    @event.listens_for(engine, "begin")
    def _serialize_writers(connection: Any) -> None:
        # Writers take turns, so that each rebuilds the metrics snapshot from what it sees.
        if connection.get_execution_options().get("usagelens_write"):
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7245017)")

    return engine


def _sqlite_engine(url: str) -> Engine:
    # One pooled connection per request thread (anyio runs up to 40): SQLite connections
    # are cheap to keep, and one opened per request past the pool costs more than the query.
    engine = create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        pool_size=40,
        max_overflow=10,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN (so a writer can BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A writer locks at BEGIN so that concurrent writers wait instead of deadlocking.
        immediate = connection.get_execution_options().get("usagelens_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the database schema to the newest migration (idempotent)."""
    # Alembic is imported here, not at the top: a CLI command that never migrates (a report
    # of a server, --help) should not pay its ~0.2 s of imports.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.connect() as connection:
        connection.execution_options(**WRITE)
        with connection.begin():
            if connection.dialect.name == "postgresql":
                # Several processes may start at once; one migrates, the others wait.
                connection.execute(text("SELECT pg_advisory_xact_lock(7245016)"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
