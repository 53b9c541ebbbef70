"""Series changed before migration 0010 take their last change as their last rewrite, as
that migration could not know which changes were appends.

A re-send of a stored payload is taken for all duplicates when none of its series was
rewritten since it was stored; a series left at 0 by migration 0010 may have had a value
updated after such a payload, before 0010. This is the safe side: such a series is
compared once, as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE series SET rewritten_version = changed_version WHERE rewritten_version = 0")


def downgrade() -> None:
    pass  # the versions it set are true, if conservative: nothing to undo
