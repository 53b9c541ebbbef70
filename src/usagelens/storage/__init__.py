"""SQL storage for SQLite and PostgreSQL through one SQLAlchemy Core code path."""

from usagelens.storage.engine import create_engine_for, migrate
from usagelens.storage.repository import SqlRepository

__all__ = ["SqlRepository", "create_engine_for", "migrate"]
