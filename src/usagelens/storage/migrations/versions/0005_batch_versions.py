"""Data versions on batches and series: an identical re-send is known without reading rows.

A payload whose digest matches a stored batch, into series none of which changed since
that batch was committed, holds exactly what is stored.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_batches") as batch:
        batch.add_column(sa.Column("data_version", sa.BigInteger, nullable=True))
    op.create_index("ix_ingest_batches_sha256", "ingest_batches", ["sha256"])
    with op.batch_alter_table("series") as batch:
        batch.add_column(
            sa.Column("changed_version", sa.BigInteger, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("series") as batch:
        batch.drop_column("changed_version")
    op.drop_index("ix_ingest_batches_sha256", table_name="ingest_batches")
    with op.batch_alter_table("ingest_batches") as batch:
        batch.drop_column("data_version")
