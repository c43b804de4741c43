"""entity source digest (the xxh3-64 of the raw record an entity was read from), index-only reads

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Issue 16: a record whose raw bytes are unchanged since the last listing (same digest, same
    # hashing rules) is unchanged without being parsed again. NULL: not known, parse it.
    with op.batch_alter_table("poller_entities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_digest", sa.BigInteger(), nullable=True))
    # The hashes a listing is compared with, read from the index alone (the rows hold the payloads).
    live = sa.text("deleted_at IS NULL")
    op.create_index("ix_poller_entities_live_hashes", "poller_entities",
                    ["source", "entity_type", "key", "hash", "source_digest"], sqlite_where=live, postgresql_where=live)
    dead = sa.text("deleted_at IS NOT NULL")
    op.create_index("ix_poller_entities_tombstones", "poller_entities", ["source", "entity_type", "key", "version"],
                    sqlite_where=dead, postgresql_where=dead)
    # Pruning by age (every snapshot) without scanning the whole outbox.
    op.create_index("ix_poller_outbox_created", "poller_outbox", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_poller_outbox_created", table_name="poller_outbox")
    op.drop_index("ix_poller_entities_tombstones", table_name="poller_entities")
    op.drop_index("ix_poller_entities_live_hashes", table_name="poller_entities")
    with op.batch_alter_table("poller_entities", schema=None) as batch_op:
        batch_op.drop_column("source_digest")
