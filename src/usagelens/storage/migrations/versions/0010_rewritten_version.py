"""Series remember the data version of their last change that was not an append, so that a
kept window view reads only the observations appended since it was shown.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("series") as batch:
        batch.add_column(
            sa.Column(
                "rewritten_version",
                sa.BigInteger,
                nullable=False,
                server_default="0",
                comment="the data version of the series' last change other than appending"
                " times after its latest (an update, an insert within its span, a prune)",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("series") as batch:
        batch.drop_column("rewritten_version")
