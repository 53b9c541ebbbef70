"""Recommendations: the states people set, their history and decisions' history,
exclusion rules, what the digest has posted, and when each series last received data.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("series") as batch:
        batch.add_column(
            sa.Column(
                "last_arrival",
                sa.BigInteger,
                nullable=True,
                comment="server clock (µs) of the last write that added observations",
            )
        )
    op.create_table(
        "recommendation_states",
        sa.Column("series_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("until", sa.DateTime, nullable=True),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("changed_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "recommendation_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("series_id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_value", sa.String(16), nullable=True),
        sa.Column("to_value", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
    )
    op.create_index("ix_recommendation_events_series", "recommendation_events", ["series_id", "id"])
    op.create_table(
        "exclusions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("team", sa.String(200), nullable=False),
        sa.Column("resource", sa.String(200), nullable=False),
        sa.Column("dimension", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "digest_sent",
        sa.Column("recommendation", sa.String(32), primary_key=True),
        sa.Column("decision", sa.String(16), primary_key=True),
        sa.Column("sent_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("digest_sent")
    op.drop_table("exclusions")
    op.drop_index("ix_recommendation_events_series", "recommendation_events")
    op.drop_table("recommendation_events")
    op.drop_table("recommendation_states")
    with op.batch_alter_table("series") as batch:
        batch.drop_column("last_arrival")
