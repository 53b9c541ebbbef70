"""The schema, as SQLAlchemy Core tables; Alembic migrations create and evolve it."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
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
