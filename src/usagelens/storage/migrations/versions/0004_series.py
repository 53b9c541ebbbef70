"""Series with maintained aggregates; observations keyed by (series_id, t) as integers.

Replaces the whole-history metrics snapshot: every write now updates only the series it
touches. Observations no longer name the batch that wrote them (the batches table keeps
the audit trail; the column cost a fifth of the insert time on SQLite). Stored
observations are carried over; the new aggregates are then marked stale and rebuilt
once from them (``usagelens rebuild`` runs, or the next ``serve`` / command that opens
the store).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_HISTOGRAM = [f"h{bound}" for bound in range(0, 101, 10)]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("team", sa.String(255), nullable=False),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("dimension", sa.String(16), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("total", sa.Float, nullable=True),
        sa.Column("mean", sa.Float, nullable=True),
        sa.Column("median", sa.Float, nullable=True),
        *(
            sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
            for name in _HISTOGRAM
        ),
        sa.Column("usage_type", sa.String(16), nullable=True),
        sa.Column("intensity", sa.String(16), nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("first_at", sa.BigInteger, nullable=True),
        sa.Column("last_at", sa.BigInteger, nullable=True),
        sa.Column("distribution", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("team", "resource", "dimension", name="uq_series_key"),
    )
    op.create_table(
        "observations_v4",
        # No foreign key to series: PostgreSQL checks one by trigger for every row, which
        # doubled the cost of a bulk COPY; series are never deleted.
        sa.Column("series_id", sa.Integer, primary_key=True),
        sa.Column("t", sa.BigInteger, primary_key=True),
        sa.Column("usage", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "store_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("data_version", sa.BigInteger, nullable=False),
        sa.Column("policy_fingerprint", sa.String(32), nullable=True),
        sa.Column("policy_document", sa.Text, nullable=True),
        sa.Column("stale", sa.Boolean, nullable=False),
    )
    op.get_bind().execute(
        sa.text(
            "INSERT INTO series (team, resource, dimension, distribution) "
            "SELECT DISTINCT team, resource, dimension, :empty FROM observations"
        ),
        {"empty": b""},
    )
    if dialect == "postgresql":
        micros = "(extract(epoch FROM o.collected_at) * 1000000)::bigint"
    else:  # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS[.ffffff]' on SQLite
        micros = (
            "CAST(strftime('%s', substr(o.collected_at, 1, 19)) AS INTEGER) * 1000000"
            " + CAST(substr(o.collected_at || '.000000', 21, 6) AS INTEGER)"
        )
    op.execute(
        "INSERT INTO observations_v4 (series_id, t, usage) "
        f"SELECT s.id, {micros}, o.usage FROM observations o "
        "JOIN series s ON s.team = o.team AND s.resource = o.resource "
        "AND s.dimension = o.dimension"
    )
    op.execute(
        "INSERT INTO store_state (id, data_version, stale) "
        "SELECT 1, 1, EXISTS (SELECT 1 FROM series)"
    )
    op.drop_index("ix_observations_collected_at", "observations")
    op.drop_table("observations")
    op.rename_table("observations_v4", "observations")
    op.drop_table("metrics_snapshot")


def downgrade() -> None:
    raise NotImplementedError(
        "0004 cannot be undone in place: export the data (usagelens report/json) instead"
    )
