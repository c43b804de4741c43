"""One database transaction of the baseline store: the writes (and reads) of a run.

Everything written through one Transaction commits together or not at all; the store
opens it (``Store.transaction()``). Bulk inserts go straight to the driver.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from baseline import schema
from baseline.rows import StoredEntity, compress, stored_entity

_BATCH = 500


class Transaction:
    """Writes (and reads) inside one database transaction; see Store.transaction."""

    def __init__(self, conn: Connection, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect

    def upsert(self, table: sa.Table, keys: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows, updating those whose primary key exists."""
        if not rows:
            return
        insert = (sqlite.insert if self.dialect == "sqlite" else postgresql.insert)(table)
        update_cols = {c: insert.excluded[c] for c in rows[0] if c not in keys}
        stmt = insert.on_conflict_do_update(index_elements=list(keys), set_=update_cols)
        self.conn.execute(stmt, list(rows))

    def insert_entities(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert new baseline rows (keys never seen before)."""
        self._bulk_insert(schema.entities, rows)

    def _bulk_insert(self, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
        """executemany straight on the driver: a first load inserts a million rows, and
        SQLAlchemy's per-row parameter processing would cost more than the inserts."""
        if not rows:
            return
        columns = list(rows[0])
        mark = "?" if self.dialect == "sqlite" else "%s"
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
        # Only timestamps need the dialect's conversion (bytes, text and numbers pass as they are);
        # they repeat (one per run), so each distinct one is converted once.
        stamps = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, sa.DateTime)]
        processor = sa.DateTime().bind_processor(self.conn.dialect) or (lambda value: value)
        converted: dict[datetime, Any] = {}
        params = []
        for row in rows:
            values = [row[name] for name in columns]
            for i in stamps:
                stamp = values[i]
                if stamp is not None:
                    if stamp not in converted:
                        converted[stamp] = processor(stamp)
                    values[i] = converted[stamp]
            params.append(tuple(values))
        if self.dialect == "postgresql":
            # COPY: a first load of a million rows, without a statement parsed per row.
            raw = self.conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[union-attr]
                for values in params:
                    copy.write_row(values)
            return
        self.conn.exec_driver_sql(sql, params)

    def upsert_entities(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write baseline rows whose key may already exist (updates, re-creations)."""
        self.upsert(schema.entities, ["source", "entity_type", "key"], rows)

    def update_entities(self, source: str, entity_type: str, rows: Sequence[dict[str, Any]]) -> None:
        """Update some columns of existing rows; each row has ``key`` plus the columns to set."""
        if not rows:
            return
        e = schema.entities
        columns = [c for c in rows[0] if c != "key"]
        stmt = (
            sa.update(e)
            .where(e.c.source == source, e.c.entity_type == entity_type, e.c.key == sa.bindparam("b_key"))
            .values({c: sa.bindparam(f"b_{c}") for c in columns})
        )
        self.conn.execute(stmt, [{f"b_{k}": v for k, v in row.items()} for row in rows])

    def load_entities(self, source: str, entity_type: str, keys: Iterable[str]) -> dict[str, StoredEntity]:
        """The stored rows (live or tombstoned) for ``keys``."""
        e = schema.entities
        out: dict[str, StoredEntity] = {}
        batch: list[str] = []
        for key in keys:
            batch.append(key)
            if len(batch) >= _BATCH:
                out.update(self._load_batch(e, source, entity_type, batch))
                batch = []
        if batch:
            out.update(self._load_batch(e, source, entity_type, batch))
        return out

    def _load_batch(self, e: sa.Table, source: str, entity_type: str, keys: list[str]) -> dict[str, StoredEntity]:
        query = sa.select(e).where(e.c.source == source, e.c.entity_type == entity_type, e.c.key.in_(keys))
        return {row.key: stored_entity(row) for row in self.conn.execute(query)}

    def ensure_epoch(self, source: str, now: datetime) -> tuple[str, bool]:
        """The source's epoch, creating a new one if it has none; (epoch, created)."""
        s = schema.sources
        epoch = self.conn.execute(sa.select(s.c.epoch).where(s.c.source == source)).scalar_one_or_none()
        if epoch is not None:
            return epoch, False
        epoch = uuid.uuid4().hex
        self.conn.execute(sa.insert(s).values(source=source, epoch=epoch, created_at=now))
        return epoch, True

    def epoch(self, source: str) -> str | None:
        """The source's epoch as this transaction sees it."""
        s = schema.sources
        return self.conn.execute(sa.select(s.c.epoch).where(s.c.source == source)).scalar_one_or_none()

    def append_outbox(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append notifications; ``body`` is the uncompressed JSON."""
        self._bulk_insert(schema.outbox, [{**r, "body": compress(r["body"])} for r in rows])

    def set_type_state(self, source: str, entity_type: str, **values: Any) -> None:
        """Create or update what is remembered about one type's listings."""
        self.upsert(schema.type_states, ["source", "entity_type"], [{"source": source, "entity_type": entity_type, **values}])

    def live_count(self, source: str, entity_type: str) -> int:
        """How many live entities of the type the baseline holds (as of this transaction)."""
        e = schema.entities
        query = sa.select(sa.func.count()).where(
            e.c.source == source, e.c.entity_type == entity_type, e.c.deleted_at.is_(None)
        )
        return int(self.conn.execute(query).scalar() or 0)

    def delete_source(self, source: str) -> None:
        """Forget one source's baseline entities, epoch and type states."""
        for table in (schema.entities, schema.sources, schema.type_states):
            self.conn.execute(sa.delete(table).where(table.c.source == source))

    def lease_holder(self, source: str) -> str | None:
        """Who holds the source's lease, as this transaction sees it."""
        lease = schema.leases
        return self.conn.execute(sa.select(lease.c.holder).where(lease.c.source == source)).scalar_one_or_none()

    def finish_run(self, run_id: int, finished_at: datetime, status: str, summary: str) -> None:
        """Record how a run ended."""
        r = schema.runs
        self.conn.execute(
            sa.update(r).where(r.c.id == run_id).values(finished_at=finished_at, status=status, summary=summary)
        )
