"""The baseline database's tables (SQLAlchemy Core); the migrations create exactly these.

Owns table and column names; never opens a connection.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

sources = Table(
    "poller_sources",
    metadata,
    Column("source", String(255), primary_key=True),
    Column("epoch", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

type_states = Table(
    "poller_type_states",
    metadata,
    Column("source", String(255), primary_key=True),
    Column("entity_type", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("last_full_run", Integer, nullable=True),
    Column("last_full_at", DateTime(timezone=True), nullable=True),
    Column("last_listed_at", DateTime(timezone=True), nullable=True),
    Column("listings_since_full", Integer, nullable=False, default=0),
    Column("count", Integer, nullable=False, default=0),
)

entities = Table(
    "poller_entities",
    metadata,
    Column("source", String(255), primary_key=True),
    Column("entity_type", String(255), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("hash", BigInteger, nullable=False),  # xxh3-64 stored as a signed 64-bit integer
    Column("version", Integer, nullable=False),  # bumped on every create, update and delete
    Column("payload", LargeBinary, nullable=True),  # compressed canonical document (baseline.codec)
    Column("name", Text, nullable=True),
    Column("parent_type", String(255), nullable=True),
    Column("parent_key", String(512), nullable=True),
    Column("state", String(255), nullable=True),
    Column("project", String(255), nullable=True),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_changed", DateTime(timezone=True), nullable=False),
    Column("misses", Integer, nullable=False, default=0),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    # xxh3-64 of the raw record (a JSON line) the entity was last read from, under the type's
    # current hashing rules; NULL when unknown. An identical record is not parsed again.
    Column("source_digest", BigInteger, nullable=True),
)
Index("ix_poller_entities_missed", entities.c.source, entities.c.entity_type, entities.c.misses)
# What a listing is compared with, readable from the index alone (issue 16): the table's rows hold
# the payloads, so scanning them to read a few columns would read every payload too.
Index("ix_poller_entities_live_hashes", entities.c.source, entities.c.entity_type, entities.c.key, entities.c.hash,
      entities.c.source_digest, sqlite_where=entities.c.deleted_at.is_(None),
      postgresql_where=entities.c.deleted_at.is_(None))
# The tombstones a commit reads (for the version of a re-created key), also from the index alone.
Index("ix_poller_entities_tombstones", entities.c.source, entities.c.entity_type, entities.c.key, entities.c.version,
      sqlite_where=entities.c.deleted_at.isnot(None), postgresql_where=entities.c.deleted_at.isnot(None))

runs = Table(
    "poller_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(255), nullable=False),
    Column("holder", String(255), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status", String(32), nullable=False),  # running | ok | partial | failed | abandoned | lease_lost
    Column("summary", Text, nullable=True),  # JSON: counts per type, errors, held deletions
)
Index("ix_poller_runs_source", runs.c.source, runs.c.id)

outbox = Table(
    "poller_outbox",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False),
    Column("source", String(255), nullable=False),
    Column("run_id", Integer, nullable=True),
    Column("entity_type", String(255), nullable=False),
    Column("key", String(512), nullable=False),
    Column("action", String(32), nullable=False),  # create | update | delete | baseline_initialized
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("body", LargeBinary, nullable=False),  # compressed notification JSON (baseline.codec)
)
Index("ix_poller_outbox_source_time", outbox.c.source, outbox.c.created_at)
Index("ix_poller_outbox_run", outbox.c.run_id)
Index("ix_poller_outbox_created", outbox.c.created_at)  # pruning by age without a scan of the whole outbox

sink_cursors = Table(
    "poller_sink_cursors",
    metadata,
    Column("sink", String(255), primary_key=True),
    Column("position", BigInteger, nullable=False),  # last outbox seq handled (delivered or parked)
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("failures", Integer, nullable=False, default=0),
)

parked = Table(
    "poller_parked",
    metadata,
    Column("sink", String(255), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("parked_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
)

leases = Table(
    "poller_leases",
    metadata,
    Column("source", String(255), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),  # set by the database's clock
    # The fencing token: raised by one each time the lease changes hands, never reset (a
    # released lease keeps its row with holder ''), so a run's token names its tenure.
    Column("token", BigInteger, nullable=False, server_default="0"),
)


# zstd dictionaries the payloads and notification bodies of one type are compressed with
# (baseline.codec): trained once per (source, entity_type, kind), never changed or deleted.
dictionaries = Table(
    "poller_dictionaries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),  # the zstd dictionary id in every frame
    Column("source", String(255), nullable=False),
    Column("entity_type", String(255), nullable=False),
    Column("kind", String(16), nullable=False),  # payload | body
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("data", LargeBinary, nullable=False),
)
Index("ix_poller_dictionaries_type", dictionaries.c.source, dictionaries.c.entity_type, dictionaries.c.kind)
