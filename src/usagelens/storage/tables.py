"""The schema, as SQLAlchemy Core tables; Alembic migrations create and evolve it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", DateTime, nullable=False),
    Column("source", String(500), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("observations", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("teams", Integer, nullable=False),
    Column("resources", Integer, nullable=False),
)

observations = Table(
    "observations",
    metadata,
    Column("team", String(255), primary_key=True),
    Column("resource", String(255), primary_key=True),
    Column("dimension", String(16), primary_key=True),
    Column("collected_at", DateTime, primary_key=True, index=True, comment="UTC, naive"),
    Column("usage", Float, nullable=False),
    Column("batch_id", Integer, ForeignKey("ingest_batches.id"), nullable=False),
)

prices = Table(
    "prices",
    metadata,
    Column("resource", String(255), primary_key=True),
    Column("dimension", String(16), primary_key=True),
    Column("price", Float, nullable=False),
)

metrics_snapshot = Table(
    "metrics_snapshot",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("computed_at", DateTime, nullable=False),
    Column("payload", Text, nullable=False),
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
    Column("endpoint", String(200), primary_key=True),
    Column("sum", Float, nullable=False),
    Column("count", BigInteger, nullable=False),
)

push_latency = Table(
    "push_latency",
    metadata,
    Column("endpoint", String(200), primary_key=True),
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
    Column("source", String(500), primary_key=True),
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
)
