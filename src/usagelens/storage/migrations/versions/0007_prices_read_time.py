"""Prices in force merged when read; column sizes from the one rule for names.

Which origin's list wins a price now follows today's configuration (``USAGELENS_SOURCES``
order) and is decided per (resource, dimension) when prices are read, so the stored
merge (``prices``) and the rank a source had when it last answered (``price_lists.rank``)
go. Names are sized by ``usagelens.domain.ids``: teams, resources and endpoints 200
characters (the parser never took longer ones; a price of a longer resource id could
price nothing and is dropped), batch labels 600.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NAME_MAX = 200
LABEL_MAX = 600
"""Copied, not imported: a migration keeps the sizes of its day."""


def upgrade() -> None:
    op.drop_table("prices")
    with op.batch_alter_table("price_lists") as batch:
        batch.drop_column("rank")
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite does not enforce VARCHAR sizes: nothing to resize
    op.execute(f"DELETE FROM origin_prices WHERE length(resource) > {NAME_MAX}")
    for table, column in (
        ("series", "team"),
        ("series", "resource"),
        ("origin_prices", "resource"),
        ("push_endpoints", "endpoint"),
        ("push_latency", "endpoint"),
    ):
        op.alter_column(table, column, type_=sa.String(NAME_MAX), existing_nullable=False)
    op.alter_column("ingest_batches", "source", type_=sa.String(LABEL_MAX), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("ingest_batches", "source", type_=sa.String(500))
        for table, column in (
            ("series", "team"),
            ("series", "resource"),
            ("origin_prices", "resource"),
        ):
            op.alter_column(table, column, type_=sa.String(255))
    with op.batch_alter_table("price_lists") as batch:
        batch.add_column(sa.Column("rank", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "prices",
        sa.Column("resource", sa.String(255), primary_key=True),
        sa.Column("dimension", sa.String(16), primary_key=True),
        sa.Column("price", sa.Float, nullable=False),
    )
