"""Database errors are classified once, inside the unit of work, on real SQLite and PostgreSQL:
an outage is StorageUnavailable (503), the caller's value RejectedByStore (422), anything else
StorageError (500, logged with the request id, its cause not shown to the caller)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.conftest import free_port
from usagelens.domain.errors import RejectedByStore, StorageError, StorageUnavailable
from usagelens.domain.model import Dimension
from usagelens.storage import SqlStore, create_engine_for, migrate


@pytest.fixture
def stores() -> Iterator[Callable[[str], SqlStore]]:
    """Open migrated stores on URLs; their engines are disposed at the end."""
    opened: list[SqlStore] = []

    def open_store(url: str) -> SqlStore:
        engine = create_engine_for(url)
        migrate(engine)
        opened.append(SqlStore(engine))
        return opened[-1]

    yield open_store
    for store in opened:
        store.engine.dispose()


def _raw(uow: object, sql: str, params: tuple[object, ...] = ()) -> None:
    """Run SQL on the driver's own cursor, as the hot paths do."""
    conn = uow._conn  # type: ignore[attr-defined]
    cursor = conn.connection.driver_connection.cursor()
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    cursor.execute(sql.replace("?", mark), params)


def test_a_broken_constraint_on_a_raw_cursor_is_the_callers_value(
    stores: Callable[[str], SqlStore], database_url: str
) -> None:
    store = stores(database_url)
    row = "INSERT INTO series (team, resource, dimension, distribution) VALUES (?, ?, ?, ?)"

    def twice() -> None:
        with store.write() as uow:
            _raw(uow, row, ("t", "r", "CPU", b""))
            _raw(uow, row, ("t", "r", "CPU", b""))

    with pytest.raises(RejectedByStore) as caught:
        twice()
    assert "cannot be stored" in str(caught.value)
    with store.read() as queries:  # nothing of it was kept
        assert queries.keys() == {}


def test_a_lone_surrogate_is_the_callers_value(
    stores: Callable[[str], SqlStore], database_url: str
) -> None:
    store = stores(database_url)
    with pytest.raises(RejectedByStore), store.write() as uow:
        uow.counters.add({"bad \udc80 name": 1})


def test_a_nul_byte_and_an_overlong_value_are_the_callers_on_postgresql(
    stores: Callable[[str], SqlStore], postgres_url: str
) -> None:
    store = stores(postgres_url)
    with pytest.raises(RejectedByStore), store.write() as uow:
        uow.counters.add({"nul\x00name": 1})
    with pytest.raises(RejectedByStore) as caught, store.write() as uow:
        uow.counters.add({"x" * 300: 1})  # the column is 64 wide
    assert "too long" in str(caught.value)


def test_a_fault_of_ours_is_a_storage_error_not_an_outage(
    stores: Callable[[str], SqlStore], database_url: str
) -> None:
    store = stores(database_url)
    with pytest.raises(StorageError) as caught, store.read() as uow:
        _raw(uow, "SELECT some_column FROM no_such_table")
    assert not isinstance(caught.value, StorageUnavailable | RejectedByStore)


def test_an_unreachable_database_is_unavailable() -> None:
    store = SqlStore(create_engine_for(f"postgresql://postgres@127.0.0.1:{free_port()}/none"))
    # (nothing connects, so nothing is left open)
    with pytest.raises(StorageUnavailable), store.read() as queries:
        queries.state()
    with pytest.raises(StorageUnavailable):
        store.state()
    with pytest.raises(StorageUnavailable):
        store.ping()


def test_a_reading_unit_of_work_is_a_read_only_snapshot_on_postgresql(
    stores: Callable[[str], SqlStore], postgres_url: str
) -> None:
    store = stores(postgres_url)
    with store.read() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        level = conn.execute(text("SHOW transaction_isolation")).scalar_one()
        read_only = conn.execute(text("SHOW transaction_read_only")).scalar_one()
    assert (level, read_only) == ("repeatable read", "on")
    with store.write() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        assert conn.execute(text("SHOW transaction_read_only")).scalar_one() == "off"


def test_postgresql_connections_plan_without_jit(
    stores: Callable[[str], SqlStore], postgres_url: str
) -> None:
    """Reads join unnested ids to key ranges; the planner's row estimates would have them
    JIT-compiled (66 ms a read of 10,000 series), so every connection turns JIT off."""
    store = stores(postgres_url)
    with store.read() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        assert conn.execute(text("SHOW jit")).scalar_one() == "off"
    with store.write() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        assert conn.execute(text("SHOW jit")).scalar_one() == "off"


def test_a_state_read_leaves_its_pooled_connection_transactional_on_postgresql(
    stores: Callable[[str], SqlStore], postgres_url: str
) -> None:
    """The state is read as one statement outside a transaction (no BEGIN, no ROLLBACK),
    and the connection goes back to the pool as SQLAlchemy expects it: in transactions,
    so a writer's rollback still undoes its work; a state read on a connection whose
    server went away is an outage, and the next read is served by a fresh connection."""
    store = stores(postgres_url)
    version = store.state().data_version
    with store.write() as uow:
        conn = uow._conn  # type: ignore[attr-defined]
        assert conn.connection.driver_connection.autocommit is False
        conn.execute(text("UPDATE store_state SET data_version = data_version + 5"))
        # left without a commit: rolled back
    assert store.state().data_version == version
    pooled = store.engine.raw_connection()
    pid = pooled.driver_connection.info.backend_pid  # type: ignore[union-attr]
    pooled.close()
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    store.state()  # the pool's ping finds the dead connection and opens another
    assert store.state().data_version == version


def test_the_api_answers_each_class_once(
    app_client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A fault of ours is a 500 whose detail hides the cause and whose log line has it."""
    client = app_client(api_token="t")
    service = client._client._transport.app.state.handlers.queries  # type: ignore[attr-defined]

    def broken() -> None:
        with service.store.read() as uow:
            _raw(uow, "SELECT some_column FROM no_such_table")

    monkeypatch.setattr(service, "ready", broken)
    with caplog.at_level(logging.ERROR, logger="usagelens.api"):
        answer = client.get("/readyz", headers={"X-Request-ID": "rid-500"})
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert "no_such_table" not in body["detail"] and body["request_id"] == "rid-500"
    assert any("no_such_table" in r.getMessage() for r in caplog.records)


def test_a_windowed_read_never_sees_half_a_write(
    stores: Callable[[str], SqlStore], database_url: str, sample_summary: bytes
) -> None:
    """A series committed between a read's two statements (its keys, then its window's
    distributions) is invisible to the whole read: no KeyError, no mixed state."""
    from usagelens.app import build
    from usagelens.domain.model import Window

    store = stores(database_url)
    service = build(store)
    service.ingest.ingest_summary(b"a|(r,CPU,2026-01-01 00:00:00,5)", source="first")
    window = Window(since=datetime(2025, 1, 1, tzinfo=UTC))
    with store.read() as queries:
        keys = queries.keys()
        service.ingest.ingest_summary(b"b|(s,RAM,2026-01-01 00:00:00,7)", source="meanwhile")
        seen = {keys[sid] for sid, _ in queries.distributions(window)}
    assert seen == {("a", "r", Dimension.CPU)}
    assert len(service.queries.rows(window)) == 2  # a new read sees both
