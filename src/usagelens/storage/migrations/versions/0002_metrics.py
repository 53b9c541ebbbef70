"""Metrics: the scrape snapshot, pushed request events and counters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metrics_snapshot",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("computed_at", sa.DateTime, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_table(
        "push_statuses",
        sa.Column("status", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "push_endpoints",
        sa.Column("endpoint", sa.String(200), primary_key=True),
        sa.Column("sum", sa.Float, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "push_latency",
        sa.Column("endpoint", sa.String(200), primary_key=True),
        sa.Column("le", sa.String(32), primary_key=True, comment="bucket bound, not cumulative"),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "counters",
        "push_latency",
        "push_endpoints",
        "push_statuses",
        "metrics_snapshot",
    ):
        op.drop_table(table)
