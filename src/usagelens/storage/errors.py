"""Classify database errors once: an outage, the caller's value, or a fault of ours.

Every error that SQLAlchemy, psycopg or sqlite3 raises inside a unit of work (or on a
bare connection of the store) leaves it as one of three domain errors::

    StorageUnavailable   unreachable, shutting down, out of room, busy, a lost race
                         (a 503 with Retry-After; the CLI: "the database is unavailable")
    RejectedByStore      a value the database refused: too long, a NUL byte, bad
                         encoding, a broken constraint (a 4xx naming the field if known)
    StorageError         anything else: a bug or a broken schema (a 500, logged)

The API and the CLI map those, and only those, so the same failure reads the same
everywhere. SQLSTATE classes: https://www.postgresql.org/docs/current/errcodes-appendix.html
"""

from __future__ import annotations

import re
import sqlite3

import psycopg
import sqlalchemy.exc

from usagelens.domain.errors import RejectedByStore, StorageError, StorageUnavailable

DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.SQLAlchemyError,
    psycopg.Error,
    sqlite3.Error,
)
"""What a database call may raise besides the domain's own errors."""

_PG_UNAVAILABLE_CLASSES = ("08", "53", "57", "58", "3D", "28", "40", "55")
"""Connection, resources, operator intervention (shutdown, statement timeout), system
I/O, no such database, authentication, a lost serialization race, a lock not granted."""
_PG_REJECTED_CLASSES = ("22", "23")
"""Data exceptions (too long, out of range, a NUL, bad encoding) and constraints."""
_SQLITE_UNAVAILABLE = {5, 6, 7, 8, 10, 11, 13, 14, 15, 26}
"""BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB."""
_SQLITE_REJECTED = {18, 19, 20, 25}
"""TOOBIG, CONSTRAINT, MISMATCH, RANGE."""
_SQLITE_COLUMN = re.compile(r"constraint failed: (?:\w+\.)?(\w+)")


def is_database_error(exc: BaseException) -> bool:
    """Tell whether an exception came from the database layer (driver or SQLAlchemy)."""
    return isinstance(exc, DATABASE_ERRORS)


def classify(exc: BaseException, *, action: str = "call") -> StorageError | RejectedByStore:
    """Return the domain error a database exception stands for (raise it ``from exc``).

    ``action`` names what was under way ("read", "write", "connect") for the message.
    A ``UnicodeEncodeError`` met while binding (a lone surrogate in a name) is the
    caller's value too.
    """
    driver = exc
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return StorageUnavailable(f"database {action} failed: the connection was lost")
        if exc.orig is not None:
            driver = exc.orig
    if isinstance(driver, UnicodeEncodeError):
        return RejectedByStore(f"a value cannot be stored: {driver.reason} ({driver.object!r:.60})")
    if isinstance(driver, psycopg.Error):
        return _classify_psycopg(driver, action)
    if isinstance(driver, sqlite3.Error):
        return _classify_sqlite(driver, action)
    if isinstance(driver, sqlalchemy.exc.TimeoutError | sqlalchemy.exc.DisconnectionError):
        return StorageUnavailable(f"database {action} failed: {_first_line(driver)}")
    return StorageError(f"database {action} failed: {type(driver).__name__}: {_first_line(driver)}")


def _classify_psycopg(exc: psycopg.Error, action: str) -> StorageError | RejectedByStore:
    state = exc.sqlstate
    reason = _first_line(exc)
    if state is None:
        # Raised by psycopg itself: a lost or refused connection, or a value it will not
        # send (a NUL byte in a string: PostgreSQL text cannot hold one).
        if isinstance(exc, psycopg.DataError):
            return RejectedByStore(f"a value cannot be stored: {reason}")
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return StorageUnavailable(f"database {action} failed: {reason}")
        return StorageError(f"database {action} failed: {type(exc).__name__}: {reason}")
    if state.startswith(_PG_REJECTED_CLASSES):
        field = exc.diag.column_name or exc.diag.constraint_name
        return RejectedByStore(f"a value cannot be stored: {reason}", field=field)
    if state.startswith(_PG_UNAVAILABLE_CLASSES):
        return StorageUnavailable(f"database {action} failed: {reason}")
    return StorageError(f"database {action} failed: SQLSTATE {state}: {reason}")


def _classify_sqlite(exc: sqlite3.Error, action: str) -> StorageError | RejectedByStore:
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    reason = _first_line(exc)
    if primary in _SQLITE_REJECTED or isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError):
        match = _SQLITE_COLUMN.search(reason)
        field = match.group(1) if match else None
        return RejectedByStore(f"a value cannot be stored: {reason}", field=field)
    unknown_outage = primary is None and isinstance(exc, sqlite3.OperationalError)
    if primary in _SQLITE_UNAVAILABLE or unknown_outage:
        return StorageUnavailable(f"database {action} failed: {reason}")
    return StorageError(f"database {action} failed: {type(exc).__name__}: {reason}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["DATABASE_ERRORS", "classify", "is_database_error"]
