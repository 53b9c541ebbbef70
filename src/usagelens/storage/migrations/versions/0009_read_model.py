"""The read model follows changes: series found by the version of their last change, and a
version of the price lists, so that a read after a write reads only what the write touched.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_series_changed_version", "series", ["changed_version"])
    with op.batch_alter_table("store_state") as batch:
        batch.add_column(
            sa.Column(
                "prices_version",
                sa.BigInteger,
                nullable=False,
                server_default="0",
                comment="bumped by every change of a price list",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("store_state") as batch:
        batch.drop_column("prices_version")
    op.drop_index("ix_series_changed_version", "series")
