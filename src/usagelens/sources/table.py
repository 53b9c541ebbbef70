"""A PostgreSQL table with the course's schema, read incrementally (SPEC 1.3).

Named by a source URL ``postgresql://user@host/db?table=usage_stats.resources``; the
table has columns ``team, resource, dimension, collect_date, usage``. Two optional query
parameters tune the read: ``lookback`` (each read starts that long before the newest
``collect_date`` taken so far, so rows that arrive late with an older date are still
seen; ``24h`` by default, ``0`` for none) and ``page_size`` (rows per query, 50000).

Rows are read in keyset pages ordered by ``(collect_date, team, resource, dimension)``,
so memory stays bounded whatever the table holds, and each row is validated on its own:
a bad row is skipped and named, the others land.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Row, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from usagelens.domain.batch import UsageBatch, from_micros
from usagelens.domain.errors import NotConfigured, SourceUnavailable, SummaryFormatError
from usagelens.domain.model import Observation
from usagelens.domain.summary import parse_records
from usagelens.domain.times import as_utc, naive_utc, parse_duration
from usagelens.ports import BAD_ROWS_NAMED, SourcePage

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_KEY = "collect_date, team, resource, dimension"
DEFAULT_LOOKBACK = timedelta(hours=24)
"""How far before its position a table is read again, unless its URL says ``lookback``."""
DEFAULT_PAGE_SIZE = 50_000
"""Rows read per query, unless the URL says ``page_size``."""
_OWN_PARAMETERS = ("lookback", "page_size")


class PostgresTableSource:
    """Read ``usage_stats.resources``-shaped rows from a position, page by page.

    ``timeout`` bounds connecting and each page's query, in seconds (None: no bound).
    """

    def __init__(self, url: str, *, timeout: float | None = None) -> None:
        parsed = make_url(url)
        table = parsed.query.get("table", "usage_stats.resources")
        if not isinstance(table, str) or not _IDENTIFIER.fullmatch(table):
            raise NotConfigured(f"table source {url!r}: table must be 'schema.table'")
        self.table = table
        self.lookback = _lookback(parsed.query.get("lookback"), url)
        self.page_size = _page_size(parsed.query.get("page_size"), url)
        own = parsed.difference_update_query(_OWN_PARAMETERS)
        self._url = own.difference_update_query(["table"]).set(drivername="postgresql+psycopg")
        # The name keys the stored position: tuning the read does not rename the source.
        self.name = own.set(drivername="postgresql").render_as_string(hide_password=True)
        self._connect_args: dict[str, Any] = {}
        if timeout is not None:
            self._connect_args["connect_timeout"] = max(2, math.ceil(timeout))
            if "options" not in parsed.query:
                self._connect_args["options"] = f"-c statement_timeout={math.ceil(timeout * 1000)}"
        self._engine: Engine | None = None

    def pages(self, position: datetime | None) -> Iterator[SourcePage]:
        """Yield the rows collected at or after ``position`` less the lookback, validated.

        All rows when ``position`` is None. Rows already taken come again (the store
        counts them as duplicates), so none is lost to a row written later with the same
        or a slightly older timestamp. Rows with an empty key column are counted last.
        """
        start = None if position is None else as_utc(position - self.lookback)
        after: Sequence[Any] | None = None
        while True:
            rows = self._read(start, after)
            if rows:
                yield _page(rows)
            if len(rows) < self.page_size:
                break
            after = tuple(rows[-1])[:4]
        empty = self._count_empty_keys(start)
        if empty:
            what = f"{empty} row{'s' if empty != 1 else ''} with an empty team, resource, "
            yield SourcePage(UsageBatch(), empty, (what + "dimension or collect_date",))

    def close(self) -> None:
        """Release the source's connections."""
        if self._engine is not None:
            self._engine.dispose()

    def _read(self, start: datetime | None, after: Sequence[Any] | None) -> Sequence[Row[Any]]:
        where = [f"{column} IS NOT NULL" for column in _KEY.split(", ")]
        params: dict[str, object] = {"limit": self.page_size}
        if start is not None:
            where.append("collect_date >= :start")
            params["start"] = start
        if after is not None:
            where.append(f"({_KEY}) > (:k0, :k1, :k2, :k3)")
            params.update({f"k{i}": value for i, value in enumerate(after)})
        query = (
            f"SELECT {_KEY}, usage FROM {self.table} WHERE {' AND '.join(where)}"
            f" ORDER BY {_KEY} LIMIT :limit"
        )
        return self._execute(query, params)

    def _count_empty_keys(self, start: datetime | None) -> int:
        query = (
            f"SELECT count(*) FROM {self.table} WHERE (team IS NULL OR resource IS NULL"
            " OR dimension IS NULL OR collect_date IS NULL)"
        )
        params: dict[str, object] = {}
        if start is not None:
            query += " AND (collect_date >= :start OR collect_date IS NULL)"
            params["start"] = start
        return int(self._execute(query, params)[0][0])

    def _execute(self, query: str, params: dict[str, object]) -> Sequence[Row[Any]]:
        if self._engine is None:
            self._engine = create_engine(
                self._url, pool_pre_ping=True, connect_args=self._connect_args
            )
            event.listen(self._engine, "connect", _utc_session)
        try:
            with self._engine.connect() as conn:
                return conn.execute(text(query), params).all()
        except SQLAlchemyError as exc:
            detail = str(exc.orig if hasattr(exc, "orig") else exc).strip().splitlines()[0]
            raise SourceUnavailable(f"cannot read {self.table}: {detail}", url=self.name) from exc


def _page(rows: Sequence[Row[Any]]) -> SourcePage:
    """Validate a page of rows: all at once, or row by row when some are bad."""
    records = [
        {
            "team": team,
            "resource": resource if isinstance(resource, str) else str(resource),
            "dimension": dimension,
            "collected_at": _iso(moment),
            "usage": float(usage) if isinstance(usage, Decimal) else usage,
        }
        for moment, team, resource, dimension, usage in map(tuple, rows)
    ]
    try:
        return _batch_page(parse_records(records))
    except SummaryFormatError:
        pass
    good: list[Observation] = []
    problems: list[str] = []
    bad = 0
    for record in records:
        try:
            good += parse_records([record])
        except SummaryFormatError as exc:
            bad += 1
            if len(problems) < BAD_ROWS_NAMED:
                key = ", ".join(
                    repr(record[f]) for f in ("team", "resource", "dimension", "collected_at")
                )
                problems.append(f"row ({key}): {exc.reason}")
    return _batch_page(good, bad, tuple(problems))


def _batch_page(
    observations: list[Observation], bad: int = 0, problems: tuple[str, ...] = ()
) -> SourcePage:
    """Make a page of valid rows; the position moves to the newest of them."""
    batch = UsageBatch.of(observations)
    latest = batch.latest_time()
    position = None if latest is None else from_micros(latest)
    return SourcePage(batch, bad, problems, position=position)


def _lookback(value: object, url: str) -> timedelta:
    if value is None:
        return DEFAULT_LOOKBACK
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        seconds = parse_duration(value)
    except ValueError:
        raise NotConfigured(
            f"table source {url!r}: lookback must be a duration (24h, 90m, 0)"
        ) from None
    return timedelta(seconds=seconds or 0)


def _page_size(value: object, url: str) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    if not isinstance(value, str) or not value.isdigit() or int(value) < 1:
        raise NotConfigured(f"table source {url!r}: page_size must be a positive integer")
    return int(value)


def _utc_session(dbapi_connection: Any, _record: Any) -> None:
    """Read the table in UTC: an aware start compares right with ``timestamp`` columns
    (taken as UTC) and ``timestamptz`` ones alike, and times come back in UTC."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()


def _iso(moment: object) -> object:
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = naive_utc(moment)
        return moment.isoformat(sep=" ")
    if isinstance(moment, date):
        return f"{moment.isoformat()} 00:00:00"
    return moment
