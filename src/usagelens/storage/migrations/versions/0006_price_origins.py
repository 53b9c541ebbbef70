"""Price lists kept per origin; a fencing token on the refresh lease.

Each source's list and the hand-set one are stored apart (``price_lists``,
``origin_prices``); ``prices`` holds the prices in force merged from them. The list a
store held before becomes the ``legacy`` list, ranked under every source, so nothing is
lost and the next refresh overrides what its sources price.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "price_lists",
        sa.Column("origin", sa.String(500), primary_key=True),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "origin_prices",
        sa.Column("origin", sa.String(500), primary_key=True),
        sa.Column("resource", sa.String(255), primary_key=True),
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("price", sa.Float, nullable=False),
    )
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT count(*) FROM prices")).scalar():
        now = datetime.now(UTC).replace(tzinfo=None)
        conn.execute(
            sa.text("INSERT INTO price_lists (origin, rank, updated_at) VALUES ('legacy', -1, :t)"),
            {"t": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO origin_prices (origin, resource, dimension, price) "
                "SELECT 'legacy', resource, dimension, price FROM prices"
            )
        )
    with op.batch_alter_table("refresh_state") as batch:
        batch.add_column(sa.Column("token", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("refresh_state") as batch:
        batch.drop_column("token")
    op.drop_table("origin_prices")
    op.drop_table("price_lists")
