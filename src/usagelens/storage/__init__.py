"""SQL storage for SQLite and PostgreSQL: tables, migrations, and the unit of work."""

from usagelens.storage.engine import create_engine_for, migrate
from usagelens.storage.uow import SqlSnapshot, SqlStore, SqlUnitOfWork

__all__ = ["SqlSnapshot", "SqlStore", "SqlUnitOfWork", "create_engine_for", "migrate"]
