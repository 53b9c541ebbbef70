"""The schema, as SQLAlchemy Core tables; Alembic migrations create and evolve it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from usagelens.domain.ids import LABEL_MAX, LOCATOR_MAX, NAME_MAX

metadata = MetaData()

ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", DateTime, nullable=False),
    Column("source", String(LABEL_MAX), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("observations", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("teams", Integer, nullable=False),
    Column("resources", Integer, nullable=False),
    Column("data_version", BigInteger, nullable=True, comment="the store's, once committed"),
    Index("ix_ingest_batches_sha256", "sha256"),
)

HISTOGRAM_COLUMNS = tuple(f"h{bound}" for bound in range(0, 101, 10))
"""Per series: observations rounded to 0, 10, …, 100 (not cumulative)."""

series = Table(
    "series",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("team", String(NAME_MAX), nullable=False),
    Column("resource", String(NAME_MAX), nullable=False),
    Column("dimension", String(16), nullable=False),
    Column("count", BigInteger, nullable=False, server_default="0"),
    Column("total", Float, nullable=True, comment="sum of the usages, correctly rounded"),
    Column("mean", Float, nullable=True),
    Column("median", Float, nullable=True),
    *(Column(name, BigInteger, nullable=False, server_default="0") for name in HISTOGRAM_COLUMNS),
    Column("usage_type", String(16), nullable=True),
    Column("intensity", String(16), nullable=True),
    Column("decision", String(16), nullable=True),
    Column("reason", Text, nullable=True),
    Column("first_at", BigInteger, nullable=True, comment="earliest stored time, µs since epoch"),
    Column("last_at", BigInteger, nullable=True, comment="latest stored time, µs since epoch"),
    Column(
        "distribution",
        LargeBinary,
        nullable=False,
        comment="distinct usages (float64 LE) then their counts (int64 LE)",
    ),
    Column(
        "changed_version",
        BigInteger,
        nullable=False,
        server_default="0",
        comment="the data version of the series' last change",
    ),
    Column(
        "rewritten_version",
        BigInteger,
        nullable=False,
        server_default="0",
        comment="the data version of the series' last change other than appending"
        " times after its latest (an update, an insert within its span, a prune)",
    ),
    Column(
        "last_arrival",
        BigInteger,
        nullable=True,
        comment="server clock (µs) of the last write that added observations",
    ),
    UniqueConstraint("team", "resource", "dimension", name="uq_series_key"),
    Index("ix_series_changed_version", "changed_version"),
)

observations = Table(
    "observations",
    metadata,
    Column(
        "series_id",
        Integer,
        primary_key=True,
        comment="series.id; no foreign key: PostgreSQL would check it per row by trigger,"
        " and series are created before their observations and never deleted",
    ),
    Column("t", BigInteger, primary_key=True, comment="collected_at, µs since epoch (UTC)"),
    Column("usage", Float, nullable=False),
    sqlite_with_rowid=False,
)

store_state = Table(
    "store_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("data_version", BigInteger, nullable=False, comment="bumped by every change"),
    Column("policy_fingerprint", String(32), nullable=True),
    Column("policy_document", Text, nullable=True, comment="the policy in force, JSON"),
    Column("stale", Boolean, nullable=False, comment="aggregates need a rebuild"),
    Column(
        "prices_version",
        BigInteger,
        nullable=False,
        server_default="0",
        comment="bumped by every change of a price list",
    ),
)

price_lists = Table(
    "price_lists",
    metadata,
    Column(
        "origin", String(LOCATOR_MAX), primary_key=True, comment="a source's URL, manual or legacy"
    ),
    Column("updated_at", DateTime, nullable=False, comment="when the list arrived; UTC, naive"),
)
"""Which list wins a price is decided when prices are read (``domain.prices.precedence``)."""

origin_prices = Table(
    "origin_prices",
    metadata,
    Column("origin", String(LOCATOR_MAX), primary_key=True),
    Column("resource", String(NAME_MAX), primary_key=True),
    Column("dimension", String(16), primary_key=True),
    Column("price", Float, nullable=False),
)

push_statuses = Table(
    "push_statuses",
    metadata,
    Column("status", Integer, primary_key=True, autoincrement=False),
    Column("count", BigInteger, nullable=False),
)

push_endpoints = Table(
    "push_endpoints",
    metadata,
    Column("endpoint", String(NAME_MAX), primary_key=True),
    Column("sum", Float, nullable=False),
    Column("count", BigInteger, nullable=False),
)

push_latency = Table(
    "push_latency",
    metadata,
    Column("endpoint", String(NAME_MAX), primary_key=True),
    Column("le", String(32), primary_key=True, comment="bucket bound, not cumulative"),
    Column("count", BigInteger, nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

source_cursors = Table(
    "source_cursors",
    metadata,
    Column("source", String(LOCATOR_MAX), primary_key=True),
    Column("position", DateTime, nullable=False, comment="UTC, naive"),
)

refresh_state = Table(
    "refresh_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("holder", String(200), nullable=True),
    Column("lease_until", DateTime, nullable=True),
    Column("started_at", DateTime, nullable=True),
    Column("finished_at", DateTime, nullable=True),
    Column("ok", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("outcome", Text, nullable=True),
    Column(
        "token",
        BigInteger,
        nullable=False,
        server_default="0",
        comment="fencing token: grows with every lease taken",
    ),
)

recommendation_states = Table(
    "recommendation_states",
    metadata,
    Column("series_id", Integer, primary_key=True, autoincrement=False),
    Column("decision", String(16), nullable=False, comment="the decision the state was set for"),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("until", DateTime, nullable=True, comment="a dismissal's end (a snooze); UTC, naive"),
    Column("by", String(NAME_MAX), nullable=False),
    Column("changed_at", DateTime, nullable=False, comment="UTC, naive"),
)

recommendation_events = Table(
    "recommendation_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("series_id", Integer, nullable=False),
    Column("at", DateTime, nullable=False, comment="UTC, naive (the server's clock)"),
    Column("kind", String(16), nullable=False, comment="state or decision"),
    Column("from_value", String(16), nullable=True),
    Column("to_value", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("by", String(NAME_MAX), nullable=False),
    Index("ix_recommendation_events_series", "series_id", "id"),
)

exclusions = Table(
    "exclusions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("team", String(NAME_MAX), nullable=False, comment="fnmatch glob"),
    Column("resource", String(NAME_MAX), nullable=False, comment="fnmatch glob"),
    Column("dimension", String(16), nullable=True, comment="None: every dimension"),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

digest_sent = Table(
    "digest_sent",
    metadata,
    Column("recommendation", String(32), primary_key=True),
    Column("decision", String(16), primary_key=True),
    Column("sent_at", DateTime, nullable=False),
)
