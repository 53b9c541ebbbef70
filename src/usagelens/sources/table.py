"""A PostgreSQL table with the course's schema, read incrementally (SPEC 1.3).

Named by a source URL ``postgresql://user@host/db?table=usage_stats.resources``; the
table has columns ``team, resource, dimension, collect_date, usage``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from usagelens.domain.errors import NotConfigured, SourceUnavailable
from usagelens.domain.model import Observation
from usagelens.domain.summary import parse_records

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def is_table_source(url: str) -> bool:
    """Tell whether a source URL names a PostgreSQL table rather than an HTTP source."""
    return url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


class PostgresTableSource:
    """Read ``usage_stats.resources``-shaped rows newer than a cursor."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        table = parsed.query.get("table", "usage_stats.resources")
        if not isinstance(table, str) or not _IDENTIFIER.fullmatch(table):
            raise NotConfigured(f"table source {url!r}: table must be 'schema.table'")
        self.table = table
        self._url = parsed.difference_update_query(["table"]).set(drivername="postgresql+psycopg")
        self.name = parsed.set(drivername="postgresql").render_as_string(hide_password=True)
        self._engine: Engine | None = None

    def fetch_since(self, position: datetime | None) -> list[Observation]:
        """Return the rows collected at or after ``position`` (all rows when None), validated.

        Rows exactly at the position come again; the store counts them as duplicates, so
        none is lost to a row appended later with the same timestamp.
        """
        query = f"SELECT team, resource, dimension, collect_date, usage FROM {self.table}"
        params: dict[str, object] = {}
        if position is not None:
            query += " WHERE collect_date >= :position"
            params["position"] = position.astimezone(UTC).replace(tzinfo=None)
        query += " ORDER BY collect_date"
        if self._engine is None:
            self._engine = create_engine(self._url, pool_pre_ping=True)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(text(query), params).all()
        except SQLAlchemyError as exc:
            detail = str(exc.orig if hasattr(exc, "orig") else exc).strip().splitlines()[0]
            raise SourceUnavailable(f"cannot read {self.table}: {detail}", url=self.name) from exc
        records = [
            {
                "team": team,
                "resource": str(resource),
                "dimension": dimension,
                "collected_at": _iso(moment),
                "usage": float(usage) if usage is not None else None,
            }
            for team, resource, dimension, moment, usage in rows
        ]
        return parse_records(records) if records else []

    def close(self) -> None:
        """Release the source's connections."""
        if self._engine is not None:
            self._engine.dispose()


def _iso(moment: object) -> object:
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return moment.isoformat(sep=" ")
    return moment
