"""Initial schema: ingest batches, observations, prices.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_batches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("observations", sa.Integer, nullable=False),
        sa.Column("inserted", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("duplicates", sa.Integer, nullable=False),
        sa.Column("teams", sa.Integer, nullable=False),
        sa.Column("resources", sa.Integer, nullable=False),
    )
    op.create_table(
        "observations",
        sa.Column("team", sa.String(255), primary_key=True),
        sa.Column("resource", sa.String(255), primary_key=True),
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("collected_at", sa.DateTime, primary_key=True, comment="UTC, naive"),
        sa.Column("usage", sa.Float, nullable=False),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("ingest_batches.id"), nullable=False),
    )
    op.create_index("ix_observations_collected_at", "observations", ["collected_at"])
    op.create_table(
        "prices",
        sa.Column("resource", sa.String(255), primary_key=True),
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("price", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prices")
    op.drop_index("ix_observations_collected_at", "observations")
    op.drop_table("observations")
    op.drop_table("ingest_batches")
