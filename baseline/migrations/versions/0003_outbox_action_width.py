"""outbox action width: room for baseline_initialized

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # F25: the silent first load's marker has the action "baseline_initialized" (20 characters).
    with op.batch_alter_table("poller_outbox", schema=None) as batch_op:
        batch_op.alter_column("action", existing_type=sa.String(length=16), type_=sa.String(length=32),
                              existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("poller_outbox", schema=None) as batch_op:
        batch_op.alter_column("action", existing_type=sa.String(length=32), type_=sa.String(length=16),
                              existing_nullable=False)
