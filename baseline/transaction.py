"""One database transaction of the baseline store: the writes (and reads) of a run.

Everything written through one Transaction commits together or not at all; the store
opens it (``Store.transaction()``). Bulk inserts go straight to the driver.

Outbox rows are appended in commit order. On PostgreSQL ``append_outbox`` only spools them;
just before the commit the store calls ``write_outbox``, which takes the outbox lock (a
transaction-scoped advisory lock) and inserts them. SQLite's writing transaction already is
the only writer from its BEGIN IMMEDIATE on, so its rows are inserted as they come. Either
way a row's ``seq`` is never lower than that of a row committed before it and a sink's
cursor never passes a row still to commit. The lease statements
(take, renew, fence, release) are single conditional statements on the database's clock.
"""

from __future__ import annotations

import contextlib
import pickle
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from baseline import codec, schema
from baseline.rows import StoredEntity, stored_entity

_BATCH = 500

# The PostgreSQL advisory lock key that serializes outbox appends ("pollOUTB").
OUTBOX_LOCK = 0x706F6C6C4F555442


def db_now(dialect: str) -> str:
    """SQL for the database's current time, comparable with stored timestamps."""
    if dialect == "postgresql":
        return "clock_timestamp()"
    # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text; %f gives milliseconds.
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


def db_later(dialect: str, param: str) -> str:
    """SQL for the database's current time plus ``:param`` seconds (a float, may be negative)."""
    if dialect == "postgresql":
        return f"(clock_timestamp() + make_interval(secs => :{param}))"
    return f"(strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', :{param})) || '000')"


class Transaction:
    """Writes (and reads) inside one database transaction; see Store.transaction."""

    def __init__(self, conn: Connection, dialect: str, lock_wait: float | None = None, *, spool_outbox: bool = True) -> None:
        self._conn = conn
        self.dialect = dialect
        # Bulk inserts (new baseline rows, outbox rows) run in one writer thread, in order, while
        # the caller builds the next batch: the driver releases the GIL while the database works
        # and zstd while it compresses. Every other use of the connection first waits for them
        # (``conn``), so statements still run one at a time and in the order they were issued.
        self._writer: ThreadPoolExecutor | None = None
        self._writes: deque[Future[None]] = deque()
        self._writer_ident = 0
        self._lock_wait = lock_wait  # seconds to wait for the outbox lock (PostgreSQL)
        self._outbox: Any = None  # temporary file of pickled row batches, until write_outbox
        # SQLite's writing transaction holds the only write lock from its BEGIN IMMEDIATE, so its
        # rows can go straight in, in order (no spool: a first load of 100,000 spent a second
        # pickling and reading back its outbox); PostgreSQL and read-only transactions spool.
        self._spool_outbox = spool_outbox or dialect != "sqlite"
        self._next_seq: int | None = None

    @property
    def conn(self) -> Connection:
        """The transaction's connection, once every bulk write issued before has run."""
        self.flush()
        return self._conn

    def flush(self) -> None:
        """Wait for the bulk writes issued so far; raise the first one's error, if one failed."""
        if self._writer is not None and threading.get_ident() == self._writer_ident:
            return  # a write job itself (never waits for itself)
        error: BaseException | None = None
        while self._writes:
            try:
                self._writes.popleft().result()
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others ran
                error = error or exc
        if error is not None:
            raise error

    def close(self) -> None:
        """Wait for the bulk writes still running, ignoring their errors (the transaction is
        being rolled back), and stop the writer thread."""
        with contextlib.suppress(Exception):  # rolled back anyway
            self.flush()
        if self._writer is not None:
            self._writer.shutdown(wait=True, cancel_futures=True)  # a write still running ends first
            self._writer = None
            self._writes.clear()

    def _write(self, job: Callable[[], None]) -> None:
        """Run ``job`` (which uses ``self._conn``) in the writer thread, after the writes before it.
        At most two are queued: memory stays that of two batches."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="poller-writer")
            self._writer_ident = self._writer.submit(threading.get_ident).result()
        while len(self._writes) >= 2:
            head = self._writes[0]
            head.result()  # raises a failed write's error here, in the caller
            self._writes.popleft()
        self._writes.append(self._writer.submit(job))

    def upsert(self, table: sa.Table, keys: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows, updating those whose primary key exists."""
        if not rows:
            return
        insert = (sqlite.insert if self.dialect == "sqlite" else postgresql.insert)(table)
        update_cols = {c: insert.excluded[c] for c in rows[0] if c not in keys}
        stmt = insert.on_conflict_do_update(index_elements=list(keys), set_=update_cols)
        self.conn.execute(stmt, list(rows))

    def insert_entities(self, rows: list[dict[str, Any]], dictionary: int | None = None) -> None:
        """Insert new baseline rows (keys never seen before), handed over: their ``payload`` is the
        document, compressed here (zstd ``dictionary``, else LZ4). Runs in the writer thread."""
        if not rows:
            return

        def job() -> None:
            blobs = iter(codec.compress_many([r["payload"] for r in rows if r["payload"] is not None], dictionary))
            for row in rows:
                if row["payload"] is not None:
                    row["payload"] = next(blobs)
            self._bulk_insert(schema.entities, rows)

        self._write(job)

    def insert_entity_tuples(self, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert new baseline rows given as tuples in ``columns`` order, blobs compressed and
        timestamps in the driver's form (``driver_stamp``). Runs in the writer thread."""
        if rows:
            self._write(lambda: self._insert_params(schema.entities, columns, rows))

    def driver_stamp(self, stamp: datetime) -> Any:
        """``stamp`` as this database's driver takes it in a bulk insert (SQLite: SQLAlchemy's
        text form, as every other write stores it; PostgreSQL: the datetime itself)."""
        kind = schema.entities.c.first_seen.type
        processor = kind.dialect_impl(self._conn.dialect).bind_processor(self._conn.dialect)
        return stamp if processor is None else processor(stamp)

    def _bulk_insert(self, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
        """executemany straight on the driver: a first load inserts a million rows, and
        SQLAlchemy's per-row parameter processing would cost more than the inserts.
        Uses ``_conn``: called from the writer thread, or after ``flush``."""
        if not rows:
            return
        columns = list(rows[0])
        # Only timestamps need the dialect's conversion (bytes, text and numbers pass as they are);
        # they repeat (one per run), so each distinct one is converted once rather than by the
        # driver's adapter once per row.
        stamps = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, sa.DateTime)]
        converted: dict[datetime, Any] = {}
        params = []
        for row in rows:
            values = [row[name] for name in columns]
            for i in stamps:
                stamp = values[i]
                if stamp is not None:
                    if stamp not in converted:
                        converted[stamp] = self.driver_stamp(stamp)
                    values[i] = converted[stamp]
            params.append(tuple(values))
        self._insert_params(table, columns, params)

    def _insert_params(self, table: sa.Table, columns: Sequence[str], params: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows given as driver-ready tuples: SQLite executemany, PostgreSQL COPY."""
        conn = self._conn
        if self.dialect == "postgresql":
            # COPY: a first load of a million rows, without a statement parsed per row.
            raw = conn.connection.driver_connection
            copy_sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
            try:
                with raw.cursor() as cur, cur.copy(copy_sql) as copy:  # type: ignore[union-attr]
                    for values in params:
                        copy.write_row(values)
            except conn.dialect.dbapi.Error as exc:  # type: ignore[union-attr]
                # Straight on the driver, so SQLAlchemy did not wrap it: wrapped here, the store reports it
                # like any other database error (a BaselineError naming the database, not a traceback).
                raise sa.exc.DBAPIError.instance(copy_sql, None, exc, conn.dialect.dbapi.Error) from exc  # type: ignore[union-attr]
            return
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(['?'] * len(columns))})"
        conn.exec_driver_sql(sql, params)  # type: ignore[arg-type]

    def upsert_entities(self, rows: list[dict[str, Any]], dictionary: int | None = None, *, compressed: bool = False) -> None:
        """Write baseline rows whose key may already exist (re-creations, imports); their
        ``payload`` is the document, compressed here (zstd ``dictionary``, else LZ4) unless ``compressed``."""
        for row in rows:
            if row["payload"] is not None and not compressed:
                row["payload"] = codec.compress(row["payload"], dictionary)
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

    def append_outbox(self, rows: Sequence[dict[str, Any]], dictionary: int | None = None, *, compressed: bool = False) -> None:
        """Append notifications; ``body`` is the JSON, compressed here (with zstd ``dictionary``
        if given) unless ``compressed``. In commit order (see the module docstring)."""
        if not rows:
            return
        if not self._spool_outbox:
            if self._next_seq is None:
                self._next_seq = self._sqlite_next_seq()
            seq = self._next_seq
            self._next_seq = seq + len(rows)
            batch = list(rows)

            def job() -> None:
                bodies = [r["body"] for r in batch] if compressed else codec.compress_many([r["body"] for r in batch], dictionary)
                self._bulk_insert(schema.outbox, [{**r, "body": body, "seq": seq + i}
                                                  for i, (r, body) in enumerate(zip(batch, bodies, strict=True))])

            self._write(job)
            return
        bodies = [r["body"] for r in rows] if compressed else codec.compress_many([r["body"] for r in rows], dictionary)
        if self._outbox is None:
            self._outbox = tempfile.TemporaryFile(prefix="poller-outbox-")  # noqa: SIM115 - closed by write_outbox or discard
        pickle.dump([{**r, "body": body} for r, body in zip(rows, bodies, strict=True)], self._outbox,
                    protocol=pickle.HIGHEST_PROTOCOL)

    def append_outbox_tuples(self, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Append notifications given as tuples in ``columns`` order (no ``seq``), bodies
        compressed and timestamps in the driver's form (``driver_stamp``)."""
        if not rows:
            return
        if self._spool_outbox:
            self.append_outbox([dict(zip(columns, row, strict=True)) for row in rows], compressed=True)
            return
        if self._next_seq is None:
            self._next_seq = self._sqlite_next_seq()
        seq = self._next_seq
        self._next_seq = seq + len(rows)
        self._write(lambda: self._insert_params(schema.outbox, ["seq", *columns],
                                                [(seq + i, *row) for i, row in enumerate(rows)]))

    def dictionary(self, source: str, entity_type: str, kind: str) -> int | None:
        """The id of the zstd dictionary of one type's ``kind`` (payload | body), if it has one."""
        d = schema.dictionaries
        row = self.conn.execute(
            sa.select(d.c.id, d.c.data).where(d.c.source == source, d.c.entity_type == entity_type, d.c.kind == kind)
            .order_by(d.c.created_at.desc(), d.c.id.desc()).limit(1)
        ).first()
        if row is None:
            return None
        codec.remember(row.id, bytes(row.data))
        return int(row.id)

    def add_dictionary(self, source: str, entity_type: str, kind: str, samples: Sequence[bytes], now: datetime) -> int | None:
        """Train and store a zstd dictionary for one type's ``kind`` on ``samples``; its id, or
        None when zstd learnt nothing from them (the blobs stay LZ4)."""
        d = schema.dictionaries

        def taken(dict_id: int) -> bool:
            return self.conn.execute(sa.select(d.c.id).where(d.c.id == dict_id)).first() is not None

        trained = codec.train(samples, taken)
        if trained is None:
            return None
        dict_id, data = trained
        self.conn.execute(sa.insert(d).values(id=dict_id, source=source, entity_type=entity_type, kind=kind,
                                              created_at=now, data=data))
        return dict_id

    def write_outbox(self) -> None:
        """Take the outbox lock and insert the spooled notifications (the store calls this
        right before committing; the lock is released by the commit or rollback)."""
        spool, self._outbox = self._outbox, None
        if spool is None:
            return
        try:
            self.lock_outbox()
            next_seq = self._sqlite_next_seq() if self.dialect == "sqlite" else None
            spool.seek(0)
            while True:
                try:
                    batch = pickle.load(spool)
                except EOFError:
                    break
                if next_seq is not None:
                    for row in batch:
                        row["seq"], next_seq = next_seq, next_seq + 1
                self._bulk_insert(schema.outbox, batch)
        finally:
            spool.close()

    def _sqlite_next_seq(self) -> int:
        """SQLite only: the next seq, above every sink's cursor. Without AUTOINCREMENT SQLite
        hands out max(seq) + 1, so once pruning emptied the outbox a new row would get a seq
        that cursors have already passed, and would never be delivered. PostgreSQL's
        sequence never goes back."""
        sql = (
            "SELECT max(COALESCE((SELECT max(seq) FROM poller_outbox), 0),"
            " COALESCE((SELECT max(position) FROM poller_sink_cursors), 0)) + 1"
        )
        return int(self.conn.exec_driver_sql(sql).scalar() or 1)

    def lock_outbox(self) -> None:
        """Serialize outbox appends until this transaction ends, so ``seq`` order is commit
        order. Every writer of ``poller_outbox`` must call this before inserting."""
        if self.dialect != "postgresql":
            return  # SQLite: BEGIN IMMEDIATE already made this the only writer
        if self._lock_wait is not None:
            # Another commit holds it only for its outbox insert and commit: wait longer
            # than for an ordinary row lock, but not forever.
            self.conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(self._lock_wait * 1000)}")
        self.conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({OUTBOX_LOCK})")
        if self._lock_wait is not None:
            self.conn.exec_driver_sql("SET LOCAL lock_timeout = DEFAULT")

    def discard(self) -> None:
        """Drop spooled outbox rows and wait for bulk writes still running (the transaction is
        rolled back)."""
        self.close()
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None

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
        """Who holds the source's lease, as this transaction sees it (None when released)."""
        lease = schema.leases
        holder = self.conn.execute(sa.select(lease.c.holder).where(lease.c.source == source)).scalar_one_or_none()
        return holder or None

    # ------------------------------------------------------------------ leases

    def take_lease(self, source: str, holder: str, host: str, pid: int, ttl: float) -> int | None:
        """Take the source's lease if it is free, released or expired (database clock), in
        one statement; returns the new fencing token, or None while another holder has it."""
        now, later = db_now(self.dialect), db_later(self.dialect, "ttl")
        sql = (
            "INSERT INTO poller_leases (source, holder, host, pid, expires_at, token)"
            f" VALUES (:source, :holder, :host, :pid, {later}, 1)"
            " ON CONFLICT (source) DO UPDATE SET holder = excluded.holder, host = excluded.host,"
            " pid = excluded.pid, expires_at = excluded.expires_at, token = poller_leases.token + 1"
            f" WHERE poller_leases.holder = '' OR poller_leases.expires_at <= {now}"
            " RETURNING token"
        )
        params = {"source": source, "holder": holder, "host": host, "pid": pid, "ttl": float(ttl)}
        token = self.conn.execute(sa.text(sql), params).scalar_one_or_none()
        return None if token is None else int(token)

    def take_lease_from(self, source: str, old_token: int, holder: str, host: str, pid: int, ttl: float) -> int | None:
        """Take the lease from a holder known to be dead, only if it still has ``old_token``."""
        sql = (
            f"UPDATE poller_leases SET holder = :holder, host = :host, pid = :pid, expires_at = {db_later(self.dialect, 'ttl')},"
            " token = token + 1 WHERE source = :source AND token = :old RETURNING token"
        )
        params = {"source": source, "holder": holder, "host": host, "pid": pid, "ttl": float(ttl), "old": old_token}
        token = self.conn.execute(sa.text(sql), params).scalar_one_or_none()
        return None if token is None else int(token)

    def lease_row(self, source: str) -> Any:
        """The lease row (holder, host, pid, token, expires_at, expired) or None."""
        sql = (
            f"SELECT holder, host, pid, token, expires_at, expires_at <= {db_now(self.dialect)} AS expired"
            " FROM poller_leases WHERE source = :source"
        )
        typed = sa.text(sql).columns(
            sa.column("holder"), sa.column("host"), sa.column("pid"), sa.column("token"),
            sa.column("expires_at", sa.DateTime(timezone=True)), sa.column("expired", sa.Boolean),
        )
        return self.conn.execute(typed, {"source": source}).first()

    def renew_lease(self, source: str, holder: str, token: int, ttl: float) -> bool:
        """Extend our lease by ``ttl`` seconds from the database's now; False (and nothing
        changed) if it expired or changed hands: a renewal never re-creates a lost lease.
        Inside a commit's transaction this is the fence: the row stays locked until the end."""
        sql = (
            f"UPDATE poller_leases SET expires_at = {db_later(self.dialect, 'ttl')}"
            " WHERE source = :source AND holder = :holder AND token = :token"
            f" AND expires_at > {db_now(self.dialect)}"
        )
        params = {"source": source, "holder": holder, "token": token, "ttl": float(ttl)}
        return self.conn.execute(sa.text(sql), params).rowcount == 1

    def assert_lease(self, source: str, holder: str, token: int, ttl: float) -> bool:
        """The commit's fence: lock the lease row until this transaction ends and check that
        ``holder`` still has it with ``token`` and unexpired (renewing it); False otherwise."""
        return self.renew_lease(source, holder, token, ttl)

    def release_lease(self, source: str, holder: str, token: int | None = None) -> bool:
        """Give the lease back if ``holder`` (with ``token``, when given) still has it; the
        row stays so the token keeps counting up."""
        sql = "UPDATE poller_leases SET holder = '' WHERE source = :source AND holder = :holder"
        params: dict[str, Any] = {"source": source, "holder": holder}
        if token is not None:
            sql += " AND token = :token"
            params["token"] = token
        return self.conn.execute(sa.text(sql), params).rowcount == 1

    def abandon_runs(self, source: str, holder: str, finished_at: datetime) -> int:
        """Close the ``running`` run rows of ``source`` not belonging to ``holder`` (their
        holder lost the lease) as ``abandoned``; how many."""
        r = schema.runs
        stmt = (
            sa.update(r)
            .where(r.c.source == source, r.c.status == "running", r.c.holder != holder)
            .values(status="abandoned", finished_at=finished_at)
        )
        return self.conn.execute(stmt).rowcount

    def finish_run(self, run_id: int, finished_at: datetime, status: str, summary: str) -> None:
        """Record how a run ended."""
        r = schema.runs
        self.conn.execute(
            sa.update(r).where(r.c.id == run_id).values(finished_at=finished_at, status=status, summary=summary)
        )
